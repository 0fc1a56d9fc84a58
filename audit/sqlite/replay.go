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

// replayed counts what a replay brought into the database.
type replayed struct {
	intents, outcomes int
}

func (r *replayed) add(o replayed) { r.intents += o.intents; r.outcomes += o.outcomes }

// openJournal replays into db the journals of processes that are gone
// (intents the database does not have yet, outcomes it does not have
// yet), removes them, and creates this process's journal. It returns what
// was missing.
func openJournal(ctx context.Context, dbPath string, db *sql.DB, lg *auditLog) (*journal, replayed, error) {
	host, _ := os.Hostname()
	host = safeHost(host)
	var total replayed

	// Journals of earlier versions: one file of JSON lines per process,
	// <db>-intents.<host>.<pid>.<start>, or <db>-intents for the first.
	files, err := filepath.Glob(dbPath + "-intents*")
	if err != nil {
		return nil, total, err
	}
	for _, file := range files {
		owner := strings.TrimPrefix(file, dbPath+"-intents")
		if !journalAbandoned(owner, host, []string{file}) {
			continue
		}
		n, err := replayFiles(ctx, db, lg, strings.TrimPrefix(owner, "."), []string{file}, readLines)
		if err != nil {
			return nil, total, fmt.Errorf("replay intent journal %s: %w", file, err)
		}
		total.add(n)
	}

	// Segmented journals, grouped by the process that wrote them.
	files, err = filepath.Glob(dbPath + "-intentlog.*")
	if err != nil {
		return nil, total, err
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
		n, err := replayFiles(ctx, db, lg, strings.TrimPrefix(owner, "."), segs, readSegment)
		if err != nil {
			return nil, total, fmt.Errorf("replay intent journal %s: %w", dbPath+"-intentlog"+owner, err)
		}
		total.add(n)
	}

	j, err := newJournal(dbPath)
	if err != nil {
		return nil, total, err
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

// replayFiles brings into the database what files, the journal of
// instance, hold and it lacks, then removes the files: intents (INSERT OR
// IGNORE: an event already recorded is never overwritten), and outcomes,
// which complete their events as FinishAsync does (the first outcome
// stands). Records are replayed in the order they were written, so an
// intent comes before its outcome. What they change is logged in the same
// transaction. read returns a file's records.
func replayFiles(ctx context.Context, db *sql.DB, lg *auditLog, instance string, files []string, read func(path string) ([][]byte, error)) (replayed, error) {
	var n replayed
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return n, err
	}
	defer tx.Rollback()
	insert, err := tx.PrepareContext(ctx, strings.Replace(insertSQL, "INSERT INTO", "INSERT OR IGNORE INTO", 1))
	if err != nil {
		return n, err
	}
	finish, err := tx.PrepareContext(ctx, finishAsyncSQL)
	if err != nil {
		return n, err
	}
	var logged writeStmts // for its leaves
	logRows := func(rows *sql.Rows) (int, error) {
		defer rows.Close()
		k := 0
		for rows.Next() {
			r, err := scanRow(rows)
			if err != nil {
				return k, err
			}
			if err := logged.logRow(&r); err != nil {
				return k, err
			}
			k++
		}
		return k, rows.Err()
	}
	inRun, err := tx.PrepareContext(ctx, runHoldsSQL)
	if err != nil {
		return n, err
	}
	for _, file := range files {
		records, err := read(file)
		if err != nil {
			return n, err
		}
		for i, rec := range records {
			var e audit.Event
			if err := json.Unmarshal(rec, &e); err != nil {
				return n, fmt.Errorf("%s: record %d: %w", file, i+1, err)
			}
			if e.Status != audit.StatusRunning {
				r := outcomeRow(&e)
				rows, err := finish.QueryContext(ctx, r.status, r.decision, r.rule, r.reason, r.durationUS, r.rows,
					r.truncated, r.masked, r.errorText, r.credential, r.approval, r.id)
				if err != nil {
					return n, err
				}
				k, err := logRows(rows)
				if err != nil {
					return n, err
				}
				n.outcomes += k
				continue
			}
			// Committed already, in a run (in events, the insert ignores it).
			var held int
			if err := inRun.QueryRowContext(ctx, e.ID, runFloor(e.ID)).Scan(&held); err != nil {
				return n, err
			}
			if held > 0 {
				continue
			}
			row, err := encodeRow(&e)
			if err != nil {
				return n, err
			}
			row.instance = instance
			res, err := insert.ExecContext(ctx, row.args()...)
			if err != nil {
				return n, err
			}
			if k, _ := res.RowsAffected(); k > 0 {
				n.intents++
				if err := logged.logRow(&row); err != nil {
					return n, err
				}
			}
		}
	}
	if len(logged.leaves) > 0 {
		if err := lg.appendBatch(ctx, sqlLogDB{tx}, logged.leaves); err != nil {
			return replayed{}, err
		}
	}
	if err := tx.Commit(); err != nil {
		lg.rolledBack()
		return replayed{}, err
	}
	lg.committed()
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
