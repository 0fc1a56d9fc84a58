package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wardenhq/warden/approvals"
	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/policy"
)

// The approval tools: an agent whose call was held follows it with
// approval_status and, with await_approval, waits for the decision and
// runs the approved call. They are not governed by policy rules (they
// only ever show the caller's own requests; the approved call itself goes
// through the whole pipeline again).
const (
	ToolApprovalStatus = "approval_status"
	ToolAwaitApproval  = "await_approval"
)

// ApprovalArgs are the arguments of approval_status and await_approval.
type ApprovalArgs struct {
	ApprovalID  string `json:"approval_id"`
	WaitSeconds *int   `json:"wait_seconds,omitempty"`
}

// ApprovalStatusResult is the structured result of approval_status.
type ApprovalStatusResult struct {
	ApprovalID    string                 `json:"approval_id"`
	State         string                 `json:"state"`
	Tool          string                 `json:"tool"`
	Connection    string                 `json:"connection"`
	Statement     string                 `json:"statement,omitempty"`
	Justification string                 `json:"justification,omitempty"`
	Rule          string                 `json:"rule"`
	Approvers     gateway.ApproversView  `json:"approvers"`
	Decisions     []gateway.DecisionView `json:"decisions"`
	CreatedAt     time.Time              `json:"created_at"`
	ExpiresAt     time.Time              `json:"expires_at"`
	ExecutedAt    *time.Time             `json:"executed_at,omitempty"`
	ExecutionID   string                 `json:"execution_audit_id,omitempty"`
	Error         string                 `json:"error,omitempty"`
	URL           string                 `json:"url,omitempty"`
	Message       string                 `json:"message"`
	AuditID       string                 `json:"audit_id,omitempty"`
}

// tracker returns the holder's Tracker, if approvals are enabled.
func tracker(g *gateway.Gateway) (approvals.Tracker, bool) {
	t, ok := g.Holder().(approvals.Tracker)
	return t, ok
}

// approvalCall runs approval_status or await_approval. The approval tools
// are not governed by rules: they show only the caller's own requests, and
// an approved call goes through the whole pipeline again.
func approvalCall(ctx context.Context, c *Catalogue, caller gateway.Caller, tool string, raw json.RawMessage) (*Result, error) {
	var a ApprovalArgs
	g := c.g
	s := g.Session(caller, "")
	op := gateway.Operation{Tool: tool, Arguments: raw}
	allowed := policy.Decision{Effect: policy.Allow}
	reject := func(status string, d policy.Decision, e *gateway.Error) error {
		return s.Reject(ctx, op, status, d, e)
	}
	if err := DecodeArgs(raw, &a); err != nil {
		return nil, reject(audit.StatusInvalid, allowed, gateway.Invalid("invalid arguments: "+err.Error(), err))
	}
	op.Approval = a.ApprovalID
	t, ok := tracker(g)
	if !ok {
		return nil, reject(audit.StatusInvalid, allowed, gateway.NewError(gateway.CodeNotFound, "", "no approval workflow is enabled on this Warden"))
	}
	switch {
	case a.ApprovalID == "":
		return nil, reject(audit.StatusInvalid, allowed, gateway.NewError(gateway.CodeInvalidArgument, tool+` takes {"approval_id": "apr_..."}`, "argument \"approval_id\" is required"))
	case a.WaitSeconds != nil && (*a.WaitSeconds < 0 || time.Duration(*a.WaitSeconds)*time.Second > t.MaxWait()):
		return nil, reject(audit.StatusInvalid, allowed, gateway.NewError(gateway.CodeInvalidArgument, "", "argument \"wait_seconds\" must be from 0 to %d", int(t.MaxWait().Seconds())))
	case a.WaitSeconds != nil && tool == ToolApprovalStatus:
		return nil, reject(audit.StatusInvalid, allowed, gateway.NewError(gateway.CodeInvalidArgument, "approval_status never waits; use await_approval", "unknown argument \"wait_seconds\""))
	}
	var ap *approvals.Approval
	var err error
	if tool == ToolAwaitApproval {
		wait := t.DefaultWait()
		if a.WaitSeconds != nil {
			wait = time.Duration(*a.WaitSeconds) * time.Second
		}
		ap, err = t.Wait(ctx, caller.Principal.Subject, a.ApprovalID, wait)
	} else {
		ap, err = t.Get(ctx, caller.Principal.Subject, a.ApprovalID)
	}
	// A request is bound to its requester's identity, issuer included.
	if err == nil && ap.Requester.Issuer != caller.Principal.Issuer {
		err = approvals.ErrNotFound
	}
	if errors.Is(err, approvals.ErrNotFound) {
		return nil, reject(audit.StatusInvalid, allowed, gateway.NewError(gateway.CodeNotFound, "Use the approval_id a held call returned to you",
			"you have no approval request %q", a.ApprovalID))
	}
	if err != nil {
		g.Logger().Error("approval tools", "tool", tool, "err", err)
		return nil, reject(audit.StatusError, allowed, gateway.NewError(gateway.CodeInternal, "", "the approval request could not be read").WithCause(err))
	}
	s = g.Session(caller, ap.Connection)
	ruled := policy.Decision{Effect: policy.Allow, Rule: ap.Rule}
	if tool == ToolApprovalStatus {
		id, err := s.Record(ctx, op, ruled, gateway.Outcome{})
		if err != nil {
			return nil, err
		}
		res := statusResult(ap)
		res.AuditID = id
		return &Result{Structured: res, Text: renderStatus(res)}, nil
	}
	switch ap.State {
	case approvals.StateApproved:
		if _, err := s.Record(ctx, op, ruled, gateway.Outcome{}); err != nil {
			return nil, err
		}
		// The approved call goes through the whole pipeline again: policy
		// decides it anew, and the hold stage releases it only if it is
		// exactly the call that was approved, once.
		return c.Call(ctx, caller, ap.Tool, ap.Arguments)
	case approvals.StatePending:
		pa := gateway.NewPendingApproval(ap, "")
		return nil, reject(audit.StatusDenied, ruled, gateway.NewError(gateway.CodeApprovalRequired, "Wait again with await_approval, or do something else meanwhile",
			"still %s", pa.Message).WithCause(pa))
	case approvals.StateDenied:
		return nil, reject(audit.StatusDenied, ruled, gateway.NewError(gateway.CodeDenied,
			"A person refused this call: do not send it again; change the approach or ask the approver why", "%s", deniedMessage(ap)))
	case approvals.StateExecuted, approvals.StateFailed:
		msg := fmt.Sprintf("approval request %s was already used: its call ran at %s", ap.ID, ap.Executed.UTC().Format(time.RFC3339))
		if ap.AuditID != "" {
			msg += " (audit event " + ap.AuditID + ")"
		}
		if ap.State == approvals.StateFailed && ap.Executed.IsZero() {
			msg = fmt.Sprintf("approval request %s cannot run: %s", ap.ID, ap.Error)
		}
		return nil, reject(audit.StatusDenied, ruled, gateway.NewError(gateway.CodeApprovalRequired,
			"Send the call again to ask for a new approval", "%s; an approval runs its call once", msg))
	}
	return nil, reject(audit.StatusDenied, ruled, gateway.NewError(gateway.CodeApprovalRequired, "Send the call again to ask for a new approval",
		"approval request %s expired at %s without an approval", ap.ID, ap.Expires.UTC().Format(time.RFC3339)))
}

func deniedMessage(a *approvals.Approval) string {
	for _, d := range a.Decisions {
		if d.Verdict == approvals.VerdictDeny {
			m := fmt.Sprintf("approval request %s was denied by %s", a.ID, d.Approver)
			if d.Comment != "" {
				m += ": " + d.Comment
			}
			return m
		}
	}
	return "approval request " + a.ID + " was denied"
}

func statusResult(a *approvals.Approval) *ApprovalStatusResult {
	r := &ApprovalStatusResult{
		ApprovalID: a.ID, State: string(a.State), Tool: a.Tool, Connection: a.Connection, Statement: a.Statement,
		Justification: a.Justification, Rule: a.Rule, Approvers: gateway.ApproversOf(a), Decisions: gateway.DecisionsOf(a),
		CreatedAt: a.Created.UTC(), ExpiresAt: a.Expires.UTC(), ExecutionID: a.AuditID, Error: a.Error, URL: a.URL,
	}
	if !a.Executed.IsZero() {
		t := a.Executed.UTC()
		r.ExecutedAt = &t
	}
	switch a.State {
	case approvals.StatePending:
		r.Message = fmt.Sprintf("Waiting for %d approval(s) from %s (%d so far). Call await_approval to wait and run the call once approved.",
			a.Approvers.Quorum, strings.Join(a.Approvers.Groups, ", "), a.Approvals())
	case approvals.StateApproved:
		r.Message = "Approved. Call await_approval to run the approved call now (once), before it expires."
	case approvals.StateDenied:
		r.Message = deniedMessage(a) + ". Do not send this call again."
	case approvals.StateExpired:
		r.Message = "Expired without approval. Send the call again to ask for a new approval."
	case approvals.StateExecuted:
		r.Message = "The approved call ran; an approval runs its call once."
	case approvals.StateFailed:
		r.Message = "The approved call did not complete: " + a.Error
	}
	return r
}

func renderStatus(r *ApprovalStatusResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "approval %s: %s\n%s on %s (rule %s)\n", r.ApprovalID, r.State, r.Tool, r.Connection, r.Rule)
	if r.Statement != "" {
		fmt.Fprintf(&b, "statement: %s\n", r.Statement)
	}
	fmt.Fprintf(&b, "approvers: %s, quorum %d, approved by: %s\n", strings.Join(r.Approvers.Groups, ", "), r.Approvers.Quorum, strings.Join(r.Approvers.ApprovedBy, ", "))
	for _, d := range r.Decisions {
		fmt.Fprintf(&b, "  %s %s at %s", d.Approver, d.Verdict, d.Time.Format(time.RFC3339))
		if d.Comment != "" {
			fmt.Fprintf(&b, ": %s", d.Comment)
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "expires at %s\n%s", r.ExpiresAt.Format(time.RFC3339), r.Message)
	return b.String()
}

var approvalStatusInputSchema = json.RawMessage(`{
  "type": "object",
  "properties": {
    "approval_id": {"type": "string", "description": "The approval_id a held call returned."}
  },
  "required": ["approval_id"],
  "additionalProperties": false
}`)

func awaitApprovalInputSchema(wait, maxWait time.Duration) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{
  "type": "object",
  "properties": {
    "approval_id": {"type": "string", "description": "The approval_id a held call returned."},
    "wait_seconds": {"type": "integer", "minimum": 0, "maximum": %d, "description": "How long to wait for the decision (default %d)."}
  },
  "required": ["approval_id"],
  "additionalProperties": false
}`, int(maxWait.Seconds()), int(wait.Seconds())))
}

var approvalStatusOutputSchema = json.RawMessage(`{
  "type": "object",
  "properties": {
    "approval_id": {"type": "string"},
    "state": {"type": "string", "enum": ["pending", "approved", "denied", "expired", "executed", "failed"]},
    "tool": {"type": "string"},
    "connection": {"type": "string"},
    "statement": {"type": "string"},
    "justification": {"type": "string"},
    "rule": {"type": "string"},
    "approvers": {"type": "object", "properties": {
      "groups": {"type": "array", "items": {"type": "string"}},
      "quorum": {"type": "integer"},
      "approved_by": {"type": "array", "items": {"type": "string"}}}},
    "decisions": {"type": "array", "items": {"type": "object", "properties": {
      "approver": {"type": "string"}, "verdict": {"type": "string"}, "comment": {"type": "string"}, "time": {"type": "string"}}}},
    "created_at": {"type": "string"},
    "expires_at": {"type": "string"},
    "executed_at": {"type": "string"},
    "execution_audit_id": {"type": "string"},
    "error": {"type": "string"},
    "url": {"type": "string"},
    "message": {"type": "string"},
    "audit_id": {"type": "string"}
  },
  "required": ["approval_id", "state", "tool", "connection", "rule", "approvers", "expires_at", "message"]
}`)

// ApprovalStatusTool and AwaitApprovalTool are the approval tools, in the
// catalogue when an approval workflow is enabled.
var (
	ApprovalStatusTool = Tool{
		Name:  ToolApprovalStatus,
		Title: "Approval status",
		Describe: func(g *gateway.Gateway) (Spec, bool) {
			if _, ok := tracker(g); !ok {
				return Spec{}, false
			}
			return Spec{
				Description: "Report the state of an approval request a held call returned (pending, approved, denied, expired, executed), " +
					"who must approve and who has. Never waits.",
				InputSchema:  approvalStatusInputSchema,
				OutputSchema: approvalStatusOutputSchema,
				ReadOnly:     true,
			}, true
		},
		Run: func(ctx context.Context, c *Catalogue, caller gateway.Caller, args json.RawMessage) (*Result, error) {
			return approvalCall(ctx, c, caller, ToolApprovalStatus, args)
		},
	}
	AwaitApprovalTool = Tool{
		Name:  ToolAwaitApproval,
		Title: "Await approval",
		Describe: func(g *gateway.Gateway) (Spec, bool) {
			t, ok := tracker(g)
			if !ok {
				return Spec{}, false
			}
			return Spec{
				Description: "Wait up to wait_seconds for a held call's approval request to be decided. Once it is approved, run exactly " +
					"the approved call (once) and return its result; otherwise return the request's state and what to do next.",
				InputSchema: awaitApprovalInputSchema(t.DefaultWait(), t.MaxWait()),
				// It runs the approved call, which may write.
				Destructive: g.Decider().AllowsWrites(ToolRunQuery),
			}, true
		},
		Run: func(ctx context.Context, c *Catalogue, caller gateway.Caller, args json.RawMessage) (*Result, error) {
			return approvalCall(ctx, c, caller, ToolAwaitApproval, args)
		},
	}
)
