package tools

import (
	"context"
	hexenc "encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/wardenhq/warden/approvals"
	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/internal/jsonenc"
	"github.com/wardenhq/warden/masking"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/policy/sqlclass"
)

// The entry points of wire-protocol proxies (package proxy). A proxy client
// connection is one ProxySession; each statement it sends is one governed
// call of the run_query tool — classified, decided by the same rules, held,
// recorded before it reaches the target — which the proxy executes on its
// own upstream connection, as the credential the call names, and whose
// outcome it reports back.

// Audit tools of proxy session events.
const (
	ToolProxyConnect    = "proxy.connect"
	ToolProxyDisconnect = "proxy.disconnect"
)

// ProxySession is one client connection of a wire-protocol proxy: an audit
// session, and the credentials minted for it, revoked when it ends.
type ProxySession struct {
	p          *Pipeline
	caller     Caller
	connection string
	conn       connectors.Connector
	start      time.Time

	mu    sync.Mutex
	creds map[string]*proxyCred // by rule: a rule's grants do not depend on the statement
	done  chan struct{}
	ended bool
}

// proxyCred is a credential minted for the session and when it was last
// asked for: the mint stage revokes a session's credential unused for its
// idle timeout, so the session asks again while the client is connected.
type proxyCred struct {
	req  MintRequest
	cred connectors.Credential
	used time.Time
}

// touchEvery is how often a live proxy session renews its credentials'
// use, well under any idle timeout.
const touchEvery = time.Minute

// OpenProxySession admits caller to connection: a decision without a
// statement (the connection-level one describe_schema gets) must not deny.
// It records the connection and mints the session's first credential,
// returned with the decision for the proxy to log in with.
func (p *Pipeline) OpenProxySession(ctx context.Context, caller Caller, connection string) (*ProxySession, connectors.Credential, policy.Decision, error) {
	o := p.newOp(caller, ToolProxyConnect, connection, nil, "")
	conn, ok := p.conns[connection]
	if !ok {
		return nil, connectors.Credential{}, policy.Decision{}, o.refuse(ctx, "invalid", newError(CodeNotFound, "", "no connection named %q", connection))
	}
	if _, ok := conn.(connectors.SQL); !ok || conn.Info().Kind != "postgres" {
		return nil, connectors.Credential{}, policy.Decision{}, o.refuse(ctx, "invalid", newError(CodeInvalidArgument, "", "connection %q is not a PostgreSQL connection", connection))
	}
	info := conn.Info()
	d, err := p.decider.Decide(ctx, policy.Input{
		Subject: caller.Principal.Subject, Groups: caller.Principal.Groups,
		Connection: policy.Connection{Name: info.Name, Kind: info.Kind, Labels: info.Labels},
		Tool:       ToolRunQuery,
	})
	if err != nil {
		return nil, connectors.Credential{}, policy.Decision{}, o.refuse(ctx, "error", &Error{Code: CodeInternal,
			Message: "the policy could not be evaluated, so the connection was refused (Warden fails closed)", err: err})
	}
	o.decision = d
	o.ev.Decision, o.ev.Rule, o.ev.Reason = string(d.Effect), d.Rule, d.Reason
	if d.Effect == policy.Deny {
		return nil, connectors.Credential{}, d, o.refuse(ctx, "denied", &Error{Code: CodeDenied, Rule: d.Rule, Message: "refused by policy: " + d.Reason})
	}
	s := &ProxySession{p: p, caller: caller, connection: connection, conn: conn, start: o.start,
		creds: map[string]*proxyCred{}, done: make(chan struct{})}
	cred, err := s.mint(ctx, d)
	if err != nil {
		return nil, connectors.Credential{}, d, o.refuse(ctx, "error", &Error{Code: CodeUnavailable, Rule: d.Rule,
			Message: "no credential could be issued for this connection", err: err})
	}
	o.ev.Credential = credentialLabel(cred)
	o.ev.Status = audit.StatusOK
	o.ev.Duration = time.Since(o.start)
	if err := p.recorder.Record(ctx, o.ev); err != nil {
		s.End(context.WithoutCancel(ctx), "")
		return nil, connectors.Credential{}, d, &Error{Code: CodeUnavailable,
			Message: "the audit trail cannot be written, so the connection was refused (Warden fails closed)", err: err}
	}
	go s.keepAlive()
	return s, cred, d, nil
}

// Caller returns who the session is.
func (s *ProxySession) Caller() Caller { return s.caller }

// Connection returns the session's connection name.
func (s *ProxySession) Connection() string { return s.connection }

// mint returns the credential a decision runs with, minting it once per
// rule: the grants of a decision are the rule's.
func (s *ProxySession) mint(ctx context.Context, d policy.Decision) (connectors.Credential, error) {
	key := d.Rule
	now := time.Now()
	s.mu.Lock()
	c := s.creds[key]
	if c != nil && now.Sub(c.used) < touchEvery {
		s.mu.Unlock()
		return c.cred, nil
	}
	s.mu.Unlock()
	req := MintRequest{Session: s.caller.Session, Subject: s.caller.Principal.Subject, Connection: s.connection, Decision: d}
	cred, err := s.p.minter.Mint(ctx, req)
	if err != nil {
		return connectors.Credential{}, err
	}
	s.mu.Lock()
	s.creds[key] = &proxyCred{req: req, cred: cred, used: now}
	s.mu.Unlock()
	return cred, nil
}

// keepAlive renews the use of the session's credentials until it ends, so
// that a connected client keeps its role however long it idles (the
// credential's ttl still bounds it).
func (s *ProxySession) keepAlive() {
	t := time.NewTicker(touchEvery)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		s.mu.Lock()
		reqs := make([]MintRequest, 0, len(s.creds))
		for _, c := range s.creds {
			reqs = append(reqs, c.req)
		}
		s.mu.Unlock()
		for _, r := range reqs {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if _, err := s.p.minter.Mint(ctx, r); err != nil {
				s.p.logger.Warn("proxy session: renew credential", "session", s.caller.Session, "err", err)
			}
			cancel()
		}
	}
}

// End ends the session: its credentials are revoked and the disconnection
// recorded, with reason (empty for a client that said goodbye).
func (s *ProxySession) End(ctx context.Context, reason string) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	close(s.done)
	s.mu.Unlock()
	s.p.EndSession(ctx, s.caller.Session)
	o := s.p.newOp(s.caller, ToolProxyDisconnect, s.connection, nil, "")
	o.ev.Status, o.ev.Error, o.ev.Duration = audit.StatusOK, reason, time.Since(s.start)
	if err := s.p.recorder.Record(ctx, o.ev); err != nil {
		s.p.logger.Error("audit proxy disconnection", "session", s.caller.Session, "err", err)
	}
}

// ProxyStatement is one SQL statement a client sent, classified.
type ProxyStatement struct {
	// SQL is the statement's own text.
	SQL   string
	Facts sqlclass.Facts
}

// Tag is the statement's command tag as the classifier names it.
func (st *ProxyStatement) Tag() string {
	if len(st.Facts.Statements) == 0 {
		return ""
	}
	return st.Facts.Statements[0].Tag
}

// Has reports whether the statement shows kind k.
func (st *ProxyStatement) Has(k sqlclass.Kind) bool {
	for _, x := range st.Facts.Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// Classify splits sql into its statements and classifies each. SQL that
// cannot be classified is refused — recorded, and returned as an *Error
// whose cause unwraps to sqlclass.ErrUnparseable or ErrUnsupported.
// Empty SQL (nothing but spaces and comments) has no statements.
func (s *ProxySession) Classify(ctx context.Context, sql string) ([]ProxyStatement, error) {
	if len(sql) > s.p.limits.MaxSQLBytes {
		o := s.p.newOp(s.caller, ToolRunQuery, s.connection, nil, sql)
		return nil, o.refuse(ctx, "invalid", newError(CodeInvalidArgument, "Send a shorter statement",
			"the SQL is %d bytes, over this Warden's limit of %d bytes", len(sql), s.p.limits.MaxSQLBytes))
	}
	if !utf8.ValidString(sql) {
		o := s.p.newOp(s.caller, ToolRunQuery, s.connection, nil, "")
		return nil, o.refuse(ctx, "invalid", newError(CodeInvalidArgument, "", "the SQL is not valid UTF-8 text"))
	}
	if isBlankSQL(sql) {
		return nil, nil
	}
	facts, err := s.p.classify(ctx, s.conn, sql)
	if err != nil {
		return nil, s.refuseClassification(ctx, sql, err)
	}
	if len(facts.Statements) == 1 {
		return []ProxyStatement{{SQL: sql, Facts: facts}}, nil
	}
	out := make([]ProxyStatement, 0, len(facts.Statements))
	for _, st := range facts.Statements {
		text := sql[st.Location : st.Location+st.Length]
		f, err := s.p.classify(ctx, s.conn, text)
		if err != nil {
			return nil, s.refuseClassification(ctx, text, err)
		}
		out = append(out, ProxyStatement{SQL: text, Facts: f})
	}
	return out, nil
}

func (s *ProxySession) refuseClassification(ctx context.Context, sql string, err error) error {
	o := s.p.newOp(s.caller, ToolRunQuery, s.connection, nil, sql)
	o.ev.Decision, o.ev.Reason = string(policy.Deny), err.Error()
	var ce *sqlclass.Error
	if !errors.As(err, &ce) {
		s.p.logger.Error("classify statement", "connection", s.connection, "err", err)
		return o.refuse(ctx, "error", &Error{Code: CodeInternal,
			Message: "the statement could not be classified, so it was refused (Warden fails closed)", err: err})
	}
	return o.refuse(ctx, "denied", &Error{Code: CodeDenied, err: err,
		Message: "refused: Warden runs only SQL it fully understands, and " + err.Error()})
}

// isBlankSQL reports whether sql holds only white space, comments and
// semicolons: PostgreSQL answers it with EmptyQueryResponse.
func isBlankSQL(sql string) bool {
	for i := 0; i < len(sql); i++ {
		switch c := sql[i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == ';':
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			depth := 0
			for ; i+1 < len(sql); i++ {
				if sql[i] == '/' && sql[i+1] == '*' {
					depth++
					i++
				} else if sql[i] == '*' && sql[i+1] == '/' {
					depth--
					i++
					if depth == 0 {
						break
					}
				}
			}
			if depth != 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// Param is one bound parameter of a statement, for the audit record and
// the approval digest: text as sent, binary as hex; Null for NULL.
type Param struct {
	Value  []byte
	Binary bool
}

// StatementRequest is one execution of a statement.
type StatementRequest struct {
	Statement *ProxyStatement
	Params    []Param
	// OnHold, when set, is told (repeatedly) that the statement waits for
	// a human decision; the message names the approval request.
	OnHold func(message string)
	// HoldContext, when set, gives the context a hold of the statement
	// waits in, and a release called when the hold ends. It is called only
	// when the decision holds the statement, so that the common case
	// builds nothing for it.
	HoldContext func(ctx context.Context) (context.Context, func())
}

// StatementCall is one statement execution in flight: decided, released
// by the hold stage if it needed to be, its intent submitted. The proxy
// runs it as Credential, after Gate, and reports how it ended with Finish.
type StatementCall struct {
	s        *ProxySession
	o        *op
	sql      string
	Decision policy.Decision
	// Timeout is the statement timeout: the decision's, or the configured
	// default.
	Timeout time.Duration
	// MaxRows is the row limit of the deciding rule; 0: none.
	MaxRows int
}

// Statement runs the decide and hold stages for one execution and submits
// its intent. A refusal is recorded and returned as an *Error; when the
// hold stage did not release the call, its cause is a *PendingApproval
// naming the request.
func (s *ProxySession) Statement(ctx context.Context, req StatementRequest) (*StatementCall, error) {
	st := req.Statement
	o := s.p.newOp(s.caller, ToolRunQuery, s.connection, proxyArgs(s.connection, st.SQL, req.Params), st.SQL)
	if req.OnHold != nil || req.HoldContext != nil {
		o.holdContext = func(ctx context.Context) (context.Context, func()) {
			release := func() {}
			if req.HoldContext != nil {
				ctx, release = req.HoldContext(ctx)
			}
			if req.OnHold != nil {
				ctx = approvals.WithProgress(ctx, func(_, _ float64, msg string) { req.OnHold(msg) })
			}
			return ctx, release
		}
	}
	o.facts = &st.Facts
	if err := o.authorize(ctx, st.SQL); err != nil {
		return nil, err
	}
	c := &StatementCall{s: s, o: o, sql: st.SQL, Decision: o.decision, Timeout: s.p.limits.StatementTimeout, MaxRows: o.decision.MaxRows}
	if o.decision.Timeout > 0 {
		c.Timeout = o.decision.Timeout
	}
	return c, nil
}

// Control records a statement the proxy handles itself (transaction
// control: BEGIN, COMMIT, ROLLBACK, SAVEPOINT), which policy never admits
// from a client because the proxy must keep the transaction's shape. It
// reaches the target, if at all, as the proxy's own statement; the intent
// is submitted all the same.
func (s *ProxySession) Control(ctx context.Context, sql, reason string) *StatementCall {
	o := s.p.newOp(s.caller, ToolRunQuery, s.connection, proxyArgs(s.connection, sql, nil), sql)
	o.conn = s.conn
	o.decision = policy.Decision{Effect: policy.Allow, Reason: reason}
	o.ev.Decision, o.ev.Reason = string(policy.Allow), reason
	o.intent = s.p.recorder.BeginAsync(o.ev)
	return &StatementCall{s: s, o: o, sql: sql, Decision: o.decision}
}

// Refuse records a statement the proxy refuses itself (a protocol feature
// Warden does not carry, such as COPY FROM STDIN) and returns the *Error.
func (s *ProxySession) Refuse(ctx context.Context, sql string, code Code, message string) error {
	o := s.p.newOp(s.caller, ToolRunQuery, s.connection, proxyArgs(s.connection, sql, nil), sql)
	o.ev.Decision, o.ev.Reason = string(policy.Deny), message
	return o.refuse(ctx, "denied", &Error{Code: code, Message: message})
}

// Credential returns what the call runs as: the credential minted for the
// session and the deciding rule.
func (c *StatementCall) Credential(ctx context.Context) (connectors.Credential, error) {
	cred, err := c.s.mint(ctx, c.Decision)
	if err != nil {
		return connectors.Credential{}, &Error{Code: CodeUnavailable, Message: "no credential could be issued for this call", err: err}
	}
	c.o.ev.Credential = credentialLabel(cred)
	return cred, nil
}

// Gate returns once the call's intent is durable, or refuses it. The
// statement must not reach the target before Gate returned nil.
func (c *StatementCall) Gate(ctx context.Context) error { return c.o.gate(ctx) }

// AuditID is the call's audit event.
func (c *StatementCall) AuditID() string { return c.o.ev.ID }

// Masker returns the row masker of the call's result, nil when the
// decision names no masking profile (nothing to mask). An error is a
// refusal (*Error; masking cannot make the result safe) or a technical
// failure: no row may be returned either way.
func (c *StatementCall) Masker(ctx context.Context, cols []masking.Column) (masking.RowMasker, error) {
	if c.Decision.Masking == "" {
		return nil, nil
	}
	req := masking.Request{
		Subject: c.s.caller.Principal.Subject, Groups: c.s.caller.Principal.Groups,
		Connection: c.s.connection, Profile: c.Decision.Masking, Columns: cols, SQL: c.sql,
	}
	if r, ok := c.s.conn.(masking.SourceResolver); ok {
		req.Sources = r
	}
	m, err := c.s.p.masker.For(ctx, req)
	if errors.Is(err, masking.ErrRefused) {
		return nil, &Error{Code: CodeDenied, Message: "refused by masking: " + err.Error(), err: err,
			Hint: "Select masked columns as they are (they come back masked), or leave them out"}
	}
	if err != nil {
		return nil, fmt.Errorf("masking: %w", err)
	}
	return m, nil
}

// Outcome is how an executed statement ended.
type Outcome struct {
	Rows      int64
	Truncated bool
	Masked    map[string]int64
	// Err is the target's error (*connectors.TargetError) or the proxy's.
	Err error
}

// Finish records the outcome. It returns the *Error a failed call is
// reported with (nil when it succeeded).
func (c *StatementCall) Finish(ctx context.Context, out Outcome) *Error {
	c.o.ev.Rows, c.o.ev.Truncated, c.o.ev.Masked = out.Rows, out.Truncated, out.Masked
	if out.Err != nil {
		var e *Error
		errors.As(c.o.fail(ctx, out.Err), &e)
		return e
	}
	c.o.succeed(ctx)
	return nil
}

// proxyArgs are the recorded arguments of a proxy statement: the exact
// call, for the audit trail and the approval digest (parameters included:
// an approval releases one statement with one set of values).
func proxyArgs(connection, sql string, params []Param) []byte {
	b := make([]byte, 0, len(sql)+len(connection)+32+16*len(params))
	b = append(b, `{"connection":`...)
	b = jsonenc.AppendString(b, connection)
	b = append(b, `,"sql":`...)
	b = jsonenc.AppendString(b, sql)
	if len(params) > 0 {
		b = append(b, `,"params":[`...)
		for i, p := range params {
			if i > 0 {
				b = append(b, ',')
			}
			switch {
			case p.Value == nil:
				b = append(b, "null"...)
			case p.Binary:
				b = append(b, `{"binary":"`...)
				b = hexenc.AppendEncode(b, p.Value)
				b = append(b, `"}`...)
			case utf8.Valid(p.Value):
				b = jsonenc.AppendString(b, string(p.Value))
			default:
				b = append(b, `{"bytes":`...)
				b = strconv.AppendQuote(b, hexenc.EncodeToString(p.Value))
				b = append(b, '}')
			}
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// MayWrite reports whether any rule could let run_query write, so that a
// proxy knows whether a client's transaction may need to be writable.
func (p *Pipeline) MayWrite() bool {
	if w, ok := p.decider.(interface{ AllowsWrites(tool string) bool }); ok {
		return w.AllowsWrites(ToolRunQuery)
	}
	return true
}

// StatementTimeout is the configured default statement timeout, which a
// proxy sets on its upstream sessions; decisions may ask for another.
func (s *ProxySession) StatementTimeout() time.Duration { return s.p.limits.StatementTimeout }

// MaskError keeps masked values out of a target error about the call (PostgreSQL
// quotes values in many errors): what of code, message, detail and hint
// the client may see and the audit trail may keep.
func (c *StatementCall) MaskError(ctx context.Context, code, message, detail, hint string) (string, string, string) {
	if c.Decision.Masking == "" {
		return message, detail, hint
	}
	err := c.s.p.maskTargetError(ctx, masking.Request{Subject: c.s.caller.Principal.Subject, Groups: c.s.caller.Principal.Groups,
		Connection: c.s.connection, Profile: c.Decision.Masking, SQL: c.sql},
		connectors.NewTargetError(code, message, detail, hint, nil))
	var tge *connectors.TargetError
	if errors.As(err, &tge) {
		return tge.Message, tge.Detail, tge.Hint
	}
	return "the database's error message is withheld (masking)", "", ""
}
