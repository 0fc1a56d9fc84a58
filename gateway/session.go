package gateway

import (
	"context"
	"errors"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/credentials"
	"github.com/wardenhq/warden/policy"
)

// Audit tools of a proxy session's own events.
const (
	ToolProxyConnect    = "proxy.connect"
	ToolProxyDisconnect = "proxy.disconnect"
)

// Session is a caller's use of one connection: the MCP call's, or a proxy
// client connection's from Open to End. Its operations share the session's
// credentials (minted per deciding rule) and its audit session id.
type Session struct {
	g          *Gateway
	caller     Caller
	connection string
	conn       connectors.Connector // nil: no such connection
	start      time.Time

	// An opened session keeps its credentials, renewed while it lives.
	opened bool
	mu     sync.Mutex
	creds  map[string]*sessionCred // by rule: a rule's grants do not depend on the statement
	done   chan struct{}
	ended  bool
}

// sessionCred is a credential minted for an opened session and when it
// was last asked for: the mint stage revokes a session's credential
// unused for its idle timeout, so the session asks again while it lives.
type sessionCred struct {
	req  credentials.Request
	cred connectors.Credential
	used time.Time
}

// touchEvery is how often an opened session renews its credentials' use,
// well under any idle timeout.
const touchEvery = time.Minute

// Session returns the session of one call of caller on connection (an
// MCP call): nothing is recorded until an operation is. A connection that
// does not exist is refused by Authorize.
func (g *Gateway) Session(caller Caller, connection string) *Session {
	s := &Session{g: g, caller: caller, connection: connection, start: time.Now()}
	s.conn, _ = g.Connection(connection)
	return s
}

// Admission is what Open decided for a session.
type Admission struct {
	// Decision is the connection-level decision of the session's tool
	// (no statement), which must not deny.
	Decision policy.Decision
	// Credential is the session's first credential, for the front door to
	// log in to the target with; none for a connector that mints per
	// operation (connectors.ScopedGranter: each operation's Require).
	Credential connectors.Credential
}

// Open admits caller to connection for a session of operations of tool
// (a proxy client connection): a decision without a statement (the
// connection-level one describe_schema gets) must not deny. It records
// the connection (proxy.connect) and mints the session's first
// credential (except for a connector that mints per operation's scope).
// End must be called when the session ends.
func (g *Gateway) Open(ctx context.Context, caller Caller, connection, tool string) (*Session, Admission, error) {
	s := g.Session(caller, connection)
	o := s.newOp(Operation{Tool: ToolProxyConnect})
	if s.conn == nil {
		return nil, Admission{}, o.refuse(ctx, "invalid", newError(CodeNotFound, "", "no connection named %q", connection))
	}
	d, err := g.decider.Decide(ctx, s.input(tool, "", nil))
	if err != nil {
		return nil, Admission{}, o.refuse(ctx, "error", &Error{Code: CodeInternal,
			Message: "the policy could not be evaluated, so the connection was refused (Warden fails closed)", err: err})
	}
	o.decision = d
	o.ev.Decision, o.ev.Rule, o.ev.Reason = string(d.Effect), d.Rule, d.Reason
	if d.Effect == policy.Deny {
		return nil, Admission{Decision: d}, o.refuse(ctx, "denied", &Error{Code: CodeDenied, Rule: d.Rule, Message: "refused by policy: " + d.Reason})
	}
	s.opened, s.creds, s.done = true, map[string]*sessionCred{}, make(chan struct{})
	// A connector that mints per operation's scope (a cluster) has
	// nothing to mint before the first operation says what it needs.
	var cred connectors.Credential
	_, scoped := s.conn.(connectors.ScopedGranter)
	if !scoped {
		cred, err = s.mint(ctx, d, nil)
	}
	if err != nil {
		return nil, Admission{Decision: d}, o.refuse(ctx, "error", &Error{Code: CodeUnavailable, Rule: d.Rule,
			Message: "no credential could be issued for this connection", err: err})
	}
	if !scoped {
		o.ev.Credential = CredentialLabel(cred)
	}
	o.ev.Status = audit.StatusOK
	o.ev.Duration = time.Since(o.start)
	if err := g.recorder.Record(ctx, o.ev); err != nil {
		s.End(context.WithoutCancel(ctx), "")
		return nil, Admission{Decision: d}, &Error{Code: CodeUnavailable,
			Message: "the audit trail cannot be written, so the connection was refused (Warden fails closed)", err: err}
	}
	go s.keepAlive()
	return s, Admission{Decision: d, Credential: cred}, nil
}

// Caller returns who the session is.
func (s *Session) Caller() Caller { return s.caller }

// Connection returns the session's connection name.
func (s *Session) Connection() string { return s.connection }

// Connector returns the session's connector (nil if the connection does
// not exist).
func (s *Session) Connector() connectors.Connector { return s.conn }

// Limits are the gateway's limits.
func (s *Session) Limits() config.Limits { return s.g.limits }

// input is what policy decides for an operation of the session.
func (s *Session) input(tool, statement string, facts *policy.Facts) policy.Input {
	in := policy.Input{
		Subject:   s.caller.Principal.Subject,
		Groups:    s.caller.Principal.Groups,
		Tool:      tool,
		Transport: s.caller.Transport,
		Statement: statement,
		Facts:     facts,
	}
	if s.conn != nil {
		info := s.conn.Info()
		in.Connection = policy.Connection{Name: info.Name, Kind: info.Kind, Labels: info.Labels}
		if cl := s.classifier(); cl != nil {
			in.Connection.Namespace = cl.Namespace()
		}
	}
	return in
}

// classifier is the connector's, nil for a connector without statements.
func (s *Session) classifier() policy.Classifier {
	if c, ok := s.conn.(connectors.Classifying); ok {
		return c.Classifier()
	}
	return nil
}

// mint returns the credential a decision runs with. An opened session
// mints once per rule (a decision's grants are its rule's) and asks again
// after touchEvery, so that the mint stage sees the credential used.
func (s *Session) mint(ctx context.Context, d policy.Decision, require connectors.Grants) (connectors.Credential, error) {
	req := credentials.Request{Session: s.caller.Session, Subject: s.caller.Principal.Subject, Connection: s.connection, Decision: d, Require: require}
	if !s.opened {
		return s.g.minter.Mint(ctx, req)
	}
	key := d.Rule
	if require != nil {
		key += "\x00" + require.Key()
	}
	now := time.Now()
	s.mu.Lock()
	c := s.creds[key]
	if c != nil && now.Sub(c.used) < touchEvery {
		s.mu.Unlock()
		return c.cred, nil
	}
	s.mu.Unlock()
	cred, err := s.g.minter.Mint(ctx, req)
	if err != nil {
		return connectors.Credential{}, err
	}
	s.mu.Lock()
	s.creds[key] = &sessionCred{req: req, cred: cred, used: now}
	s.mu.Unlock()
	return cred, nil
}

// keepAlive renews the use of an opened session's credentials until it
// ends, so that a connected client keeps its role however long it idles
// (the credential's ttl still bounds it).
func (s *Session) keepAlive() {
	t := time.NewTicker(touchEvery)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		s.mu.Lock()
		reqs := make([]credentials.Request, 0, len(s.creds))
		for _, c := range s.creds {
			reqs = append(reqs, c.req)
		}
		s.mu.Unlock()
		for _, r := range reqs {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if _, err := s.g.minter.Mint(ctx, r); err != nil {
				s.g.logger.Warn("session: renew credential", "session", s.caller.Session, "err", err)
			}
			cancel()
		}
	}
}

// End ends an opened session: its credentials are revoked and the
// disconnection recorded, with reason (empty for a client that said
// goodbye). Ending twice does nothing.
func (s *Session) End(ctx context.Context, reason string) {
	s.mu.Lock()
	if !s.opened || s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	close(s.done)
	s.mu.Unlock()
	s.g.EndSession(ctx, s.caller.Session)
	o := s.newOp(Operation{Tool: ToolProxyDisconnect})
	o.ev.Status, o.ev.Error, o.ev.Duration = audit.StatusOK, reason, time.Since(s.start)
	if err := s.g.recorder.Record(ctx, o.ev); err != nil {
		s.g.logger.Error("audit session end", "session", s.caller.Session, "err", err)
	}
}

// Classify classifies op.Statement with the connector's classifier. A
// statement that cannot be classified (too long, not UTF-8, not
// understood) is refused: recorded under op.Tool, and returned as an
// *Error whose cause is the classifier's.
func (s *Session) Classify(ctx context.Context, op Operation) (policy.Facts, error) {
	limit := s.g.limits.MaxSQLBytes
	switch {
	case len(op.Statement) > limit:
		return policy.Facts{}, s.newOp(op).refuse(ctx, "invalid", newError(CodeInvalidArgument, "Send a shorter statement",
			"the SQL is %d bytes, over this Warden's limit of %d bytes", len(op.Statement), limit))
	case !utf8.ValidString(op.Statement):
		op.Statement = ""
		return policy.Facts{}, s.newOp(op).refuse(ctx, "invalid", newError(CodeInvalidArgument, "", "the SQL is not valid UTF-8 text"))
	}
	if s.conn == nil {
		return policy.Facts{}, s.newOp(op).refuse(ctx, "invalid", notFound(s.connection))
	}
	if err := s.lacks(op.Needs); err != nil {
		return policy.Facts{}, s.newOp(op).refuse(ctx, "invalid", err)
	}
	// Most statements are understood: the operation (and its audit event)
	// is made only for a refusal.
	f, err := s.classify(ctx, op.Statement)
	if err != nil {
		return policy.Facts{}, s.newOp(op).refuseClassification(ctx, err)
	}
	return f, nil
}

// Refuse records an operation the front door refuses itself (a protocol
// feature Warden does not carry) and returns the *Error.
func (s *Session) Refuse(ctx context.Context, op Operation, code Code, message string) error {
	o := s.newOp(op)
	o.ev.Decision, o.ev.Reason = string(policy.Deny), message
	return o.refuse(ctx, "denied", &Error{Code: code, Message: message})
}

// Invalid records an operation refused for bad input and returns e with
// the event's id.
func (s *Session) Invalid(ctx context.Context, op Operation, e *Error) error {
	return s.newOp(op).refuse(ctx, audit.StatusInvalid, e)
}

// Reject records an operation the front door refused, with its status
// (denied, invalid, error) and the decision that refused it, if any, and
// returns e with the event's id.
func (s *Session) Reject(ctx context.Context, op Operation, status string, d policy.Decision, e *Error) error {
	o := s.newOp(op)
	o.ev.Decision, o.ev.Rule, o.ev.Reason = string(d.Effect), d.Rule, d.Reason
	if e.Rule == "" {
		e.Rule = d.Rule
	}
	return o.refuse(ctx, status, e)
}

// Control records an operation the front door carries out itself without
// policy (a proxy's transaction control, which policy never admits from
// a client because the proxy keeps the transaction's shape), allowed for
// reason. Its intent is submitted as for any operation: the front door
// must pass the Grant's gate before anything reaches the target, and
// finish it.
func (s *Session) Control(ctx context.Context, op Operation, reason string) *Grant {
	o := s.newOp(op)
	o.decision = policy.Decision{Effect: policy.Allow, Reason: reason}
	o.ev.Decision, o.ev.Reason = string(policy.Allow), reason
	o.intent = s.g.recorder.BeginAsync(o.ev)
	return o.grant()
}

// Record records an operation the front door decided with d and carried
// out itself (list_connections, approval_status), complete, and returns
// its audit event's id. Its error is the audit trail's: the operation's
// result must not be returned then.
func (s *Session) Record(ctx context.Context, op Operation, d policy.Decision, out Outcome) (string, error) {
	o := s.newOp(op)
	o.ev.Decision, o.ev.Rule, o.ev.Reason = string(d.Effect), d.Rule, d.Reason
	o.ev.Status, o.ev.Rows = audit.StatusOK, out.Rows
	o.ev.Duration = time.Since(o.start)
	if err := s.g.recorder.Record(ctx, o.ev); err != nil {
		return "", &Error{Code: CodeUnavailable, Message: "the audit trail cannot be written, so the call was refused (Warden fails closed)", err: err}
	}
	return o.ev.ID, nil
}

// Authorize runs the decide and hold stages for op and, when it may run,
// submits its intent and mints its credential (op.Credential). A refusal
// is recorded and returned as an *Error; when the hold stage did not
// release the operation, its cause is a *PendingApproval naming the
// request.
func (s *Session) Authorize(ctx context.Context, op Operation) (*Grant, error) {
	o := s.newOp(op)
	if err := o.authorize(ctx); err != nil {
		return nil, err
	}
	gr := o.grant()
	if op.Credential {
		cred, err := s.mint(ctx, o.decision, op.Require)
		if err != nil {
			return nil, gr.fail(ctx, &Error{Code: CodeUnavailable, Message: "no credential could be issued for this call", err: err})
		}
		gr.Credential = cred
		o.ev.Credential = CredentialLabel(cred)
	}
	return gr, nil
}

// StaticCredentialLabel marks, in every audit event, a call that ran with
// a connection's shared configured credential instead of a just-in-time one.
const StaticCredentialLabel = "static (shared, weaker)"

// CredentialLabel is how the audit trail names a credential: its lease,
// or the static label.
func CredentialLabel(c connectors.Credential) string {
	if c.Lease != "" {
		return c.Lease
	}
	return StaticCredentialLabel
}

// lacks refuses an operation that needs a capability the session's
// connector does not have.
func (s *Session) lacks(k connectors.Capability) *Error {
	if k == "" || connectors.Has(s.conn, k) {
		return nil
	}
	return newError(CodeInvalidArgument, "Call list_connections to see which tools each connection takes",
		"connection %q (%s) does not take this tool: it has no %s capability", s.connection, s.conn.Info().Kind, k)
}

func notFound(name string) *Error {
	return newError(CodeNotFound, "Call list_connections to see the connections you may use", "no connection named %q", name)
}

var errNoClassifier = errors.New("the connection has no classifier for statements")
