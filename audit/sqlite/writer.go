package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardenhq/warden/audit"
)

// maxBatch is the most operations the writer commits in one transaction.
const maxBatch = 1024

// queueLen is how many operations may wait for the writer; past half of
// it, the writer stops lingering.
const queueLen = 2 * maxBatch

type opKind int

const (
	opInsert opKind = iota // Begin and Record
	opFinish
	opSync      // writes nothing: acknowledged once everything before it committed
	opInterrupt // closes the running events of instances that are gone (interrupted.go)
	opChunk     // AppendRecording
)

// op is one write waiting for the writer goroutine. done receives exactly
// one value: nil once the transaction holding the write has committed, or
// the error that stopped it.
type op struct {
	kind      opKind
	row       row
	done      chan error
	async     bool     // nobody waits: failures are logged
	journaled bool     // an intent already durable in the journal
	seg       *segment // the journal segment that holds it (an intent's, or an outcome's)

	// For a journaled intent: whether the writer took it for a batch,
	// or its outcome came first (Intent.Complete) and rides with it.
	state   atomic.Int32 // intentQueued, intentTaken, intentCompleted
	outcome row          // set before state becomes intentCompleted
	outSeg  *segment     // the outcome's journal segment; set with outcome
	folded  bool         // the writer found the state intentCompleted; the writer's own

	gone   []string // opInterrupt: the instances whose running events to close
	closed int64    // opInterrupt: how many events it closed

	seq   int    // opChunk: the chunk's sequence number (row.id is the recording)
	chunk []byte // opChunk: the chunk, the store's own copy
}

// States of a journaled intent's op.
const (
	intentQueued = iota
	intentTaken
	intentCompleted
)

// Begin records the intent to run an operation, before it runs. It assigns
// e.ID if empty and e.Time if zero, sets e.Status to StatusRunning, and
// returns once the event is committed. If Begin returns an error the caller
// must not run the operation: an operation that cannot be recorded does not
// happen.
//
// If ctx ends first Begin returns ctx.Err(); the event may still be committed.
func (s *Store) Begin(ctx context.Context, e *audit.Event) error {
	s.stamp(e)
	e.Status = audit.StatusRunning
	return s.submit(ctx, opInsert, e)
}

// Finish records the outcome of the operation Begin recorded as e.ID:
// status, duration, rows, truncated, masked counts and error. Decision, rule,
// reason, credential and approval are updated only where e sets them, so
// values known at Begin are kept. e.Status must be an outcome (StatusOK,
// StatusDenied, StatusFailed or StatusError). Finish returns ErrNotFound,
// wrapped, if no event has e.ID.
func (s *Store) Finish(ctx context.Context, e *audit.Event) error {
	if e.ID == "" {
		return errors.New("audit: finish event: no id")
	}
	if !audit.IsOutcome(e.Status) {
		return fmt.Errorf("audit: finish event %s: status %q is not an outcome", e.ID, e.Status)
	}
	return s.submit(ctx, opFinish, e)
}

// Record stores a complete event in one step, for operations that never ran
// (a denied call). It assigns e.ID and e.Time like Begin; e.Status must be
// an outcome.
func (s *Store) Record(ctx context.Context, e *audit.Event) error {
	if !audit.IsOutcome(e.Status) {
		return fmt.Errorf("audit: record event: status %q is not an outcome", e.Status)
	}
	s.stamp(e)
	return s.submit(ctx, opInsert, e)
}

// stamp fills in the time and ID of a new event. The ID is made from the
// time, so IDs sort like times.
func (s *Store) stamp(e *audit.Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	if e.ID == "" {
		e.ID = s.ids.Next(e.Time)
	}
}

// submit hands e to the writer and waits for its transaction to commit.
func (s *Store) submit(ctx context.Context, kind opKind, e *audit.Event) error {
	o, err := s.enqueue(ctx, kind, e, false)
	if err != nil {
		return err
	}
	return s.wait(ctx, o)
}

// wait waits for the commit of o, sent not async.
func (s *Store) wait(ctx context.Context, o *op) error {
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// enqueue hands e to the writer without waiting for the commit.
func (s *Store) enqueue(ctx context.Context, kind opKind, e *audit.Event, async bool) (*op, error) {
	o := &op{kind: kind, async: async}
	switch kind {
	case opFinish:
		o.row = outcomeRow(e)
	case opInsert:
		r, err := encodeRow(e)
		if err != nil {
			return nil, fmt.Errorf("audit: write event: %w", err)
		}
		o.row = r
		o.row.instance = s.instance
	default:
		o.row.id = e.ID
	}
	return o, s.send(ctx, o)
}

// send hands o to the writer. Unless o is async, o.done will get the
// result of its commit.
func (s *Store) send(ctx context.Context, o *op) error {
	if !o.async {
		o.done = make(chan error, 1)
	}
	// A caller that already gave up submits nothing (select would pick at
	// random between a ready queue and a done context).
	if err := ctx.Err(); err != nil {
		return err
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return audit.ErrClosed
	}
	select {
	case s.ops <- o:
	case <-ctx.Done():
		return ctx.Err()
	}
	if !o.async || len(s.ops) >= queueLen/2 {
		s.urgeWriter()
	}
	return nil
}

// pending is an intent handed to the writer (the audit.Intent BeginAsync
// returns); Wait returns once it is committed (nil) or could not be (the
// error).
type pending struct {
	o   *op
	err error

	s      *Store
	intent *op // BeginAsync's, for Complete
}

// Wait blocks until the write commits or ctx ends. It may be called more
// than once; every call returns the same result once the write is settled.
func (p *pending) Wait(ctx context.Context) error {
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
	return s.submit(ctx, opSync, &audit.Event{ID: "sync", Time: time.Unix(0, 0)})
}

// BeginAsync records the intent to run an operation, like Begin, through
// the intent journal: one append, durable against a crash of Warden as a
// committed transaction is, after which the writer moves the intent into
// the database with its next batch. The Intent it returns is settled at
// once; the caller must see nil from Wait before the operation reaches its
// target. It fails, and the operation must not run, if the journal cannot
// be written or the database file was removed or replaced. The Intent is
// a *pending: returning it as an interface costs no allocation.
func (s *Store) BeginAsync(e *audit.Event) audit.Intent {
	s.stamp(e)
	e.Status = audit.StatusRunning
	o := &op{kind: opInsert, async: true, journaled: true}
	buf := s.records.get()
	defer s.records.put(buf)
	line, err := encodeIntent((*buf)[:0], e, &o.row)
	if err != nil {
		return &pending{err: fmt.Errorf("audit: write event: %w", err)}
	}
	o.row.instance = s.instance
	*buf = line
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return &pending{err: audit.ErrClosed}
	}
	if o.seg, err = s.journal.append(line, s.checkFile); err != nil {
		s.logger.Error("audit intent not written", "path", s.path, "err", err)
		return &pending{err: fmt.Errorf("audit: write event: %s: %w", s.path, err)}
	}
	// The intent is durable: the database gets it with the next batch.
	s.ops <- o
	if len(s.ops) >= queueLen/2 {
		s.urgeWriter()
	}
	return &pending{s: s, intent: o}
}

// Complete records the outcome of the operation whose intent p holds,
// as FinishAsync does (see audit.Intent): durable in the journal when it
// returns. An outcome that arrives while the intent still waits for the
// writer (a statement that ran in less than a batch's linger) goes with
// it into the database: no write of its own. Complete is for an intent
// from BeginAsync whose Wait returned nil.
func (p *pending) Complete(e *audit.Event) error {
	o := p.intent
	switch {
	case o == nil:
		return errors.New("audit: complete event: no intent (not from BeginAsync)")
	case e.ID != o.row.id:
		return fmt.Errorf("audit: complete event %s: the intent is %s", e.ID, o.row.id)
	case !audit.IsOutcome(e.Status):
		return fmt.Errorf("audit: complete event %s: status %q is not an outcome", e.ID, e.Status)
	}
	return p.s.finishJournaled(e, o)
}

// finishJournaled appends the outcome e to the journal, after which a
// crash no longer loses it (the next Warden to open the store replays
// it), then hands it to the writer: with its intent, if that still waits
// in the queue, or as an op of its own. It fails as BeginAsync does.
func (s *Store) finishJournaled(e *audit.Event, intent *op) error {
	buf := s.records.get()
	defer s.records.put(buf)
	line, err := encodeOutcome((*buf)[:0], e)
	if err != nil {
		return fmt.Errorf("audit: write outcome of %s: %w", e.ID, err)
	}
	*buf = line
	out := outcomeRow(e)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return audit.ErrClosed
	}
	seg, err := s.journal.append(line, s.checkFile)
	if err != nil {
		s.logger.Error("audit outcome not written", "path", s.path, "event", e.ID, "err", err)
		return fmt.Errorf("audit: write outcome of %s: %s: %w", e.ID, s.path, err)
	}
	if intent != nil && intent.state.Load() == intentQueued {
		intent.outcome, intent.outSeg = out, seg
		if intent.state.CompareAndSwap(intentQueued, intentCompleted) {
			return nil
		}
	}
	s.ops <- &op{kind: opFinish, async: true, row: out, seg: seg}
	if len(s.ops) >= queueLen/2 {
		s.urgeWriter()
	}
	return nil
}

// bufferPool recycles the buffers BeginAsync encodes journal records in.
type bufferPool struct{ pool sync.Pool }

func (p *bufferPool) get() *[]byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 1024)
	return &b
}

func (p *bufferPool) put(b *[]byte) { p.pool.Put(b) }

// FinishAsync is Finish without the wait for the commit: it returns once
// the outcome is in the journal, and the writer commits it with its next
// batch. As Intent.Complete, it records the first outcome only (or one
// that replaces interrupted). A failure to commit is logged; the journal
// keeps the outcome for the next Warden to replay.
func (s *Store) FinishAsync(e *audit.Event) error {
	if e.ID == "" {
		return errors.New("audit: finish event: no id")
	}
	if !audit.IsOutcome(e.Status) {
		return fmt.Errorf("audit: finish event %s: status %q is not an outcome", e.ID, e.Status)
	}
	return s.finishJournaled(e, nil)
}
