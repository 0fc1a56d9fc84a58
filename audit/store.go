package audit

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors of every store. Callers branch on them with errors.Is.
var (
	// ErrClosed is returned by writes after Close.
	ErrClosed = errors.New("audit: store closed")
	// ErrNotFound is returned when no event has the requested ID.
	ErrNotFound = errors.New("audit: event not found")
	// ErrAmbiguousID is returned by Get when an ID prefix matches several events.
	ErrAmbiguousID = errors.New("audit: ambiguous event id prefix")
)

// Recorder writes events: the record stage of the pipeline.
//
// A write returns nil only once what it wrote is durable (committed, or in
// a journal the store replays after a crash); a write that cannot be made
// durable returns the error and never hangs, and the caller must then
// refuse the operation. A store adds nothing to an event: no environment,
// no connection string, no credential value. Events arrive redacted.
type Recorder interface {
	// Begin records the intent to run an operation, before it runs. It
	// sets e.ID if empty and e.Time if zero (then UTC), sets e.Status to
	// StatusRunning, and returns once the intent is durable. If Begin
	// returns an error the operation must not run. If ctx ends first,
	// Begin returns ctx.Err() and the intent may still be recorded.
	Begin(ctx context.Context, e *Event) error

	// BeginAsync is Begin for the hot path: it stamps e as Begin does and
	// returns without waiting for the database. The operation must not
	// reach its target before Wait on the Intent returns nil; an intent
	// that could not be written fails its Wait. Recording the intent must
	// not allocate more than the Intent itself.
	BeginAsync(e *Event) Intent

	// Finish records the outcome of the operation whose intent is e.ID:
	// e.Status (an outcome, see IsOutcome), duration, rows, truncated,
	// masked counts and error; decision, rule, reason, credential and
	// approval only where e sets them, so what Begin recorded is kept.
	// Finish may replace an outcome an earlier Finish recorded (an
	// approval changes a decision). It returns ErrNotFound, wrapped, if no
	// event has e.ID.
	Finish(ctx context.Context, e *Event) error

	// Record stores a complete event in one step, for an operation that
	// never ran (a refused call). It stamps e like Begin; e.Status must be
	// an outcome. An event whose ID is already recorded is refused, and
	// the event already there is kept.
	Record(ctx context.Context, e *Event) error

	// Sync returns once every write submitted before it, Intent.Complete
	// included, is durable, or with the error that stopped one.
	Sync(ctx context.Context) error
}

// Intent is an intent submitted by Recorder.BeginAsync.
type Intent interface {
	// Wait returns nil once the intent is durable, the error if it cannot
	// be, or ctx.Err() if ctx ends first. It may be called more than once:
	// once the intent is settled every call returns the same result.
	Wait(ctx context.Context) error

	// Complete records the outcome of the intent's operation, e: the same
	// ID, an outcome status, fields as Recorder.Finish takes them. It
	// returns once the outcome is durable (committed, or in a journal the
	// store replays after a crash), so that a crash after it returned
	// never leaves the event running; it must cost the caller no wait for
	// a commit. An outcome that cannot be made durable gets the error, and
	// the caller must not send the operation's result as if it were
	// recorded. Readers see the outcome once a Sync after it returned.
	// Call it only after Wait returned nil. The first outcome of an intent
	// stands: a second Complete, or a Complete after another process
	// recorded an outcome for the same event, never overwrites it, with
	// one exception: StatusInterrupted, which a Warden records for the
	// events of a process it found gone, says the outcome is unknown, and
	// the real outcome replaces it. Complete returns an error for an e
	// that is not this intent's outcome, and ErrClosed after Close.
	Complete(e *Event) error
}

// Reader reads events back, whichever way they were written. An event is
// readable once the write that made it returned; one that BeginAsync or
// Intent.Complete wrote, once a Sync after it returned.
type Reader interface {
	// Get returns the event with ID id, or the one event whose ID starts
	// with id, a prefix of at least MinIDPrefix characters (case and the
	// aliases NormalizeID maps do not matter). It returns ErrNotFound or
	// ErrAmbiguousID, wrapped, when it cannot pick one event, and an error
	// for a shorter prefix.
	Get(ctx context.Context, id string) (Event, error)

	// List returns the events f selects, newest (highest ID) first, at
	// most f.Limit (DefaultListLimit if <= 0, never more than
	// MaxListLimit). Paging with Before set to the last ID of a page
	// returns the next page: no event twice, none skipped.
	List(ctx context.Context, f Filter) ([]Event, error)
}

// LeaseStore keeps just-in-time credentials (leases) and the Warden
// processes (instances) that hold them, for the mint stage and its reaper.
// Every method is safe for concurrent use, also by several processes
// sharing the store. A lease holds the credential's name and grants,
// never its secret.
type LeaseStore interface {
	// CreateLease records l as active (l.State, RevokedAt, Attempts and
	// LastError are ignored), before its credential is minted, so that a
	// crash in between leaves something for the reaper to revoke. A lease
	// ID already recorded is an error.
	CreateLease(ctx context.Context, l Lease) error

	// UpdateLease records a lease's grants and expiry once minted. It
	// changes nothing if no lease has id.
	UpdateLease(ctx context.Context, id, grants string, expires time.Time) error

	// LeaseRevoked marks lease id revoked at at and clears its last
	// error. It changes nothing if no lease has id.
	LeaseRevoked(ctx context.Context, id string, at time.Time) error

	// LeaseAttempt records a failed revocation of lease id: one more
	// attempt, revokeErr's text as its last error (it must hold no
	// secret), and the state failed if failed is true (revocation gave up:
	// a human must act), active otherwise.
	LeaseAttempt(ctx context.Context, id string, revokeErr error, failed bool) error

	// Leases returns the leases f selects, newest (Created, then ID) first,
	// at most f.Limit (DefaultListLimit if <= 0 or above MaxListLimit).
	Leases(ctx context.Context, f LeaseFilter) ([]Lease, error)

	// Heartbeat records instance in, or, if its ID is recorded already,
	// only its new heartbeat time.
	Heartbeat(ctx context.Context, in Instance) error

	// Instances returns every recorded instance, in no particular order.
	Instances(ctx context.Context) ([]Instance, error)

	// ForgetInstance removes instance id unless a lease of it is still
	// active. Forgetting an unknown instance is not an error.
	ForgetInstance(ctx context.Context, id string) error
}

// Store is a whole audit backend: events written and read, session
// recordings, leases and instances. Each backend (audit/sqlite, ...)
// passes audit/audittest.
type Store interface {
	Recorder
	Reader
	Recordings
	LeaseStore

	// Close makes durable the writes already submitted (Intent.Complete
	// included), then releases the store. Writes after Close return
	// ErrClosed. Close is idempotent: every call returns the first's
	// result.
	Close() error
}
