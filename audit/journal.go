package audit

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
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

// journalPath is where the journal of the database at path lives.
func journalPath(path string) string { return path + "-intents" }

// checkEvery bounds how often append looks for the database file.
const checkEvery = 100 * time.Millisecond

// emptyAt is the size above which a caught-up journal is emptied.
const emptyAt = 1 << 20

// openJournal replays what the journal at path holds into db (intents the
// database does not have yet), empties it and opens it for appending.
func openJournal(ctx context.Context, path string, db *sql.DB) (*journal, int, error) {
	replayed, err := replayJournal(ctx, path, db)
	if err != nil {
		return nil, 0, fmt.Errorf("replay intent journal %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("open intent journal: %w", err)
	}
	return &journal{path: path, f: f}, replayed, nil
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

// close empties the journal if everything in it reached the database.
func (j *journal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.committed == j.appended {
		j.f.Truncate(0)
	}
	return j.f.Close()
}
