package gateway

import (
	"fmt"
	"strings"
	"time"

	"github.com/wardenhq/warden/approvals"
	"github.com/wardenhq/warden/policy"
)

// StatusPendingApproval is the status of a held call's structured result.
const StatusPendingApproval = "pending_approval"

// PendingApproval is the structured result of a call held for approval
// (run_query, await_approval): what it waits for and how to continue. It
// is the cause of the call's *Error, so front doors can return it as
// structured content.
type PendingApproval struct {
	Status     string         `json:"status"` // pending_approval
	ApprovalID string         `json:"approval_id"`
	State      string         `json:"state"`
	Tool       string         `json:"tool"`
	Connection string         `json:"connection"`
	Rule       string         `json:"rule"`
	Approvers  ApproversView  `json:"approvers"`
	ExpiresAt  time.Time      `json:"expires_at"`
	URL        string         `json:"url,omitempty"`
	Message    string         `json:"message"`
	AuditID    string         `json:"audit_id,omitempty"`
	Decisions  []DecisionView `json:"decisions,omitempty"`
}

func (p *PendingApproval) Error() string { return p.Message }

// ApproversView says who must approve, and who has.
type ApproversView struct {
	Groups     []string `json:"groups"`
	Quorum     int      `json:"quorum"`
	ApprovedBy []string `json:"approved_by"`
}

// DecisionView is one verdict, as the requester sees it.
type DecisionView struct {
	Approver string    `json:"approver"`
	Verdict  string    `json:"verdict"`
	Comment  string    `json:"comment,omitempty"`
	Time     time.Time `json:"time"`
}

// heldError words a call the hold stage did not release.
func heldError(d policy.Decision, out approvals.Outcome) *Error {
	a := out.Approval
	if a == nil {
		return &Error{Code: CodeApprovalRequired, Rule: d.Rule, Message: out.Reason,
			Hint: "Ask a human to approve the call, or use a narrower call that policy allows"}
	}
	switch a.State {
	case approvals.StatePending:
		p := NewPendingApproval(a, out.Reason)
		return &Error{Code: CodeApprovalRequired, Rule: d.Rule, Message: p.Message, Hint: ContinueHint(a.ID), err: p}
	case approvals.StateDenied:
		return &Error{Code: CodeDenied, Rule: d.Rule, Message: out.Reason,
			Hint: "A person refused this exact call: do not send it again; change the approach or ask the approver why"}
	}
	return &Error{Code: CodeApprovalRequired, Rule: d.Rule, Message: out.Reason,
		Hint: "Send the call again to ask for a new approval"}
}

// ContinueHint tells an agent how to follow a held call.
func ContinueHint(id string) string {
	return fmt.Sprintf(`Call await_approval {"approval_id": %q} to wait for the decision: once approved it runs this exact call, once, and returns its result. approval_status {"approval_id": %q} reports the state without waiting. Sending the same call again also runs it once approved; a changed call is a new request`, id, id)
}

// NewPendingApproval describes a pending request for its requester.
func NewPendingApproval(a *approvals.Approval, reason string) *PendingApproval {
	p := &PendingApproval{
		Status: StatusPendingApproval, ApprovalID: a.ID, State: string(a.State), Tool: a.Tool, Connection: a.Connection,
		Rule: a.Rule, Approvers: ApproversOf(a), ExpiresAt: a.Expires.UTC(), URL: a.URL, Decisions: DecisionsOf(a),
	}
	if reason == "" {
		reason = fmt.Sprintf("held for human approval: request %s needs %d approval(s) from %s; it expires at %s",
			a.ID, a.Approvers.Quorum, strings.Join(a.Approvers.Groups, ", "), a.Expires.UTC().Format(time.RFC3339))
	}
	p.Message = reason + ". " + ContinueHint(a.ID) + "."
	return p
}

// ApproversOf says who must approve a, and who has.
func ApproversOf(a *approvals.Approval) ApproversView {
	v := ApproversView{Groups: a.Approvers.Groups, Quorum: a.Approvers.Quorum, ApprovedBy: a.ApprovedBy()}
	if v.ApprovedBy == nil {
		v.ApprovedBy = []string{}
	}
	return v
}

// DecisionsOf lists a's verdicts.
func DecisionsOf(a *approvals.Approval) []DecisionView {
	out := []DecisionView{}
	for _, d := range a.Decisions {
		out = append(out, DecisionView{Approver: d.Approver, Verdict: d.Verdict, Comment: d.Comment, Time: d.Time})
	}
	return out
}
