package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wardenhq/warden/audit"
)

// staleAfter: a journal of another host, untouched this long, is replayed.
const staleAfter = 10 * time.Minute

// openJournal replays into db the journals of processes that are gone
// (intents the database does not have yet), removes them, and creates this
// process's journal. It returns how many intents were missing.
func openJournal(ctx context.Context, dbPath string, db *sql.DB) (*journal, int, error) {
	host, _ := os.Hostname()
	host = safeHost(host)
	total := 0

	// Journals of earlier versions: one file of JSON lines per process,
	// <db>-intents.<host>.<pid>.<start>, or <db>-intents for the first.
	files, err := filepath.Glob(dbPath + "-intents*")
	if err != nil {
		return nil, 0, err
	}
	for _, file := range files {
		if !journalAbandoned(strings.TrimPrefix(file, dbPath+"-intents"), host, []string{file}) {
			continue
		}
		n, err := replayFiles(ctx, db, []string{file}, readLines)
		if err != nil {
			return nil, 0, fmt.Errorf("replay intent journal %s: %w", file, err)
		}
		total += n
	}

	// Segmented journals, grouped by the process that wrote them.
	files, err = filepath.Glob(dbPath + "-intentlog.*")
	if err != nil {
		return nil, 0, err
	}
	owners := map[string][]string{} // ".<host>.<pid>.<start>" -> segments
	for _, file := range files {
		suffix := strings.TrimPrefix(file, dbPath+"-intentlog")
		i := strings.LastIndexByte(suffix, '.')
		if _, err := strconv.Atoi(suffix[i+1:]); i <= 0 || err != nil {
			continue // not a segment
		}
		owners[suffix[:i]] = append(owners[suffix[:i]], file)
	}
	for _, owner := range slices.Sorted(maps.Keys(owners)) {
		segs := owners[owner]
		if !journalAbandoned(owner, host, segs) {
			continue
		}
		n, err := replayFiles(ctx, db, segs, readSegment)
		if err != nil {
			return nil, 0, fmt.Errorf("replay intent journal %s: %w", dbPath+"-intentlog"+owner, err)
		}
		total += n
	}

	j, err := newJournal(dbPath)
	if err != nil {
		return nil, 0, err
	}
	return j, total, nil
}

func safeHost(h string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') {
			return r
		}
		return '_'
	}, h)
}

// journalAbandoned tells from a journal's owner (".host.pid.start", or ""
// for the single journal of early versions) whether the process that
// writes it is gone. A process of another host cannot be asked: its
// journal is abandoned once none of its files changed for staleAfter.
func journalAbandoned(owner, host string, files []string) bool {
	parts := strings.Split(strings.TrimPrefix(owner, "."), ".")
	if owner == "" || len(parts) != 3 {
		return true
	}
	if parts[0] != host {
		for _, file := range files {
			if fi, err := os.Stat(file); err == nil && time.Since(fi.ModTime()) <= staleAfter {
				return false
			}
		}
		return true
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 {
		return true
	}
	return !audit.ProcessAlive(pid, parts[2])
}

// replayFiles inserts the intents that files hold and the database lacks
// (INSERT OR IGNORE: an outcome already recorded is never overwritten),
// then removes the files. read returns a file's records.
func replayFiles(ctx context.Context, db *sql.DB, files []string, read func(path string) ([][]byte, error)) (int, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	insert, err := tx.PrepareContext(ctx, strings.Replace(insertSQL, "INSERT INTO", "INSERT OR IGNORE INTO", 1))
	if err != nil {
		return 0, err
	}
	inRun, err := tx.PrepareContext(ctx, runHoldsSQL)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, file := range files {
		records, err := read(file)
		if err != nil {
			return 0, err
		}
		for i, rec := range records {
			var e audit.Event
			if err := json.Unmarshal(rec, &e); err != nil {
				return 0, fmt.Errorf("%s: record %d: %w", file, i+1, err)
			}
			// Committed already, in a run (in events, the insert ignores it).
			var held int
			if err := inRun.QueryRowContext(ctx, e.ID, runFloor(e.ID)).Scan(&held); err != nil {
				return 0, err
			}
			if held > 0 {
				continue
			}
			row, err := encodeRow(&e)
			if err != nil {
				return 0, err
			}
			res, err := insert.ExecContext(ctx, row.args()...)
			if err != nil {
				return 0, err
			}
			if k, _ := res.RowsAffected(); k > 0 {
				n++
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	for _, file := range files {
		if err := os.Remove(file); err != nil && !errors.Is(err, os.ErrNotExist) {
			return n, fmt.Errorf("remove replayed journal: %w", err)
		}
	}
	return n, nil
}

// readLines returns the records of a journal of earlier versions: one
// JSON line each. A line cut short by a crash was never acknowledged: its
// call did not run.
func readLines(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var records [][]byte
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			return records, nil
		}
		if err != nil {
			return nil, err
		}
		records = append(records, line)
	}
}

// readSegment returns the records of a journal segment, up to the first
// that is missing or was cut short by a crash (see journal): records are
// written one after the other, so none follows.
func readSegment(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(data, []byte(segmentHeader)) {
		if len(bytes.Trim(data, "\x00")) == 0 {
			return nil, nil // created, never written
		}
		return nil, fmt.Errorf("%s is not an intent journal", path)
	}
	var records [][]byte
	for off := len(segmentHeader); off+recordHeader <= len(data); {
		n := int(binary.LittleEndian.Uint32(data[off:]))
		sum := binary.LittleEndian.Uint32(data[off+4:])
		end := off + recordHeader + n
		if n == 0 || end > len(data) || checksum(data[off+recordHeader:end]) != sum {
			break
		}
		records = append(records, data[off+recordHeader:end])
		off += recordSize(n)
	}
	return records, nil
}
