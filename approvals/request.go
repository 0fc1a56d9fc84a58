package approvals

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// State is where a request is in its life:
//
//	pending ─► approved ─► executed ─► (failed)
//	   │          └──────► expired
//	   ├─► denied
//	   └─► expired
//
// executed means the approved call was released to run (once); failed
// means it ran and failed.
type State string

// States of a request.
const (
	StatePending  State = "pending"
	StateApproved State = "approved"
	StateDenied   State = "denied"
	StateExpired  State = "expired"
	StateExecuted State = "executed"
	StateFailed   State = "failed"
)

// States lists every state, for filters.
var States = []State{StatePending, StateApproved, StateDenied, StateExpired, StateExecuted, StateFailed}

// Verdicts an approver can give.
const (
	VerdictApprove = "approve"
	VerdictDeny    = "deny"
)

// Requester is who asked for the call.
type Requester struct {
	Subject   string   `json:"subject"`
	Groups    []string `json:"groups"`
	Issuer    string   `json:"issuer,omitempty"`
	Session   string   `json:"session,omitempty"`
	Transport string   `json:"transport,omitempty"`
}

// Decision is one approver's verdict.
type Decision struct {
	Approver string    `json:"approver"`
	Issuer   string    `json:"issuer,omitempty"`
	Groups   []string  `json:"groups"`
	Verdict  string    `json:"verdict"` // approve or deny
	Comment  string    `json:"comment,omitempty"`
	Time     time.Time `json:"time"`
	// Via is how the decision was made: api (the CLI) or web.
	Via string `json:"via,omitempty"`
}

// Approval is a stored approval request.
type Approval struct {
	ID    string `json:"id"`
	State State  `json:"state"`
	// Digest binds the requester, connection, tool, exact arguments and
	// policy version (see Digest).
	Digest        string          `json:"digest"`
	Requester     Requester       `json:"requester"`
	Connection    string          `json:"connection"`
	Tool          string          `json:"tool"`
	Arguments     json.RawMessage `json:"arguments"`
	Statement     string          `json:"statement,omitempty"`
	Justification string          `json:"justification,omitempty"`
	Rule          string          `json:"rule"`
	Reason        string          `json:"reason,omitempty"`
	PolicyVersion string          `json:"policy_version"`
	Kinds         []string        `json:"kinds,omitempty"`
	TablesRead    []string        `json:"tables_read,omitempty"`
	TablesWritten []string        `json:"tables_written,omitempty"`
	Approvers     Approvers       `json:"approvers"`
	Decisions     []Decision      `json:"decisions"`
	Created       time.Time       `json:"created"`
	Expires       time.Time       `json:"expires"`
	Decided       time.Time       `json:"decided,omitzero"`
	Executed      time.Time       `json:"executed,omitzero"`
	// AuditID is the audit event of the approved call's execution.
	AuditID string `json:"audit_id,omitempty"`
	// Error is why the approved call failed.
	Error string `json:"error,omitempty"`
	// URL is the request's approval page, when Warden knows its address.
	URL string `json:"url,omitempty"`
}

// Approvals counts the distinct approvers who approved.
func (a *Approval) Approvals() int {
	seen := map[string]bool{}
	for _, d := range a.Decisions {
		if d.Verdict == VerdictApprove {
			seen[d.Approver] = true
		}
	}
	return len(seen)
}

// ApprovedBy lists who approved, in order.
func (a *Approval) ApprovedBy() []string {
	var out []string
	for _, d := range a.Decisions {
		if d.Verdict == VerdictApprove && !slices.Contains(out, d.Approver) {
			out = append(out, d.Approver)
		}
	}
	return out
}

// StateAfter is the state a pending request moves to once its newest
// decision is in a.Decisions: denied at the first deny, approved once
// the quorum of distinct approvers (at least one) is reached, pending
// otherwise. Every Store's Decide applies it.
func (a *Approval) StateAfter() State {
	for _, d := range a.Decisions {
		if d.Verdict == VerdictDeny {
			return StateDenied
		}
	}
	if a.Approvals() >= max(1, a.Approvers.Quorum) {
		return StateApproved
	}
	return StatePending
}

// Open reports whether the request may still change: pending, or
// approved and not yet run.
func (a *Approval) Open() bool { return a.State == StatePending || a.State == StateApproved }

// settle reports the state a request is really in at now: an open request
// past its expiry is expired, whatever the store says yet.
func (a *Approval) settle(now time.Time) {
	if a.Open() && !now.Before(a.Expires) {
		a.State = StateExpired
	}
}

// CanDecide says whether p may decide the request, and if not, why.
func (a *Approval) CanDecide(subject string, groups []string) error {
	if subject == a.Requester.Subject {
		return fmt.Errorf("%w: %s asked for this call and cannot decide on it (self-approval is never allowed)", ErrForbidden, subject)
	}
	for _, g := range groups {
		if slices.Contains(a.Approvers.Groups, g) {
			return nil
		}
	}
	if len(a.Approvers.Groups) == 0 {
		return fmt.Errorf("%w: rule %q names no approvers, so nobody can decide on this request", ErrForbidden, a.Rule)
	}
	return fmt.Errorf("%w: %s is not in an approver group of this request (%s)", ErrForbidden, subject, strings.Join(a.Approvers.Groups, ", "))
}

// Visible reports whether p may see the request: its requester, or a
// member of an approver group.
func (a *Approval) Visible(subject string, groups []string) bool {
	if subject == a.Requester.Subject {
		return true
	}
	for _, g := range groups {
		if slices.Contains(a.Approvers.Groups, g) {
			return true
		}
	}
	return false
}

// Summary is one line about the request, for logs, webhooks and lists.
func (a *Approval) Summary() string {
	what := a.Statement
	if what == "" {
		what = string(a.Arguments)
	}
	what = strings.Join(strings.Fields(what), " ")
	if len(what) > 120 {
		what = what[:117] + "..."
	}
	return fmt.Sprintf("%s on %s: %s", a.Tool, a.Connection, what)
}
