package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wardenhq/warden/approvals"
	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/budget"
	"github.com/wardenhq/warden/policy"
)

// op is one governed operation in flight: it carries the audit event from
// the first stage to the last.
type op struct {
	event      audit.Event // ev points here: one allocation for both
	granted    Grant       // what grant returns: the same allocation again
	s          *Session
	spec       Operation
	ev         *audit.Event
	start      time.Time
	decision   policy.Decision
	facts      *policy.Facts // the operation's, or classified points here
	classified policy.Facts
	intent     audit.Intent
}

func (s *Session) newOp(spec Operation) *op {
	g := s.g
	args, statement := spec.Arguments, spec.Statement
	if spec.Redacted != nil {
		args = spec.Redacted
	}
	if len(args) > g.limits.MaxSQLBytes+4096 {
		args = nil // the statement (cut below) is what matters in the record
	}
	if len(statement) > g.limits.MaxSQLBytes {
		statement = statement[:g.limits.MaxSQLBytes]
	}
	now := time.Now()
	c := &s.caller
	o := &op{
		s:     s,
		spec:  spec,
		start: now,
		facts: spec.Facts,
		event: audit.Event{
			Time:       now.UTC(),
			Session:    c.Session,
			Transport:  c.Transport,
			Identity:   c.Principal.Subject,
			Groups:     c.Principal.Groups,
			Issuer:     c.Principal.Issuer,
			TokenID:    c.Principal.TokenID,
			Tool:       spec.Tool,
			Connection: s.connection,
			Arguments:  args,
			Statement:  statement,
			Approval:   spec.Approval,
		},
	}
	o.ev = &o.event
	return o
}

// classify runs the connector's classifier on the operation's statement,
// refusing (and recording) what it cannot understand.
func (o *op) classify(ctx context.Context) (policy.Facts, error) {
	f, err := o.s.classify(ctx, o.spec.Statement)
	if err != nil {
		return policy.Facts{}, o.refuseClassification(ctx, err)
	}
	return f, nil
}

// classify runs the connector's classifier on statement.
func (s *Session) classify(ctx context.Context, statement string) (policy.Facts, error) {
	cl := s.classifier()
	if cl == nil {
		return policy.Facts{}, errNoClassifier
	}
	return cl.Classify(ctx, policy.ClassifyRequest{Statement: statement, MaxBytes: s.g.limits.MaxSQLBytes})
}

// refuseClassification records the refusal of a statement that could not
// be classified and returns it, worded for the caller.
func (o *op) refuseClassification(ctx context.Context, err error) error {
	o.ev.Decision, o.ev.Reason = string(policy.Deny), err.Error()
	switch {
	case errors.Is(err, errNoClassifier):
		return o.refuse(ctx, "invalid", newError(CodeInvalidArgument, "Use a tool made for this kind of connection",
			"connection %q (%s) does not take statements", o.s.connection, o.s.conn.Info().Kind))
	case errors.Is(err, policy.ErrSyntax):
		// A statement that does not parse is the caller's mistake: refused
		// as bad input, worded as the parser words it, before policy.
		o.ev.Decision = ""
		return o.refuse(ctx, "invalid", &Error{Code: CodeInvalidArgument, err: err,
			Message: "syntax error: " + err.Error(),
			Hint:    "Fix the statement's syntax and send it again"})
	case !errors.Is(err, policy.ErrNotUnderstood):
		o.s.g.logger.Error("classify statement", "connection", o.s.connection, "err", err)
		return o.refuse(ctx, "error", &Error{Code: CodeInternal,
			Message: "the statement could not be classified, so the call was refused (Warden fails closed)", err: err})
	}
	return o.refuse(ctx, "denied", &Error{Code: CodeDenied, err: err,
		Message: "refused: Warden runs only statements it fully understands, and " + err.Error(),
		Hint:    "Rewrite the statement without the construct the message names"})
}

// authorize runs the decide and hold stages and, when the operation may
// run, records its intent. A refusal is recorded and returned as an *Error.
func (o *op) authorize(ctx context.Context) error {
	s := o.s
	if s.conn == nil {
		return o.refuse(ctx, "invalid", notFound(s.connection))
	}
	if err := s.lacks(o.spec.Needs); err != nil {
		return o.refuse(ctx, "invalid", err)
	}
	if o.spec.Statement != "" && o.facts == nil {
		f, err := o.classify(ctx)
		if err != nil {
			return err
		}
		o.classified = f
		o.facts = &o.classified
	}
	d, err := s.g.decider.Decide(ctx, s.input(o.spec.Tool, o.spec.Statement, o.facts))
	if err != nil {
		s.g.logger.Error("policy evaluation failed", "tool", o.spec.Tool, "connection", s.connection, "err", err)
		return o.refuse(ctx, "error", &Error{Code: CodeInternal,
			Message: "the policy could not be evaluated, so the call was refused (Warden fails closed)", err: err})
	}
	o.decision = d
	o.ev.Decision, o.ev.Rule, o.ev.Reason = string(d.Effect), d.Rule, d.Reason
	switch d.Effect {
	case policy.Allow:
	case policy.Review:
		hctx := ctx
		if o.spec.HoldContext != nil {
			var release func()
			hctx, release = o.spec.HoldContext(ctx)
			defer release()
		}
		if on := o.spec.OnHold; on != nil {
			hctx = approvals.WithProgress(hctx, func(_, _ float64, msg string) { on(msg) })
		}
		req := o.holdRequest(d)
		if o.spec.Preview != nil {
			req.Statement = o.preview(hctx, d, req.Statement)
		}
		out, err := s.g.holder.Hold(hctx, req)
		o.ev.Approval = out.ID
		if err != nil {
			return o.refuse(ctx, "error", &Error{Code: CodeInternal, Rule: d.Rule,
				Message: "the approval workflow failed, so the call was refused", err: err})
		}
		if !out.Approved {
			return o.refuse(ctx, "denied", heldError(d, out))
		}
	default:
		hint := d.Hint // how to proceed, when the refusal points one way
		if hint == "" {
			hint = "Call list_connections to see what you may do on each connection"
		}
		return o.refuse(ctx, "denied", &Error{Code: CodeDenied, Rule: d.Rule,
			Message: "refused by policy: " + d.Reason, Hint: hint})
	}
	o.intent = s.g.recorder.BeginAsync(o.ev)
	return nil
}

// preview adds what the operation's Preview shows the approver to
// statement: run as the operation's credential (minted for it here when
// the operation runs as one), or the reason it could not run.
func (o *op) preview(ctx context.Context, d policy.Decision, statement string) string {
	var cred connectors.Credential
	var err error
	if o.spec.Credential {
		if cred, err = o.s.mint(ctx, d, o.spec.Require); err == nil {
			o.ev.Credential = CredentialLabel(cred) // the held call's event names what the preview ran as
		}
	}
	text := ""
	if err == nil {
		text, err = o.spec.Preview(ctx, cred)
	}
	if err != nil {
		text = "(no preview: " + err.Error() + ")"
	}
	if statement == "" {
		return text
	}
	return statement + "\n\n" + text
}

// holdRequest is what the hold stage asks the Holder about the operation.
func (o *op) holdRequest(d policy.Decision) approvals.Request {
	c := o.s.caller
	pr := c.Principal
	req := approvals.Request{
		Subject: pr.Subject, Groups: pr.Groups, Issuer: pr.Issuer, Session: c.Session, Transport: c.Transport,
		Connection: o.ev.Connection, Tool: o.spec.Tool, Arguments: o.ev.Arguments,
		Rule: d.Rule, Reason: d.Reason, PolicyVersion: o.s.g.decider.Version(),
		Approvers: approvals.Approvers{Groups: d.Approvers.Groups, Quorum: d.Approvers.Quorum},
		Statement: o.spec.Statement,
	}
	if o.spec.Redacted != nil {
		req.Arguments = o.spec.Arguments // the call to run once approved, as sent
	}
	var args struct {
		Justification string `json:"justification"`
	}
	if json.Unmarshal(o.ev.Arguments, &args) == nil {
		req.Justification = args.Justification
	}
	if f := o.facts; f != nil {
		req.Kinds = f.Kinds
		for _, r := range f.Read {
			req.TablesRead = append(req.TablesRead, r.Text)
		}
		for _, r := range f.Written {
			req.TablesWritten = append(req.TablesWritten, r.Text)
		}
	}
	return req
}

// refuse records an operation that will not run and returns e with the
// event id.
func (o *op) refuse(ctx context.Context, status string, e *Error) error {
	o.ev.Status = status
	o.ev.Error = e.Message
	o.ev.Duration = time.Since(o.start)
	// A call cancelled while it was held is recorded all the same.
	if err := o.s.g.recorder.Record(context.WithoutCancel(ctx), o.ev); err != nil {
		o.s.g.logger.Error("audit event for refused call not written", "tool", o.spec.Tool, "err", err)
	} else {
		e.AuditID = o.ev.ID
	}
	return e
}

// grant is the operation's Grant, once authorized.
func (o *op) grant() *Grant {
	g := &o.granted
	*g = Grant{Decision: o.decision, Timeout: o.s.g.limits.StatementTimeout, MaxRows: o.decision.MaxRows, o: o}
	if o.decision.Timeout > 0 {
		g.Timeout = o.decision.Timeout
	}
	if o.facts != nil {
		g.Facts = *o.facts
	}
	return g
}

// targetError words an execution error for the agent.
func targetError(err error) *Error {
	var te *Error
	if errors.As(err, &te) {
		return te
	}
	var tge *connectors.TargetError
	var full *budget.FullError
	switch {
	case errors.Is(err, connectors.ErrTimeout):
		return &Error{Code: CodeTimeout, Message: "the statement was cancelled because it ran longer than its time limit",
			Hint: "Narrow the query (filters, LIMIT) or ask for a longer timeout in policy", err: err}
	case errors.Is(err, connectors.ErrReadOnly):
		return &Error{Code: CodeDenied, Message: "the target refused a write: this call runs in a read-only transaction",
			Hint: "Only reads are allowed here; use SELECT", err: err}
	case errors.As(err, &tge):
		msg := "the database returned an error: " + tge.Error()
		if tge.Detail != "" {
			msg += "; detail: " + tge.Detail
		}
		return &Error{Code: CodeTargetError, Message: msg, Hint: tge.Hint, err: err}
	case errors.As(err, &full):
		return &Error{Code: CodeUnavailable, Message: full.Error(),
			Hint: "Try again in a few seconds: every connection this Warden may hold to the target is in use", err: err}
	case errors.Is(err, connectors.ErrUnavailable):
		return &Error{Code: CodeUnavailable, Message: "the target is unavailable: " + err.Error(),
			Hint: "Try again later", err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Code: CodeTimeout, Message: "the call ran out of time", err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Code: CodeUnavailable, Message: "the call was cancelled", err: err}
	}
	return &Error{Code: CodeInternal, Message: fmt.Sprintf("the call failed: %v", err), err: err}
}
