package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/wardenhq/warden/approvals"
	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/masking"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/policy/sqlclass"
	mysqlclass "github.com/wardenhq/warden/policy/sqlclass/mysql"
)

// Transports a call can arrive on.
const (
	TransportStdio = "stdio"
	TransportHTTP  = "http"
	TransportProxy = "proxy"
)

// Caller is an identified caller, as the front door established it.
type Caller struct {
	Principal identity.Principal
	Transport string
	// Session groups calls for credentials and audit: the MCP session, the
	// stdio process, or the proxy client connection.
	Session string
}

// Options wires the stages of a Pipeline.
type Options struct {
	Connections map[string]connectors.Connector
	Decider     Decider
	Holder      approvals.Holder // default: approvals.Disabled
	Minter      Minter           // default: StaticCredentials
	Masker      masking.Masker   // default: masking.None
	Recorder    Recorder
	Limits      config.Limits
	Logger      *slog.Logger
}

// Pipeline runs governed operations. It is safe for concurrent use.
type Pipeline struct {
	conns    map[string]connectors.Connector
	names    []string
	decider  Decider
	holder   approvals.Holder
	minter   Minter
	masker   masking.Masker
	recorder Recorder
	limits   config.Limits
	logger   *slog.Logger
	sqlCache *sqlclass.Cache
}

// classify learns what a statement does. Connectors that can look
// functions and types up in their catalog (sqlclass.FunctionResolver,
// sqlclass.TypeResolver) let user-defined ones be judged by what they
// declare; without that, an unknown function makes a statement a write.
func (p *Pipeline) classify(ctx context.Context, conn connectors.Connector, sql string) (sqlclass.Facts, error) {
	if conn.Info().Kind == "mysql" {
		// MySQL and MariaDB have their own grammar (policy/sqlclass/mysql).
		mo := mysqlclass.Options{MaxBytes: p.limits.MaxSQLBytes}
		if r, ok := conn.(sqlclass.FunctionResolver); ok {
			mo.Functions = r
		}
		return mysqlclass.Classify(ctx, sql, mo)
	}
	opts := sqlclass.Options{Cache: p.sqlCache, MaxBytes: p.limits.MaxSQLBytes}
	if r, ok := conn.(sqlclass.FunctionResolver); ok {
		opts.Functions = r
	}
	if r, ok := conn.(sqlclass.TypeResolver); ok {
		opts.Types = r
	}
	return sqlclass.Classify(ctx, sql, opts)
}

// New builds a pipeline. Decider and Recorder are required: there is no
// default that allows, and no running without an audit trail.
func New(o Options) (*Pipeline, error) {
	if o.Decider == nil {
		return nil, errors.New("tools: a Decider is required")
	}
	if o.Recorder == nil {
		return nil, errors.New("tools: a Recorder is required")
	}
	p := &Pipeline{
		conns:    o.Connections,
		decider:  o.Decider,
		holder:   o.Holder,
		minter:   o.Minter,
		masker:   o.Masker,
		recorder: o.Recorder,
		limits:   o.Limits,
		logger:   o.Logger,
		sqlCache: sqlclass.NewCache(4096),
	}
	if p.holder == nil {
		p.holder = approvals.Disabled{}
	}
	if p.minter == nil {
		p.minter = StaticCredentials{}
	}
	if p.masker == nil {
		p.masker = masking.None{}
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	l := &p.limits
	if l.MaxSQLBytes <= 0 {
		l.MaxSQLBytes = config.DefaultMaxSQLBytes
	}
	if l.MaxRows <= 0 {
		l.MaxRows = config.DefaultMaxRows
	}
	if l.DefaultMaxRows <= 0 || l.DefaultMaxRows > l.MaxRows {
		l.DefaultMaxRows = min(config.DefaultDefaultMaxRows, l.MaxRows)
	}
	if l.StatementTimeout <= 0 {
		l.StatementTimeout = config.DefaultStatementTimeout
	}
	for n := range p.conns {
		p.names = append(p.names, n)
	}
	sort.Strings(p.names)
	return p, nil
}

// EndSession ends a session: its just-in-time credentials are revoked at
// once. Front doors call it when an MCP session closes or a client
// disconnects.
func (p *Pipeline) EndSession(ctx context.Context, session string) {
	if e, ok := p.minter.(interface {
		EndSession(context.Context, string)
	}); ok {
		e.EndSession(ctx, session)
	}
}

// Close revokes every credential the pipeline minted and closes every
// connector.
func (p *Pipeline) Close() error {
	if c, ok := p.minter.(interface{ Close(context.Context) }); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c.Close(ctx)
		cancel()
	}
	var errs []error
	for _, c := range p.conns {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// op is one governed call in flight: it carries the audit event from the
// first stage to the last.
type op struct {
	event    audit.Event // ev points here: one allocation for both
	p        *Pipeline
	caller   Caller
	tool     string
	conn     connectors.Connector
	ev       *audit.Event
	start    time.Time
	decision policy.Decision
	intent   audit.Intent
	// facts, when set, is the statement's classification, done by the
	// caller (the proxy classifies each statement once).
	facts *sqlclass.Facts
	// holdContext, when set, gives the context a hold waits in (and its
	// release), made only when a decision holds the call.
	holdContext func(context.Context) (context.Context, func())
}

func (p *Pipeline) newOp(caller Caller, tool, connection string, args json.RawMessage, statement string) *op {
	if len(args) > p.limits.MaxSQLBytes+4096 {
		args = nil // the statement (cut below) is what matters in the record
	}
	if len(statement) > p.limits.MaxSQLBytes {
		statement = statement[:p.limits.MaxSQLBytes]
	}
	now := time.Now()
	o := &op{
		p:      p,
		caller: caller,
		tool:   tool,
		start:  now,
		event: audit.Event{
			Time:       now.UTC(),
			Session:    caller.Session,
			Transport:  caller.Transport,
			Identity:   caller.Principal.Subject,
			Groups:     caller.Principal.Groups,
			Issuer:     caller.Principal.Issuer,
			TokenID:    caller.Principal.TokenID,
			Tool:       tool,
			Connection: connection,
			Arguments:  args,
			Statement:  statement,
		},
	}
	o.ev = &o.event
	return o
}

// authorize runs the decide and hold stages and, when the call may run,
// records its intent. A refusal is recorded and returned as an *Error.
func (o *op) authorize(ctx context.Context, statement string) error {
	name := o.ev.Connection
	conn, ok := o.p.conns[name]
	if !ok || name == "" {
		return o.refuse(ctx, "invalid", newError(CodeNotFound,
			"Call list_connections to see the connections you may use",
			"no connection named %q", name))
	}
	o.conn = conn
	info := conn.Info()
	facts := o.facts
	if statement != "" && facts == nil {
		f, err := o.p.classify(ctx, conn, statement)
		if err != nil {
			o.ev.Decision, o.ev.Reason = string(policy.Deny), err.Error()
			var ce *sqlclass.Error
			if !errors.As(err, &ce) {
				o.p.logger.Error("classify statement", "connection", name, "err", err)
				return o.refuse(ctx, "error", &Error{Code: CodeInternal,
					Message: "the statement could not be classified, so the call was refused (Warden fails closed)", err: err})
			}
			return o.refuse(ctx, "denied", &Error{Code: CodeDenied, err: err,
				Message: "refused: Warden runs only SQL it fully understands, and " + err.Error(),
				Hint:    "Rewrite the statement with plain SQL (one statement, no unusual constructs)"})
		}
		facts = &f
	}
	d, err := o.p.decider.Decide(ctx, policy.Input{
		Subject:    o.caller.Principal.Subject,
		Groups:     o.caller.Principal.Groups,
		Connection: policy.Connection{Name: info.Name, Kind: info.Kind, Labels: info.Labels},
		Tool:       o.tool,
		Statement:  statement,
		Facts:      facts,
	})
	if err != nil {
		o.p.logger.Error("policy evaluation failed", "tool", o.tool, "connection", name, "err", err)
		return o.refuse(ctx, "error", &Error{Code: CodeInternal,
			Message: "the policy could not be evaluated, so the call was refused (Warden fails closed)", err: err})
	}
	o.decision = d
	o.ev.Decision, o.ev.Rule, o.ev.Reason = string(d.Effect), d.Rule, d.Reason
	switch d.Effect {
	case policy.Allow:
	case policy.Review:
		hctx := ctx
		if o.holdContext != nil {
			var release func()
			hctx, release = o.holdContext(ctx)
			defer release()
		}
		out, err := o.p.holder.Hold(hctx, o.holdRequest(d, statement, facts))
		o.ev.Approval = out.ID
		if err != nil {
			return o.refuse(ctx, "error", &Error{Code: CodeInternal, Rule: d.Rule,
				Message: "the approval workflow failed, so the call was refused", err: err})
		}
		if !out.Approved {
			return o.refuse(ctx, "denied", heldError(d, out))
		}
	default:
		return o.refuse(ctx, "denied", &Error{Code: CodeDenied, Rule: d.Rule,
			Message: "refused by policy: " + d.Reason,
			Hint:    "Call list_connections to see what you may do on each connection"})
	}
	o.intent = o.p.recorder.BeginAsync(o.ev)
	return nil
}

// gate returns once the intent of the call is durable, or refuses the call.
// Connectors call it right before the call reaches the target.
func (o *op) gate(ctx context.Context) error {
	if err := o.intent.Wait(ctx); err != nil {
		o.p.logger.Error("audit intent not written; call refused", "tool", o.tool, "connection", o.ev.Connection, "err", err)
		return &Error{Code: CodeUnavailable, Rule: o.decision.Rule,
			Message: "the audit trail cannot be written, so the call was refused (Warden fails closed)",
			Hint:    "Try again later; operators: check the audit store", err: err}
	}
	return nil
}

// refuse records a call that will not run and returns err with the event id.
func (o *op) refuse(ctx context.Context, status string, e *Error) error {
	o.ev.Status = status
	o.ev.Error = e.Message
	o.ev.Duration = time.Since(o.start)
	if err := o.p.recorder.Record(ctx, o.ev); err != nil {
		o.p.logger.Error("audit event for refused call not written", "tool", o.tool, "err", err)
	} else {
		e.AuditID = o.ev.ID
	}
	return e
}

// fail completes the record of a call that ran and failed.
func (o *op) fail(ctx context.Context, err error) error {
	e := targetError(err)
	e.Rule = o.decision.Rule
	o.ev.Status = "failed"
	if e.Code == CodeInternal {
		o.ev.Status = "error"
	}
	o.ev.Error = e.Message
	o.complete(ctx)
	if o.intent.Wait(context.WithoutCancel(ctx)) == nil {
		e.AuditID = o.ev.ID
	}
	return e
}

// succeed completes the record of a call that ran.
func (o *op) succeed(ctx context.Context) {
	o.ev.Status = "ok"
	o.complete(ctx)
}

func (o *op) complete(ctx context.Context) {
	o.ev.Duration = time.Since(o.start)
	defer o.finishApproval(ctx)
	// Without a committed intent there is no event to complete: the call
	// was refused at the gate and never reached the target.
	if o.intent.Wait(context.WithoutCancel(ctx)) != nil {
		return
	}
	if err := o.intent.Complete(o.ev); err != nil {
		o.p.logger.Error("audit outcome not written", "event", o.ev.ID, "err", err)
	}
}

// targetError words an execution error for the agent.
func targetError(err error) *Error {
	var te *Error
	if errors.As(err, &te) {
		return te
	}
	var tge *connectors.TargetError
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
