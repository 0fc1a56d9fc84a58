package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// maxBatch is the most operations the writer commits in one transaction.
const maxBatch = 256

type opKind int

const (
	opInsert opKind = iota // Begin and Record
	opFinish
	opSync // writes nothing: acknowledged once everything before it committed
)

// op is one write waiting for the writer goroutine. done receives exactly
// one value: nil once the transaction holding the write has committed, or
// the error that stopped it.
type op struct {
	kind      opKind
	row       row
	done      chan error
	async     bool // nobody waits: failures are logged
	journaled bool // an intent already durable in the journal
}

// Begin records the intent to run an operation, before it runs. It assigns
// e.ID if empty and e.Time if zero, sets e.Status to StatusRunning, and
// returns once the event is committed. If Begin returns an error the caller
// must not run the operation: an operation that cannot be recorded does not
// happen.
//
// If ctx ends first Begin returns ctx.Err(); the event may still be committed.
func (s *Store) Begin(ctx context.Context, e *Event) error {
	s.stamp(e)
	e.Status = StatusRunning
	return s.submit(ctx, opInsert, e)
}

// Finish records the outcome of the operation Begin recorded as e.ID:
// status, duration, rows, truncated, masked counts and error. Decision, rule,
// reason, credential and approval are updated only where e sets them, so
// values known at Begin are kept. e.Status must be an outcome (StatusOK,
// StatusDenied, StatusFailed or StatusError). Finish returns ErrNotFound,
// wrapped, if no event has e.ID.
func (s *Store) Finish(ctx context.Context, e *Event) error {
	if e.ID == "" {
		return errors.New("audit: finish event: no id")
	}
	if !isOutcome(e.Status) {
		return fmt.Errorf("audit: finish event %s: status %q is not an outcome", e.ID, e.Status)
	}
	return s.submit(ctx, opFinish, e)
}

// Record stores a complete event in one step, for operations that never ran
// (a denied call). It assigns e.ID and e.Time like Begin; e.Status must be
// an outcome.
func (s *Store) Record(ctx context.Context, e *Event) error {
	if !isOutcome(e.Status) {
		return fmt.Errorf("audit: record event: status %q is not an outcome", e.Status)
	}
	s.stamp(e)
	return s.submit(ctx, opInsert, e)
}

// stamp fills in the time and ID of a new event. The ID is made from the
// time, so IDs sort like times.
func (s *Store) stamp(e *Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	if e.ID == "" {
		e.ID = s.ids.next(e.Time)
	}
}

// submit hands e to the writer and waits for its transaction to commit.
func (s *Store) submit(ctx context.Context, kind opKind, e *Event) error {
	o, err := s.enqueue(ctx, kind, e, false)
	if err != nil {
		return err
	}
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// enqueue hands e to the writer without waiting for the commit.
func (s *Store) enqueue(ctx context.Context, kind opKind, e *Event, async bool) (*op, error) {
	r, err := encodeRow(e)
	if err != nil {
		return nil, fmt.Errorf("audit: write event: %w", err)
	}
	o := &op{kind: kind, row: r, done: make(chan error, 1), async: async}
	// A caller that already gave up submits nothing (select would pick at
	// random between a ready queue and a done context).
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	select {
	case s.ops <- o:
		return o, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Pending is an intent handed to the writer; Wait returns once it is
// committed (nil) or could not be (the error).
type Pending struct {
	o   *op
	err error
}

// Wait blocks until the write commits or ctx ends. It may be called more
// than once; every call returns the same result once the write is settled.
func (p *Pending) Wait(ctx context.Context) error {
	if p.o == nil {
		return p.err
	}
	select {
	case err := <-p.o.done:
		p.o, p.err = nil, err
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Sync returns once every write submitted before it (FinishAsync included)
// is committed, or with the error that stopped them.
func (s *Store) Sync(ctx context.Context) error {
	return s.submit(ctx, opSync, &Event{ID: "sync", Time: time.Unix(0, 0)})
}

// BeginAsync records the intent to run an operation, like Begin, through
// the intent journal: one append, durable against a crash of Warden as a
// committed transaction is, after which the writer moves the intent into
// the database with its next batch. The Pending it returns is settled at
// once; the caller must see nil from Wait before the operation reaches its
// target. It fails, and the operation must not run, if the journal cannot
// be written or the database file was removed or replaced.
func (s *Store) BeginAsync(e *Event) *Pending {
	s.stamp(e)
	e.Status = StatusRunning
	r, err := encodeRow(e)
	if err != nil {
		return &Pending{err: fmt.Errorf("audit: write event: %w", err)}
	}
	line, err := json.Marshal(e)
	if err != nil {
		return &Pending{err: fmt.Errorf("audit: write event: %w", err)}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return &Pending{err: ErrClosed}
	}
	if err := s.journal.append(append(line, '\n'), s.checkFile); err != nil {
		s.logger.Error("audit intent not written", "path", s.path, "err", err)
		return &Pending{err: fmt.Errorf("audit: write event: %s: %w", s.path, err)}
	}
	// The intent is durable: the database gets it with the next batch.
	s.ops <- &op{kind: opInsert, row: r, done: make(chan error, 1), async: true, journaled: true}
	return &Pending{}
}

// FinishAsync is Finish without the wait: the outcome is committed with the
// writer's next batch, and Close flushes it. A failure is logged. If the
// process dies first, the event stays recorded as running, never lost.
func (s *Store) FinishAsync(e *Event) error {
	if e.ID == "" {
		return errors.New("audit: finish event: no id")
	}
	if !isOutcome(e.Status) {
		return fmt.Errorf("audit: finish event %s: status %q is not an outcome", e.ID, e.Status)
	}
	_, err := s.enqueue(context.Background(), opFinish, e, true)
	return err
}

// run is the writer goroutine. It takes whatever is queued, up to maxBatch
// operations, commits it as one transaction, and repeats until Close closes
// the queue and it is empty.
func (s *Store) run() {
	defer close(s.done)
	batch := make([]*op, 0, maxBatch)
	for o := range s.ops {
		batch = s.drain(append(batch[:0], o))
		if onlyAsync(batch) {
			// Nobody waits for these outcomes: give the next intent a moment
			// to arrive and share the commit, halving commits per call
			// under sequential load.
			t := time.NewTimer(asyncLinger)
			select {
			case o, ok := <-s.ops:
				if ok {
					batch = s.drain(append(batch, o))
				}
			case <-t.C:
			}
			t.Stop()
		}
		s.commit(batch)
	}
}

// asyncLinger is how long writes nobody waits for (intents already in the
// journal, outcomes) may wait for company: under sequential load, one commit
// then carries several calls instead of two commits per call.
const asyncLinger = 10 * time.Millisecond

// drain appends whatever is queued, up to maxBatch operations.
func (s *Store) drain(batch []*op) []*op {
	for len(batch) < maxBatch {
		select {
		case o, ok := <-s.ops:
			if !ok {
				return batch
			}
			batch = append(batch, o)
		default:
			return batch
		}
	}
	return batch
}

func onlyAsync(batch []*op) bool {
	for _, o := range batch {
		if !o.async {
			return false
		}
	}
	return true
}

// commit writes batch in one transaction and tells every op how it went.
// An op that fails on its own (a duplicate ID, a Finish of an unknown event)
// gets its own error and the rest still commit. Any other failure (disk full,
// read-only file, database gone) fails the whole batch.
func (s *Store) commit(batch []*op) {
	errs := make([]error, len(batch))
	err := s.writeBatch(batch, errs)
	if err == nil {
		var n int64
		for _, o := range batch {
			if o.journaled {
				n++
			}
		}
		if n > 0 {
			s.journal.settled(n)
		}
	}
	if err != nil {
		s.logger.Error("audit write failed", "path", s.path, "ops", len(batch), "err", err)
		err = fmt.Errorf("audit: write event: %s: %w", s.path, err)
	}
	for i, o := range batch {
		if o.async && (err != nil || errs[i] != nil) {
			s.logger.Error("audit outcome not written", "event", o.row.id, "err", errors.Join(err, errs[i]))
		}
		switch {
		case err != nil:
			o.done <- err
		case errors.Is(errs[i], ErrNotFound):
			o.done <- fmt.Errorf("%w: finish %s", ErrNotFound, o.row.id)
		case errs[i] != nil:
			o.done <- fmt.Errorf("audit: write event %s: %w", o.row.id, errs[i])
		default:
			o.done <- nil
		}
	}
}

func (s *Store) writeBatch(batch []*op, errs []error) error {
	if err := s.checkFile(); err != nil {
		return err
	}
	// Not the callers' contexts: one caller giving up must not abort the
	// others' writes. busy_timeout bounds the wait for a lock.
	ctx := context.Background()
	tx, err := s.writeDB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	folded := foldOutcomes(batch)
	for i, o := range batch {
		if folded[i] {
			continue
		}
		err := o.exec(ctx, tx, s.stmts)
		if err == nil {
			continue
		}
		if !isOpError(err) {
			_ = tx.Rollback()
			return err
		}
		errs[i] = err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	s.commits.Add(1)
	return nil
}

// foldOutcomes merges an outcome into its own event's intent when both are
// in the batch (a fast call), so the event is inserted once, complete,
// instead of inserted and then updated. It reports which ops were folded.
func foldOutcomes(batch []*op) []bool {
	var folded []bool
	var intents map[string]*row
	for i, o := range batch {
		switch {
		case o.kind == opInsert && o.journaled:
			if intents == nil {
				intents = make(map[string]*row)
			}
			intents[o.row.id] = &batch[i].row
		case o.kind == opFinish && o.async:
			in, ok := intents[o.row.id]
			if !ok {
				continue
			}
			applyOutcome(in, &o.row)
			if folded == nil {
				folded = make([]bool, len(batch))
			}
			folded[i] = true
		}
	}
	if folded == nil {
		folded = make([]bool, len(batch))
	}
	return folded
}

// applyOutcome does to an intent's row what finishSQL does to its record.
func applyOutcome(in, out *row) {
	in.status = out.status
	for _, f := range []struct{ dst, src *string }{
		{&in.decision, &out.decision}, {&in.rule, &out.rule}, {&in.reason, &out.reason},
		{&in.credential, &out.credential}, {&in.approval, &out.approval},
	} {
		if *f.src != "" {
			*f.dst = *f.src
		}
	}
	in.durationUS, in.rows, in.truncated = out.durationUS, out.rows, out.truncated
	in.masked, in.errorText = out.masked, out.errorText
}

// checkFile fails if the database file was removed or replaced since Open.
// SQLite would go on writing to the unlinked file, and the events would be
// lost with it.
func (s *Store) checkFile() error {
	info, err := os.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return errors.New("database file was removed since the store was opened")
	}
	if err != nil {
		return fmt.Errorf("check database file: %w", err)
	}
	if !os.SameFile(info, s.file) {
		return errors.New("database file was replaced since the store was opened")
	}
	return nil
}

// isOpError reports whether err belongs to one op only and leaves the
// transaction usable: SQLite aborts just the failing statement on a
// constraint violation.
func isOpError(err error) bool {
	if errors.Is(err, ErrNotFound) {
		return true
	}
	var serr *sqlite.Error
	return errors.As(err, &serr) && serr.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}

const insertSQL = `INSERT INTO events (
	id, time, session, transport, identity, groups_json, issuer, tool, connection,
	arguments, statement, decision, rule, reason, status, duration_us, row_count,
	truncated, masked_json, credential, error, approval, token_id
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

const finishSQL = `UPDATE events SET
	status      = ?,
	decision    = coalesce(nullif(?, ''), decision),
	rule        = coalesce(nullif(?, ''), rule),
	reason      = coalesce(nullif(?, ''), reason),
	duration_us = ?,
	row_count   = ?,
	truncated   = ?,
	masked_json = ?,
	error       = ?,
	credential  = coalesce(nullif(?, ''), credential),
	approval    = coalesce(nullif(?, ''), approval)
WHERE id = ?`

// writeStmts are the writer's statements, prepared once: parsing the SQL
// costs more than running it.
type writeStmts struct {
	insert, upsert, finish *sql.Stmt
}

func prepareWrites(ctx context.Context, db *sql.DB) (writeStmts, error) {
	insert, err := db.PrepareContext(ctx, insertSQL)
	if err != nil {
		return writeStmts{}, fmt.Errorf("prepare insert: %w", err)
	}
	upsert, err := db.PrepareContext(ctx, upsertSQL)
	if err != nil {
		_ = insert.Close()
		return writeStmts{}, fmt.Errorf("prepare upsert: %w", err)
	}
	finish, err := db.PrepareContext(ctx, finishSQL)
	if err != nil {
		_ = insert.Close()
		_ = upsert.Close()
		return writeStmts{}, fmt.Errorf("prepare finish: %w", err)
	}
	return writeStmts{insert: insert, upsert: upsert, finish: finish}, nil
}

func (w writeStmts) close() error {
	return errors.Join(w.insert.Close(), w.upsert.Close(), w.finish.Close())
}

// upsertSQL writes a journaled intent (perhaps with its outcome folded in).
// The event may already be there, replayed from the journal by a Warden
// that started meanwhile: then its outcome, if any, completes the record.
const upsertSQL = insertSQL + `
ON CONFLICT (id) DO UPDATE SET
	status = excluded.status, decision = excluded.decision, rule = excluded.rule,
	reason = excluded.reason, duration_us = excluded.duration_us, row_count = excluded.row_count,
	truncated = excluded.truncated, masked_json = excluded.masked_json, error = excluded.error,
	credential = excluded.credential, approval = excluded.approval
WHERE events.status = 'running'`

func (o *op) exec(ctx context.Context, tx *sql.Tx, stmts writeStmts) error {
	r := &o.row
	switch o.kind {
	case opInsert:
		stmt := stmts.insert
		if o.journaled {
			stmt = stmts.upsert
		}
		_, err := tx.StmtContext(ctx, stmt).ExecContext(ctx, r.args()...)
		return err
	case opFinish:
		res, err := tx.StmtContext(ctx, stmts.finish).ExecContext(ctx,
			r.status, r.decision, r.rule, r.reason, r.durationUS, r.rows,
			r.truncated, r.masked, r.errorText, r.credential, r.approval, r.id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		return nil
	case opSync:
		return nil
	}
	return fmt.Errorf("unknown op kind %d", o.kind)
}
