package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wardenhq/warden/audit/auditlog"
)

// Checkpoints (table log_checkpoints): a signed head of the log that a
// store checked before it signed it, kept with the tree's compact range
// so that the next checkpoint, and a Warden opening the store, go on from
// it. The checkpointer makes one every CheckpointEvery while the store is
// open and one when it closes; every head appended since the last
// checkpoint must be signed by this store's key and match the leaves
// (batches written behind Warden's back have no valid head), or no
// checkpoint is made and the error says why. Verification then needs to
// check heads only after the last checkpoint: the checkpoints cover the
// rest.

// startCheckpoints starts the checkpointer, unless it is off. On each
// tick it also closes the running events of Wardens that stopped since
// (another process sharing the store), as Open does.
func (s *Store) startCheckpoints() {
	if s.cpEvery <= 0 {
		return
	}
	s.cpStop, s.cpDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.cpDone)
		t := time.NewTicker(s.cpEvery)
		defer t.Stop()
		for {
			select {
			case <-s.cpStop:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), s.cpEvery)
				if n, err := s.closeInterrupted(ctx); err != nil {
					s.logger.Error("audit: close the events of Wardens that stopped", "err", err)
				} else if n > 0 {
					s.logger.Warn("audit: events left running by a Warden that stopped are closed as interrupted", "events", n)
				}
				if _, err := s.Checkpoint(ctx); err != nil && !errors.Is(err, errEmptyLog) {
					s.logger.Error("audit log: no checkpoint", "err", err)
				}
				cancel()
			}
		}
	}()
}

// stopCheckpoints stops the checkpointer and waits for it.
func (s *Store) stopCheckpoints() {
	if s.cpStop != nil {
		close(s.cpStop)
		<-s.cpDone
	}
}

// closingCheckpoint makes the checkpoint of a closing store (once the
// writer has committed everything) and logs what went wrong.
func (s *Store) closingCheckpoint() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.checkpoint(ctx); err != nil && !errors.Is(err, errEmptyLog) {
		s.logger.Error("audit log: no checkpoint at close", "err", err)
	}
}

// Checkpoint signs and keeps a checkpoint of the log as it is, if it grew
// since the last one, and returns the latest (see auditlog.Store).
func (s *Store) Checkpoint(ctx context.Context) (auditlog.Checkpoint, error) {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return auditlog.Checkpoint{}, errClosedLog
	}
	return s.checkpoint(ctx)
}

var errClosedLog = errors.New("audit log: store closed")

func (s *Store) checkpoint(ctx context.Context) (auditlog.Checkpoint, error) {
	s.cpMu.Lock()
	defer s.cpMu.Unlock()
	lg := s.log
	verifiers := lg.verifiers()

	var tree auditlog.Frontier
	var last *auditlog.Checkpoint
	// unsignedOK: a key signs a log that was unsigned so far (one was
	// configured since); the heads before it cannot be checked.
	unsignedOK := !anySigned(ctx, s.readDB)
	cp, err := latestCheckpoint(ctx, s.readDB)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return auditlog.Checkpoint{}, fmt.Errorf("audit log: %w", err)
	default:
		h, err := auditlog.OpenHead(cp.note, verifiers)
		if errors.Is(err, auditlog.ErrUnsigned) && unsignedOK {
			h, err = auditlog.OpenHead(cp.note, nil)
		}
		if err != nil {
			return auditlog.Checkpoint{}, fmt.Errorf("audit log: the last checkpoint (%d leaves): %w; run warden audit verify", cp.size, err)
		}
		if h.Origin != lg.origin || h.Size != cp.tree.Size() || h.Root != cp.tree.Root() {
			return auditlog.Checkpoint{}, fmt.Errorf("audit log: the last checkpoint (%d leaves) does not match the tree kept with it; run warden audit verify", cp.size)
		}
		tree = cp.tree
		last = &auditlog.Checkpoint{Head: h, Note: cp.note, Time: cp.time}
	}

	// The heads since: each must be this store's, and match the tree.
	batches, err := sqlLogDB{s.readDB}.batchesFrom(ctx, tree.Size())
	if err != nil {
		return auditlog.Checkpoint{}, fmt.Errorf("audit log: %w", err)
	}
	for i := range batches {
		b := &batches[i]
		if err := b.check(); err != nil {
			return auditlog.Checkpoint{}, err
		}
		if b.first != tree.Size() {
			return auditlog.Checkpoint{}, fmt.Errorf("audit log: batch at leaf %d follows %d leaves; run warden audit verify", b.first, tree.Size())
		}
		for k := range b.count() {
			tree.Append(b.hash(k))
		}
		h, err := auditlog.OpenHead(b.head, verifiers)
		if errors.Is(err, auditlog.ErrUnsigned) && unsignedOK {
			h, err = auditlog.OpenHead(b.head, nil)
		}
		if err != nil {
			return auditlog.Checkpoint{}, fmt.Errorf("audit log: the head of the batch at leaf %d: %w; run warden audit verify", b.first, err)
		}
		if h.Origin != lg.origin || h.Size != tree.Size() || h.Root != tree.Root() {
			return auditlog.Checkpoint{}, fmt.Errorf("audit log: the head of the batch at leaf %d does not match its leaves; run warden audit verify", b.first)
		}
	}
	if last != nil && tree.Size() == last.Size {
		return *last, nil
	}
	if last == nil && tree.Size() == 0 {
		return auditlog.Checkpoint{}, errEmptyLog
	}

	head := auditlog.Head{Origin: lg.origin, Size: tree.Size(), Root: tree.Root()}
	msg, err := auditlog.Sign(head, lg.signerOrNil())
	if err != nil {
		return auditlog.Checkpoint{}, err
	}
	frontier, _ := tree.MarshalBinary()
	now := time.Now().UTC()
	if _, err := s.readDB.ExecContext(ctx, `INSERT OR IGNORE INTO log_checkpoints (size, time, note, frontier) VALUES (?, ?, ?, ?)`,
		head.Size, formatTime(now), msg, frontier); err != nil {
		return auditlog.Checkpoint{}, fmt.Errorf("audit log: keep checkpoint: %w", err)
	}
	return auditlog.Checkpoint{Head: head, Note: msg, Time: now}, nil
}

// errEmptyLog: nothing to checkpoint yet.
var errEmptyLog = errors.New("audit log: the log is empty")

// anySigned reports whether a checkpoint of the log is signed: once one
// is, an unsigned one after it is not this store's.
func anySigned(ctx context.Context, db *sql.DB) bool {
	var n int
	db.QueryRowContext(ctx, `SELECT count(*) FROM log_checkpoints WHERE note LIKE '%'||char(10)||char(10)||'%'`).Scan(&n)
	return n > 0
}

var _ auditlog.Store = (*Store)(nil)
