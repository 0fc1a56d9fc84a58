package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/wardenhq/warden/approvals"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/masking"
	"github.com/wardenhq/warden/policy"
)

// Grant is an authorized operation: what it may do, as whom, and the
// gate, masking and record the front door must use while it carries it
// out through the connector. Finish must be called exactly once.
type Grant struct {
	Decision policy.Decision
	// Facts is the statement's classification (empty without one).
	Facts policy.Facts
	// Credential is what the operation runs as, when Operation.Credential
	// asked for one.
	Credential connectors.Credential
	// Timeout is the operation's time limit: the decision's, or the
	// configured default.
	Timeout time.Duration
	// MaxRows is the deciding rule's row limit; 0: none.
	MaxRows int

	o        *op
	finished bool
}

// Gate returns once the operation's intent is durable, or refuses it.
// Nothing of the operation may reach the target before Gate returned nil.
func (g *Grant) Gate(ctx context.Context) error {
	o := g.o
	if err := o.intent.Wait(ctx); err != nil {
		o.s.g.logger.Error("audit intent not written; call refused", "tool", o.spec.Tool, "connection", o.ev.Connection, "err", err)
		return &Error{Code: CodeUnavailable, Rule: o.decision.Rule,
			Message: "the audit trail cannot be written, so the call was refused (Warden fails closed)",
			Hint:    "Try again later; operators: check the audit store", err: err}
	}
	return nil
}

// AuditID is the operation's audit event.
func (g *Grant) AuditID() string { return g.o.ev.ID }

// maskRequest is what masking is asked about the operation's results.
func (g *Grant) maskRequest() masking.Request {
	s := g.o.s
	req := masking.Request{
		Subject: s.caller.Principal.Subject, Groups: s.caller.Principal.Groups,
		Connection: s.connection, Profile: g.Decision.Masking, SQL: g.o.spec.Statement,
	}
	if r, ok := s.conn.(masking.SourceResolver); ok {
		req.Sources = r
	}
	return req
}

// Masker returns the row masker of a result with cols, nil when the
// decision names no masking profile (nothing to mask). An error is a
// refusal (*Error; masking cannot make the result safe) or a technical
// failure: no row may be returned either way.
func (g *Grant) Masker(ctx context.Context, cols []masking.Column) (masking.RowMasker, error) {
	if g.Decision.Masking == "" {
		return nil, nil
	}
	req := g.maskRequest()
	req.Columns = cols
	m, err := g.o.s.g.masker.For(ctx, req)
	if errors.Is(err, masking.ErrRefused) {
		return nil, &Error{Code: CodeDenied, Message: "refused by masking: " + err.Error(), err: err,
			Hint: "Select masked columns as they are (they come back masked), or leave them out"}
	}
	if err != nil {
		return nil, fmt.Errorf("masking: %w", err)
	}
	return m, nil
}

// MaskError keeps masked values out of a target's error about the
// operation (PostgreSQL quotes values in many errors): err as the client
// may see it and the audit trail may keep it. Errors that are not the
// target's pass as they are.
func (g *Grant) MaskError(ctx context.Context, err error) error {
	var tge *connectors.TargetError
	if g.Decision.Masking == "" || !errors.As(err, &tge) {
		return err
	}
	em, ok := g.o.s.g.masker.(masking.ErrorMasker)
	if !ok {
		return err
	}
	msg, detail, hint := em.MaskError(ctx, g.maskRequest(), tge.Code, tge.Message, tge.Detail, tge.Hint)
	return connectors.NewTargetError(tge.Code, msg, detail, hint, errors.Unwrap(tge))
}

// Finish records the outcome, and tells the hold stage how an approved
// operation ended. It returns the *Error a failed operation is reported
// with (nil when it succeeded). Only the first Finish counts.
//
// The outcome is durable when Finish returns (Intent.Complete: a journal
// append, no wait for a commit), so a crash after the front door sent the
// answer cannot leave the call's event running. If it cannot be made
// durable, Finish returns a CodeUnavailable error instead of the
// operation's own result or error: the front door must send that, not
// the result.
func (g *Grant) Finish(ctx context.Context, out Outcome) *Error {
	if g.finished {
		if out.Err != nil {
			return targetError(out.Err)
		}
		return nil
	}
	g.finished = true
	o := g.o
	o.ev.Rows, o.ev.Truncated, o.ev.Masked = out.Rows, out.Truncated, out.Masked
	if out.Err != nil {
		var e *Error
		errors.As(g.fail(ctx, out.Err), &e)
		return e
	}
	o.ev.Status = "ok"
	if out.Failed != "" {
		o.ev.Status, o.ev.Error = "failed", out.Failed
	}
	if e := g.complete(ctx); e != nil {
		return e
	}
	return nil
}

// fail completes the record of an operation that failed.
func (g *Grant) fail(ctx context.Context, err error) error {
	g.finished = true
	o := g.o
	e := targetError(err)
	e.Rule = o.decision.Rule
	o.ev.Status = "failed"
	if e.Code == CodeInternal {
		o.ev.Status = "error"
	}
	o.ev.Error = e.Message
	if ue := g.complete(ctx); ue != nil {
		return ue
	}
	if o.intent.Wait(context.WithoutCancel(ctx)) == nil {
		e.AuditID = o.ev.ID
	}
	return e
}

// complete makes the outcome in o.ev durable. It returns the error the
// call must be answered with when it cannot be.
func (g *Grant) complete(ctx context.Context) *Error {
	o := g.o
	o.ev.Duration = time.Since(o.start)
	defer g.finishApproval(ctx)
	// Without a committed intent there is no event to complete: the call
	// was refused at the gate and never reached the target.
	if o.intent.Wait(context.WithoutCancel(ctx)) != nil {
		return nil
	}
	err := o.intent.Complete(o.ev)
	if err == nil {
		return nil
	}
	o.s.g.logger.Error("audit outcome not written; result withheld", "event", o.ev.ID, "status", o.ev.Status, "err", err)
	return &Error{Code: CodeUnavailable, Rule: o.decision.Rule, AuditID: o.ev.ID,
		Message: "the call ran, but its outcome could not be written to the audit trail, so its result is withheld (Warden fails closed)",
		Hint:    "Check whether the call took effect before you retry it; operators: check the audit store", err: err}
}

// finishApproval tells the holder how an operation it released ended.
func (g *Grant) finishApproval(ctx context.Context) {
	o := g.o
	if o.ev.Approval == "" || o.decision.Effect != policy.Review || o.intent == nil {
		return
	}
	if f, ok := o.s.g.holder.(approvals.Finisher); ok {
		f.Finished(ctx, o.ev.Approval, approvals.Result{OK: o.ev.Status == "ok", AuditID: o.ev.ID, Error: o.ev.Error})
	}
}

// Started is when the operation was asked for.
func (g *Grant) Started() time.Time { return g.o.start }

// Stream returns the writer an operation's text output (a command's
// stdout or stderr) goes through on its way to w: masked by the
// decision's profile's detectors as it streams. Close it to flush what it
// holds back. A masker that cannot mask streams refuses the operation
// when the decision names a profile (fail closed).
func (g *Grant) Stream(ctx context.Context, w io.Writer) (masking.StreamWriter, error) {
	sm, ok := g.o.s.g.masker.(masking.StreamMasker)
	if !ok {
		if g.Decision.Masking != "" {
			return nil, &Error{Code: CodeDenied, Rule: g.Decision.Rule,
				Message: "refused by masking: this Warden's masker cannot mask streamed output"}
		}
		sm = masking.None{}
	}
	return sm.Stream(ctx, g.maskRequest(), w)
}
