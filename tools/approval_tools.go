package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wardenhq/warden/approvals"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/policy/sqlclass"
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

// ApprovalStatusResult is the structured result of approval_status.
type ApprovalStatusResult struct {
	ApprovalID    string         `json:"approval_id"`
	State         string         `json:"state"`
	Tool          string         `json:"tool"`
	Connection    string         `json:"connection"`
	Statement     string         `json:"statement,omitempty"`
	Justification string         `json:"justification,omitempty"`
	Rule          string         `json:"rule"`
	Approvers     ApproversView  `json:"approvers"`
	Decisions     []DecisionView `json:"decisions"`
	CreatedAt     time.Time      `json:"created_at"`
	ExpiresAt     time.Time      `json:"expires_at"`
	ExecutedAt    *time.Time     `json:"executed_at,omitempty"`
	ExecutionID   string         `json:"execution_audit_id,omitempty"`
	Error         string         `json:"error,omitempty"`
	URL           string         `json:"url,omitempty"`
	Message       string         `json:"message"`
	AuditID       string         `json:"audit_id,omitempty"`
}

// holdRequest is what the hold stage asks the Holder about this call.
func (o *op) holdRequest(d policy.Decision, statement string, facts *sqlclass.Facts) approvals.Request {
	pr := o.caller.Principal
	req := approvals.Request{
		Subject: pr.Subject, Groups: pr.Groups, Issuer: pr.Issuer, Session: o.caller.Session, Transport: o.caller.Transport,
		Connection: o.ev.Connection, Tool: o.tool, Arguments: o.ev.Arguments,
		Rule: d.Rule, Reason: d.Reason, PolicyVersion: o.p.decider.Version(),
		Approvers: approvals.Approvers{Groups: d.Approvers.Groups, Quorum: d.Approvers.Quorum},
		Statement: statement,
	}
	var args struct {
		Justification string `json:"justification"`
	}
	if json.Unmarshal(o.ev.Arguments, &args) == nil {
		req.Justification = args.Justification
	}
	if facts != nil {
		for _, k := range facts.Kinds {
			req.Kinds = append(req.Kinds, string(k))
		}
		req.TablesRead, req.TablesWritten = facts.TablesRead, facts.TablesWritten
	}
	return req
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
		p := pendingApproval(a, out.Reason)
		return &Error{Code: CodeApprovalRequired, Rule: d.Rule, Message: p.Message, Hint: continueHint(a.ID), err: p}
	case approvals.StateDenied:
		return &Error{Code: CodeDenied, Rule: d.Rule, Message: out.Reason,
			Hint: "A person refused this exact call: do not send it again; change the approach or ask the approver why"}
	}
	return &Error{Code: CodeApprovalRequired, Rule: d.Rule, Message: out.Reason,
		Hint: "Send the call again to ask for a new approval"}
}

func continueHint(id string) string {
	return fmt.Sprintf(`Call await_approval {"approval_id": %q} to wait for the decision: once approved it runs this exact call, once, and returns its result. approval_status {"approval_id": %q} reports the state without waiting. Sending the same call again also runs it once approved; a changed call is a new request`, id, id)
}

func pendingApproval(a *approvals.Approval, reason string) *PendingApproval {
	p := &PendingApproval{
		Status: StatusPendingApproval, ApprovalID: a.ID, State: string(a.State), Tool: a.Tool, Connection: a.Connection,
		Rule: a.Rule, Approvers: approversView(a), ExpiresAt: a.Expires.UTC(), URL: a.URL, Decisions: decisionViews(a),
	}
	if reason == "" {
		reason = fmt.Sprintf("held for human approval: request %s needs %d approval(s) from %s; it expires at %s",
			a.ID, a.Approvers.Quorum, strings.Join(a.Approvers.Groups, ", "), a.Expires.UTC().Format(time.RFC3339))
	}
	p.Message = reason + ". " + continueHint(a.ID) + "."
	return p
}

func approversView(a *approvals.Approval) ApproversView {
	v := ApproversView{Groups: a.Approvers.Groups, Quorum: a.Approvers.Quorum, ApprovedBy: a.ApprovedBy()}
	if v.ApprovedBy == nil {
		v.ApprovedBy = []string{}
	}
	return v
}

func decisionViews(a *approvals.Approval) []DecisionView {
	out := []DecisionView{}
	for _, d := range a.Decisions {
		out = append(out, DecisionView{Approver: d.Approver, Verdict: d.Verdict, Comment: d.Comment, Time: d.Time})
	}
	return out
}

// finishApproval tells the holder how a call it released ended.
func (o *op) finishApproval(ctx context.Context) {
	if o.ev.Approval == "" || o.decision.Effect != policy.Review || o.intent == nil {
		return
	}
	if f, ok := o.p.holder.(approvals.Finisher); ok {
		f.Finished(ctx, o.ev.Approval, approvals.Result{OK: o.ev.Status == "ok", AuditID: o.ev.ID, Error: o.ev.Error})
	}
}

// tracker returns the holder's Tracker, if approvals are enabled.
func (p *Pipeline) tracker() (approvals.Tracker, bool) {
	t, ok := p.holder.(approvals.Tracker)
	return t, ok
}

// approvalCall runs approval_status or await_approval.
func (p *Pipeline) approvalCall(ctx context.Context, caller Caller, tool string, raw json.RawMessage) (*Result, error) {
	var a ApprovalArgs
	o := p.newOp(caller, tool, "", raw, "")
	o.ev.Decision = string(policy.Allow)
	if err := decodeArgs(raw, &a); err != nil {
		return nil, o.refuse(ctx, "invalid", &Error{Code: CodeInvalidArgument, Message: "invalid arguments: " + err.Error(), err: err})
	}
	o.ev.Approval = a.ApprovalID
	t, ok := p.tracker()
	if !ok {
		return nil, o.refuse(ctx, "invalid", newError(CodeNotFound, "", "no approval workflow is enabled on this Warden"))
	}
	switch {
	case a.ApprovalID == "":
		return nil, o.refuse(ctx, "invalid", newError(CodeInvalidArgument, tool+` takes {"approval_id": "apr_..."}`, "argument \"approval_id\" is required"))
	case a.WaitSeconds != nil && (*a.WaitSeconds < 0 || time.Duration(*a.WaitSeconds)*time.Second > t.MaxWait()):
		return nil, o.refuse(ctx, "invalid", newError(CodeInvalidArgument, "", "argument \"wait_seconds\" must be from 0 to %d", int(t.MaxWait().Seconds())))
	case a.WaitSeconds != nil && tool == ToolApprovalStatus:
		return nil, o.refuse(ctx, "invalid", newError(CodeInvalidArgument, "approval_status never waits; use await_approval", "unknown argument \"wait_seconds\""))
	}
	var ap *approvals.Approval
	var err error
	if tool == ToolAwaitApproval {
		wait := t.MaxWait()
		if a.WaitSeconds != nil {
			wait = time.Duration(*a.WaitSeconds) * time.Second
		} else if w, ok := p.holder.(interface{ DefaultWait() time.Duration }); ok {
			wait = w.DefaultWait()
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
		return nil, o.refuse(ctx, "invalid", newError(CodeNotFound, "Use the approval_id a held call returned to you",
			"you have no approval request %q", a.ApprovalID))
	}
	if err != nil {
		p.logger.Error("approval tools", "tool", tool, "err", err)
		return nil, o.refuse(ctx, "error", &Error{Code: CodeInternal, Message: "the approval request could not be read", err: err})
	}
	o.ev.Connection, o.ev.Rule = ap.Connection, ap.Rule
	if tool == ToolApprovalStatus {
		o.ev.Status = "ok"
		if err := p.recorder.Record(ctx, o.ev); err != nil {
			return nil, &Error{Code: CodeUnavailable, Message: "the audit trail cannot be written, so the call was refused (Warden fails closed)", err: err}
		}
		res := statusResult(ap)
		res.AuditID = o.ev.ID
		return &Result{Structured: res, Text: renderStatus(res)}, nil
	}
	switch ap.State {
	case approvals.StateApproved:
		o.ev.Status = "ok"
		if err := p.recorder.Record(ctx, o.ev); err != nil {
			return nil, &Error{Code: CodeUnavailable, Message: "the audit trail cannot be written, so the call was refused (Warden fails closed)", err: err}
		}
		// The approved call goes through the whole pipeline again: policy
		// decides it anew, and the hold stage releases it only if it is
		// exactly the call that was approved, once.
		return p.Call(ctx, caller, ap.Tool, ap.Arguments)
	case approvals.StatePending:
		pa := pendingApproval(ap, "")
		return nil, o.refuse(ctx, "denied", &Error{Code: CodeApprovalRequired, Rule: ap.Rule, Message: "still " + pa.Message,
			Hint: "Wait again with await_approval, or do something else meanwhile", err: pa})
	case approvals.StateDenied:
		return nil, o.refuse(ctx, "denied", &Error{Code: CodeDenied, Rule: ap.Rule, Message: deniedMessage(ap),
			Hint: "A person refused this call: do not send it again; change the approach or ask the approver why"})
	case approvals.StateExecuted, approvals.StateFailed:
		msg := fmt.Sprintf("approval request %s was already used: its call ran at %s", ap.ID, ap.Executed.UTC().Format(time.RFC3339))
		if ap.AuditID != "" {
			msg += " (audit event " + ap.AuditID + ")"
		}
		if ap.State == approvals.StateFailed && ap.Executed.IsZero() {
			msg = fmt.Sprintf("approval request %s cannot run: %s", ap.ID, ap.Error)
		}
		return nil, o.refuse(ctx, "denied", &Error{Code: CodeApprovalRequired, Rule: ap.Rule, Message: msg + "; an approval runs its call once",
			Hint: "Send the call again to ask for a new approval"})
	}
	return nil, o.refuse(ctx, "denied", &Error{Code: CodeApprovalRequired, Rule: ap.Rule,
		Message: fmt.Sprintf("approval request %s expired at %s without an approval", ap.ID, ap.Expires.UTC().Format(time.RFC3339)),
		Hint:    "Send the call again to ask for a new approval"})
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
		Justification: a.Justification, Rule: a.Rule, Approvers: approversView(a), Decisions: decisionViews(a),
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

// approvalTools are the catalogue entries of the approval tools; none
// when approvals are not enabled.
func (p *Pipeline) approvalTools() []Tool {
	t, ok := p.tracker()
	if !ok {
		return nil
	}
	wait := t.MaxWait()
	if w, ok := p.holder.(interface{ DefaultWait() time.Duration }); ok {
		wait = w.DefaultWait()
	}
	return []Tool{
		{
			Name:  ToolApprovalStatus,
			Title: "Approval status",
			Description: "Report the state of an approval request a held call returned (pending, approved, denied, expired, executed), " +
				"who must approve and who has. Never waits.",
			InputSchema:  approvalStatusInputSchema,
			OutputSchema: approvalStatusOutputSchema,
			ReadOnly:     true,
		},
		{
			Name:  ToolAwaitApproval,
			Title: "Await approval",
			Description: "Wait up to wait_seconds for a held call's approval request to be decided. Once it is approved, run exactly " +
				"the approved call (once) and return its result; otherwise return the request's state and what to do next.",
			InputSchema: awaitApprovalInputSchema(wait, t.MaxWait()),
			Destructive: p.approvalsMayWrite(),
		},
	}
}

func (p *Pipeline) approvalsMayWrite() bool {
	if w, ok := p.decider.(interface{ AllowsWrites(tool string) bool }); ok {
		return w.AllowsWrites(ToolRunQuery)
	}
	return true
}
