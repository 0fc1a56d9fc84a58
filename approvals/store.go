package approvals

import (
	"context"
	"time"
)

// Store keeps approval requests, their decisions and the browser sessions
// of the approval pages. The SQLite store is approvals/sqlite; every store
// passes approvals/approvalstest.
//
// Every method is safe for concurrent use, also by several Warden
// processes sharing the store: each change of state is atomic (one
// conditional update or one transaction), so that of two processes racing
// for the same change exactly one wins. A request a store returns carries
// its decisions, oldest first (Decisions is never nil). A store keeps no
// secret: arguments are the tool arguments as the agent sent them, and a
// browser session is kept under a hash of its cookie.
type Store interface {
	// Create stores a new request, a as given (its decisions are not
	// stored: only Decide adds those). An ID already stored is an error.
	Create(ctx context.Context, a *Approval) error

	// Get returns request id, or ErrNotFound.
	Get(ctx context.Context, id string) (*Approval, error)

	// Latest returns the newest request (by Created, then ID) bound to
	// digest, or ErrNotFound.
	Latest(ctx context.Context, digest string) (*Approval, error)

	// List returns the requests f selects, newest (by Created, then ID)
	// first, at most f.Limit (100 if <= 0 or above 1000). It returns the
	// states as stored: an open request past its expiry may still say
	// pending until ExpireDue or Decide marks it.
	List(ctx context.Context, f Filter) ([]*Approval, error)

	// Decide adds verdict d to request id, in one transaction, and returns
	// the request as it is afterwards:
	//
	//   - a pending request whose expiry is not after d.Time is marked
	//     expired, and returned with an ExpiredError (which wraps
	//     ErrConflict); check is not called;
	//   - check's error, on the request as stored, is returned with the
	//     request, and nothing changes;
	//   - a request that is not pending, or an approver who decided it
	//     already, is an ErrConflict, wrapped, returned with the request;
	//   - otherwise d is stored, and the request moves to a.StateAfter()
	//     (denied at the first deny, approved once the quorum of distinct
	//     approvers is reached), with Decided = d.Time if it settled.
	//
	// It returns ErrNotFound (and no request) if there is no request id.
	Decide(ctx context.Context, id string, d Decision, check func(*Approval) error) (*Approval, error)

	// Consume releases request id for execution, once: it moves it from
	// approved to executed (Executed = now) only if it is approved, bound
	// to digest and now is before its expiry, and reports whether this
	// call did. Of concurrent callers, in any process, at most one wins.
	Consume(ctx context.Context, id, digest string, now time.Time) (bool, error)

	// Finish records how the released call of request id ended: it stays
	// executed with r.AuditID if r.OK, else becomes failed with r.Error.
	// It changes an executed request only.
	Finish(ctx context.Context, id string, r Result) error

	// Fail marks request id failed with why, if it is open (pending or
	// approved); a request in another state is left as it is.
	Fail(ctx context.Context, id, why string) error

	// ExpireDue marks expired every open request whose expiry is at or
	// before now, and returns them. Each is returned by exactly one call,
	// also across processes.
	ExpireDue(ctx context.Context, now time.Time) ([]*Approval, error)

	// CreateSession stores a browser session under idHash, a hash of its
	// cookie (never the cookie itself).
	CreateSession(ctx context.Context, idHash string, ws WebSession, now time.Time) error

	// Session returns the session stored under idHash, or ErrNotFound if
	// there is none or it expired at now.
	Session(ctx context.Context, idHash string, now time.Time) (*WebSession, error)

	// DeleteSession removes the session under idHash, and every session
	// expired at now.
	DeleteSession(ctx context.Context, idHash string, now time.Time) error
}

// Filter selects requests. Zero fields do not filter.
type Filter struct {
	States []State
	// Subject: only requests by this requester.
	Subject string
	Limit   int
}

// WebSession is a signed-in browser of the approval pages.
type WebSession struct {
	Subject string
	Issuer  string
	Groups  []string
	CSRF    string
	Expires time.Time
}

// ExpiredError is the conflict of a decision on a request that expired:
// Store.Decide has just marked it expired.
type ExpiredError struct{ At time.Time }

func (e ExpiredError) Error() string {
	return ErrConflict.Error() + ": the request expired at " + e.At.UTC().Format(time.RFC3339)
}

// Unwrap makes an ExpiredError an ErrConflict.
func (e ExpiredError) Unwrap() error { return ErrConflict }
