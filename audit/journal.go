package audit

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// journal is the intent log in front of the database. BeginAsync appends
// each intent to it with a single write(2) — durable against a crash of
// Warden, like a WAL commit with synchronous=NORMAL, at a fraction of the
// cost — and the writer moves intents into the database in batches. When
// the store opens, intents the database lacks are replayed from it. The
// file is emptied once everything in it is in the database.
type journal struct {
	path string
	f    *os.File

	mu        sync.Mutex
	checked   time.Time // when the database file was last found in place
	appended  int64     // intents written since the file was last emptied
	committed int64     // of those, intents now in the database
	size      int64
}

// Each Warden process has its own journal, next to the database:
// <db>-intents.<host>.<pid>.<start>. Several processes may share a store
// (every `warden mcp` is one); a journal is replayed only once the process
// that wrote it is gone.
func journalPath(path string) string {
	host, _ := os.Hostname()
	pid := os.Getpid()
	return fmt.Sprintf("%s-intents.%s.%d.%s", path, safeHost(host), pid, ProcessStart(pid))
}

func safeHost(h string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') {
			return r
		}
		return '_'
	}, h)
}

// checkEvery bounds how often append looks for the database file.
const checkEvery = 100 * time.Millisecond

// emptyAt is the size above which a caught-up journal is emptied.
const emptyAt = 1 << 20

// staleAfter: a journal of another host, untouched this long, is replayed.
const staleAfter = 10 * time.Minute

// openJournal replays into db the journals of processes that are gone
// (intents the database does not have yet), removes them, and creates this
// process's journal.
func openJournal(ctx context.Context, dbPath string, db *sql.DB) (*journal, int, error) {
	files, err := filepath.Glob(dbPath + "-intents*")
	if err != nil {
		return nil, 0, err
	}
	host, _ := os.Hostname()
	total := 0
	for _, file := range files {
		if !journalAbandoned(strings.TrimPrefix(file, dbPath+"-intents"), safeHost(host), file) {
			continue
		}
		n, err := replayJournal(ctx, file, db)
		if err != nil {
			return nil, 0, fmt.Errorf("replay intent journal %s: %w", file, err)
		}
		total += n
		if err := os.Remove(file); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, 0, fmt.Errorf("remove replayed journal: %w", err)
		}
	}
	path := journalPath(dbPath)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("open intent journal: %w", err)
	}
	return &journal{path: path, f: f}, total, nil
}

// journalAbandoned tells from a journal's name suffix (".host.pid.start",
// or "" for the single journal of earlier versions) whether the process
// that writes it is gone.
func journalAbandoned(suffix, host, file string) bool {
	parts := strings.Split(strings.TrimPrefix(suffix, "."), ".")
	if suffix == "" || len(parts) != 3 {
		return true
	}
	if parts[0] != host {
		fi, err := os.Stat(file)
		return err != nil || time.Since(fi.ModTime()) > staleAfter
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 {
		return true
	}
	return !ProcessAlive(pid, parts[2])
}

// ProcessStart returns a marker of when process pid started (Linux: field
// 22 of /proc/PID/stat), to tell a live process from a reused PID; "" if
// unknown.
func ProcessStart(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	// The command name (field 2) may hold spaces; fields resume after ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ""
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 20 {
		return ""
	}
	return fields[19]
}

// ProcessAlive reports whether process pid on this host runs and, when
// start is known, is the process that started then.
func ProcessAlive(pid int, start string) bool {
	if err := syscall.Kill(pid, 0); err != nil && errors.Is(err, syscall.ESRCH) {
		return false
	}
	return start == "" || ProcessStart(pid) == start
}

func replayJournal(ctx context.Context, path string, db *sql.DB) (int, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	insert, err := tx.PrepareContext(ctx, strings.Replace(insertSQL, "INSERT INTO", "INSERT OR IGNORE INTO", 1))
	if err != nil {
		return 0, err
	}
	n := 0
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			// A line cut short by a crash was never acknowledged: its call
			// did not run.
			break
		}
		if err != nil {
			return n, err
		}
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			return n, fmt.Errorf("line %d: %w", n+1, err)
		}
		row, err := encodeRow(&e)
		if err != nil {
			return n, err
		}
		res, err := insert.ExecContext(ctx, row.args()...)
		if err != nil {
			return n, err
		}
		if k, _ := res.RowsAffected(); k > 0 {
			n++
		}
	}
	return n, tx.Commit()
}

// append writes one intent. It fails if the journal or the database file
// is gone (removed or replaced), so an intent is never written where
// nobody will find it.
func (j *journal) append(line []byte, check func() error) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	// The database file is looked for at most every checkEvery; the
	// journal itself on every append.
	if now := time.Now(); now.Sub(j.checked) > checkEvery {
		if err := check(); err != nil {
			return err
		}
		j.checked = now
	}
	if fi, err := j.f.Stat(); err != nil {
		return fmt.Errorf("intent journal: %w", err)
	} else if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink == 0 {
		return errors.New("intent journal was removed")
	}
	if _, err := j.f.Write(line); err != nil {
		return fmt.Errorf("intent journal: %w", err)
	}
	j.appended++
	j.size += int64(len(line))
	return nil
}

// settled records that n journaled intents are now in the database, and
// empties the journal when it has caught up and grown large.
func (j *journal) settled(n int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.committed += n
	if j.committed == j.appended && j.size >= emptyAt {
		if err := j.f.Truncate(0); err == nil {
			j.appended, j.committed, j.size = 0, 0, 0
		}
	}
}

// close removes the journal if everything in it reached the database;
// otherwise the next Warden to open the store replays it.
func (j *journal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	err := j.f.Close()
	if j.committed == j.appended {
		os.Remove(j.path)
	}
	return err
}
