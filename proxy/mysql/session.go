package mysql

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	vmysql "vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/replication"
	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/vtenv"

	"github.com/wardenhq/warden/approvals"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/budget"
	myconnector "github.com/wardenhq/warden/connectors/mysql"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/tools"
)

// session is one logged-in client connection: a gateway.Session, and the
// upstream connections its statements run on (one per credential: a
// rule's grants). vitess calls a connection's handler methods one at a
// time, on the connection's goroutine; only kill and close come from
// others.
type session struct {
	e         *Engine
	id        uint32 // the connection id the client was told (KILL names it)
	c         *vmysql.Conn
	ctx       context.Context
	log       *slog.Logger
	conn      config.Connection
	principal identity.Principal
	gs        *gateway.Session
	my        *myconnector.MySQL

	ups     map[string]*myconnector.Upstream // by credential (the session's goroutine)
	threads map[uint64]bool                  // upstream thread ids (mu)

	mu         sync.Mutex
	active     *myconnector.Upstream // running a statement
	holdCancel context.CancelFunc    // ends the wait of a held statement
	ended      bool
}

// open admits a client that logged in as p to connection: its gateway
// session opens (policy admits it, its credential is minted) and its
// first upstream connection logs in.
func (e *Engine) open(st *clientState, c *vmysql.Conn, p identity.Principal, connection string) error {
	ctx := st.ctx
	my, ok := e.myConnector(connection)
	if !ok {
		return sqlerror.NewSQLErrorf(sqlerror.ERAccessDeniedError, sqlerror.SSAccessDeniedError, "%q is not a MySQL connection of this Warden", connection)
	}
	caller := gateway.Caller{Principal: p, Transport: gateway.TransportMySQLProxy, Session: newSessionID()}
	gs, adm, err := e.o.Gateway.Open(ctx, caller, connection, tools.ToolRunQuery)
	if err != nil {
		te := gateway.AsError(err)
		if te.Code == gateway.CodeDenied {
			return sqlerror.NewSQLError(sqlerror.ERDBAccessDenied, "42000", withAudit(te.Error(), te.AuditID))
		}
		return sqlerror.NewSQLError(sqlerror.ERUnknownError, sqlerror.SSUnknownSQLState, withAudit(te.Error(), te.AuditID))
	}
	s := &session{e: e, id: c.ConnectionID, c: c, ctx: ctx, log: e.log, conn: e.conns[connection], principal: p, gs: gs, my: my,
		ups: map[string]*myconnector.Upstream{}, threads: map[uint64]bool{}}
	up, err := s.upstream(ctx, adm.Credential)
	if err != nil {
		gs.End(context.WithoutCancel(ctx), "upstream connection failed")
		if budget.IsFull(err) {
			return sqlerror.NewSQLError(sqlerror.ERConCount, "08004", "Too many connections: Warden's "+err.Error())
		}
		return sqlerror.NewSQLError(sqlerror.ERUnknownError, sqlerror.SSUnknownSQLState, "Warden cannot connect to the target: "+err.Error())
	}
	// The client's CLIENT_MULTI_STATEMENTS is taken back before its first
	// query (vitess runs the handshake's database as one), so that vitess
	// hands over a query whole and the proxy can refuse one holding
	// several statements.
	c.Capabilities &^= vmysql.CapabilityClientMultiStatements
	st.sess = s
	e.register(s)
	e.log.Info("mysql client connected", "session", caller.Session, "identity", p.Subject, "connection", connection,
		"remote", st.remote.String(), "tls", c.TLSEnabled(), "credential", adm.Credential.Lease, "thread", c.ConnectionID, "upstream_thread", up.ThreadID)
	return nil
}

// upstream returns the session's connection for cred, logging in on
// first use.
func (s *session) upstream(ctx context.Context, cred connectors.Credential) (*myconnector.Upstream, error) {
	key := cred.Lease
	if cred.Mode == "" || cred.Mode == connectors.ModeStatic {
		key = connectors.ModeStatic
	}
	if up := s.ups[key]; up != nil && up.Conn != nil && !up.Conn.IsClosed() {
		return up, nil
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	up, err := s.my.Dial(dctx, myconnector.DialRequest{Credential: cred})
	if err != nil {
		return nil, err
	}
	s.ups[key] = up
	s.mu.Lock()
	s.threads[up.ThreadID] = true
	s.mu.Unlock()
	return up, nil
}

// hasThread reports whether server thread id is one of the session's
// upstream connections.
func (s *session) hasThread(id uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.threads[id]
}

// discard closes an upstream connection whose state is unknown (a
// statement killed or refused mid-result); the next statement logs in
// again.
func (s *session) discard(up *myconnector.Upstream) {
	for k, u := range s.ups {
		if u == up {
			delete(s.ups, k)
		}
	}
	s.mu.Lock()
	delete(s.threads, up.ThreadID)
	s.mu.Unlock()
	up.Close()
}

// close ends the session: upstream connections close and the gateway
// session ends (its credentials are revoked). Closing twice does nothing.
func (s *session) close(reason string) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	if s.holdCancel != nil {
		s.holdCancel()
	}
	s.mu.Unlock()
	for k, up := range s.ups {
		up.Close()
		delete(s.ups, k)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.gs.End(ctx, reason)
	s.log.Info("mysql client disconnected", "session", s.gs.Caller().Session, "reason", reason)
}

// setActive records the upstream a statement runs on (nil: none), for
// KILL QUERY from another connection.
func (s *session) setActive(up *myconnector.Upstream) {
	s.mu.Lock()
	s.active = up
	s.mu.Unlock()
}

// cancel ends what the session runs now: the upstream statement (KILL
// QUERY on its thread), or the wait of a held one.
func (s *session) cancel() {
	s.mu.Lock()
	up, hc := s.active, s.holdCancel
	s.mu.Unlock()
	if hc != nil {
		hc()
	}
	if up != nil {
		up.KillQuery()
	}
}

// holdContext is the context a held statement waits in: ended by KILL
// QUERY, bounded by the configured approval wait.
func (s *session) holdContext(ctx context.Context) (context.Context, func()) {
	hctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	s.holdCancel = cancel
	s.mu.Unlock()
	if w := s.e.o.ApprovalWait; w > 0 {
		hctx = approvals.WithWait(hctx, w)
	}
	return hctx, func() {
		s.mu.Lock()
		s.holdCancel = nil
		s.mu.Unlock()
		cancel()
	}
}

// handler is the vitess Handler of the engine: each callback finds the
// connection's session.
type handler struct{ e *Engine }

func (h *handler) Env() *vtenv.Environment { return h.e.env }

// NewConnection: the handshake says autocommit, which the proxy keeps
// (each statement is a transaction of its own).
func (h *handler) NewConnection(c *vmysql.Conn) {
	c.StatusFlags |= vmysql.ServerStatusAutocommit
}

// ConnectionReady: logged in; the login's deadline and byte bound end.
func (h *handler) ConnectionReady(c *vmysql.Conn) {
	if st := h.e.state(c.ConnectionID); st != nil && st.conn != nil {
		st.conn.left.Store(-1)
		st.conn.SetDeadline(time.Time{})
	}
}

func (h *handler) ConnectionClosed(c *vmysql.Conn) {
	st := h.e.state(c.ConnectionID)
	if st == nil {
		return
	}
	if st.sess != nil {
		reason := ""
		if st.ctx.Err() != nil {
			reason = "Warden is shutting down"
		}
		st.sess.close(reason)
	}
	h.e.closed(c.ConnectionID)
	close(st.done)
}

// sessionOf returns the session of a logged-in connection.
func (h *handler) sessionOf(c *vmysql.Conn) (*session, error) {
	if st := h.e.state(c.ConnectionID); st != nil && st.sess != nil {
		return st.sess, nil
	}
	return nil, sqlerror.NewSQLError(sqlerror.ERUnknownError, sqlerror.SSUnknownSQLState, "the connection has no Warden session")
}

func (h *handler) ComQuery(c *vmysql.Conn, query string, callback func(*sqltypes.Result) error) error {
	s, err := h.sessionOf(c)
	if err != nil {
		return err
	}
	return s.query(query, nil, callback)
}

// ComQueryMulti is not used: the Listener is built without MultiQuery.
func (h *handler) ComQueryMulti(c *vmysql.Conn, sql string, callback func(sqltypes.QueryResponse, bool, bool) error) error {
	return errMultiStatements
}

func (h *handler) ComPrepare(c *vmysql.Conn, query string) ([]*querypb.Field, uint16, error) {
	s, err := h.sessionOf(c)
	if err != nil {
		return nil, 0, err
	}
	return s.prepare(query)
}

func (h *handler) ComStmtExecute(c *vmysql.Conn, prep *vmysql.PrepareData, callback func(*sqltypes.Result) error) error {
	s, err := h.sessionOf(c)
	if err != nil {
		return err
	}
	return s.execute(prep, callback)
}

// Replication is refused: a binary log stream carries every table's row
// changes, outside any table policy and any masking.
func (h *handler) ComRegisterReplica(c *vmysql.Conn, host string, port uint16, user, password string) error {
	return h.refuseCommand(c, "COM_REGISTER_SLAVE")
}

func (h *handler) ComBinlogDump(c *vmysql.Conn, logFile string, binlogPos uint32) error {
	return h.refuseCommand(c, "COM_BINLOG_DUMP")
}

func (h *handler) ComBinlogDumpGTID(c *vmysql.Conn, logFile string, logPos uint64, gtidSet replication.GTIDSet, flags uint16) error {
	return h.refuseCommand(c, "COM_BINLOG_DUMP_GTID")
}

// refuseCommand records a protocol command the proxy does not carry and
// returns the error the client is told.
func (h *handler) refuseCommand(c *vmysql.Conn, command string) error {
	msg := command + " (replication) is refused by Warden: a binary log stream carries every table's changes, outside policy and masking"
	s, err := h.sessionOf(c)
	if err != nil {
		return sqlerror.NewSQLError(sqlerror.ERSpecifiedAccessDenied, "42000", msg)
	}
	return s.refuse(s.operation(command, nil), sqlerror.ERSpecifiedAccessDenied, msg)
}

// WarningCount: upstream warnings are not relayed.
func (h *handler) WarningCount(*vmysql.Conn) uint16 { return 0 }

// ComResetConnection (COM_RESET_CONNECTION): the upstream connections
// close, so the next statement starts on a fresh session; vitess forgets
// the prepared statements.
func (h *handler) ComResetConnection(c *vmysql.Conn) {
	s, err := h.sessionOf(c)
	if err != nil {
		return
	}
	for _, up := range s.ups {
		s.discard(up)
	}
}

var errMultiStatements = sqlerror.NewSQLError(sqlerror.ERNotSupportedYet, "42000",
	"Warden runs one statement per query: send the statements one at a time (multi-statements are refused)")

// clientError words an error of the pipeline for the client, as a MySQL
// error: a denial is 1142 (ER_TABLEACCESS_DENIED_ERROR, SQLSTATE 42000)
// with the reason, SQL that cannot be classified 1064 (ER_PARSE_ERROR).
func (s *session) clientError(err error) error {
	var se *sqlerror.SQLError
	if errors.As(err, &se) {
		return se
	}
	var tge *connectors.TargetError
	if errors.As(err, &tge) && !errors.As(err, new(*gateway.Error)) {
		return targetSQLError(tge, 0)
	}
	te := gateway.AsError(err)
	num, state := sqlerror.ERTableAccessDenied, "42000"
	switch te.Code {
	case gateway.CodeDenied, gateway.CodeApprovalRequired:
	case gateway.CodeInvalidArgument, gateway.CodeNotFound:
		num, state = sqlerror.ERNotSupportedYet, "42000"
	case gateway.CodeTimeout:
		num, state = sqlerror.ERQueryTimeout, "HY000"
	case gateway.CodeTargetError:
		if errors.As(err, &tge) {
			return targetSQLError(tge, 0)
		}
		num, state = sqlerror.ERUnknownError, "HY000"
	default:
		num, state = sqlerror.ERUnknownError, "HY000"
	}
	if isUnparseable(err) {
		num, state = sqlerror.ERParseError, "42000"
	}
	msg := te.Message
	var pa *gateway.PendingApproval
	if errors.As(err, &pa) {
		msg = fmt.Sprintf("statement held for human approval: request %s (rule %q) waits for %d approval(s) from %v; it expires at %s. Once it is approved, send the same statement again: it then runs once.",
			pa.ApprovalID, pa.Rule, pa.Approvers.Quorum, pa.Approvers.Groups, pa.ExpiresAt.Format(time.RFC3339))
		if pa.URL != "" {
			msg += " Approvers decide at " + pa.URL
		}
	}
	return sqlerror.NewSQLError(num, state, withAudit(msg, te.AuditID))
}

func withAudit(msg, id string) string {
	if id == "" {
		return msg
	}
	return msg + " (Warden audit event " + id + ")"
}
