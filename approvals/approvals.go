package approvals

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Request is a call that needs a human decision.
type Request struct {
	Subject string
	Groups  []string
	// Issuer, Session and Transport say how the requester was identified
	// and reached Warden.
	Issuer        string
	Session       string
	Transport     string
	Connection    string
	Tool          string
	Arguments     json.RawMessage
	Justification string
	Rule          string
	PolicyVersion string
	// Approvers are the rule's; empty: the configured default.
	Approvers Approvers
	// Statement and what the classifier learned of it, shown to approvers
	// (not part of the digest: they follow from the arguments).
	Statement     string
	Kinds         []string
	TablesRead    []string
	TablesWritten []string
	// Reason is policy's reason for holding the call.
	Reason string
}

// Approvers say who may approve a request.
type Approvers struct {
	Groups []string `json:"groups"`
	Quorum int      `json:"quorum"`
}

// Outcome is what became of a held call.
type Outcome struct {
	// Approved is true only when the exact call was approved and may run now.
	Approved bool
	// ID identifies the approval request, when one was created.
	ID string
	// Reason explains a call that may not run (yet), for the agent.
	Reason string
	// Approval is the request as Hold left it; nil when none was created.
	Approval *Approval
}

// Holder decides what happens to a call policy sent to review. It returns an
// error only for a technical failure; the pipeline refuses the call then.
type Holder interface {
	Hold(ctx context.Context, req Request) (Outcome, error)
}

// Finisher is implemented by holders that record how an approved call
// ended. The pipeline calls Finished once for every call Hold approved.
type Finisher interface {
	Finished(ctx context.Context, id string, r Result)
}

// Result is how an approved call ended.
type Result struct {
	OK      bool
	AuditID string
	Error   string
}

// Tracker lets a requester follow their own requests (the
// approval_status and await_approval tools).
type Tracker interface {
	// Get returns request id if requester (subject) made it; ErrNotFound
	// otherwise.
	Get(ctx context.Context, subject, id string) (*Approval, error)
	// Wait waits up to d for request id to leave the pending state, and
	// returns it as it then is.
	Wait(ctx context.Context, subject, id string, d time.Duration) (*Approval, error)
	// MaxWait bounds d.
	MaxWait() time.Duration
	// DefaultWait is how long a held call waits when it does not say.
	DefaultWait() time.Duration
}

// Errors callers branch on.
var (
	ErrNotFound = errors.New("approvals: no such request")
	// ErrForbidden: the caller may not decide this request.
	ErrForbidden = errors.New("approvals: not allowed")
	// ErrConflict: the request is no longer pending (decided, expired).
	ErrConflict = errors.New("approvals: request is not pending")
)

// Disabled is the Holder used when no approval workflow is configured: a
// call that needs review is refused, never let through.
type Disabled struct{}

// Hold implements Holder.
func (Disabled) Hold(_ context.Context, req Request) (Outcome, error) {
	return Outcome{Reason: fmt.Sprintf("rule %q requires human approval for %s on %q, and no approval workflow is enabled on this Warden", req.Rule, req.Tool, req.Connection)}, nil
}

var _ Holder = Disabled{}
