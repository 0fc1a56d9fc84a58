package postgres

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors/budget"
	pgconnector "github.com/wardenhq/warden/connectors/postgres"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/proxy"
	"github.com/wardenhq/warden/tools"
)

// Options configure an Engine.
type Options struct {
	Gateway *gateway.Gateway
	// Connections are the configured connections; clients reach the
	// postgres ones by database name.
	Connections []config.Connection
	Auth        Authenticator
	// TLS, when set, answers SSLRequest. Without it clients connect in
	// plaintext, which is refused from non-loopback addresses unless
	// AllowPlaintext.
	TLS            *tls.Config
	AllowPlaintext bool
	// ApprovalWait bounds how long a held statement waits (0: the
	// approvals workflow's default).
	ApprovalWait time.Duration
	// MaxMessageBytes bounds the body of a message a logged-in client
	// sends (0: limits.max_sql_bytes and config.DefaultProxyBindBytes); a
	// longer one is refused from its header (54000) and the connection
	// closed. Before login a message is bounded by 64 KiB.
	MaxMessageBytes int
	Logger          *slog.Logger
}

// Engine is the PostgreSQL wire-protocol proxy: a proxy.Engine, which a
// proxy.Server hands every accepted client.
type Engine struct {
	o     Options
	log   *slog.Logger
	conns map[string]config.Connection

	txns txnCache // transaction control, parsed once per text

	mu       sync.Mutex
	sessions map[uint32]*session // by the process id clients cancel with
}

// pgConnector is the connector of a postgres connection the proxy serves:
// the proxy reaches the target through it.
func (s *Engine) pgConnector(name string) (*pgconnector.Postgres, bool) {
	c, ok := s.o.Gateway.Connection(name)
	if !ok {
		return nil, false
	}
	pg, ok := c.(*pgconnector.Postgres)
	return pg, ok
}

// startupTimeout bounds the time from accept to ReadyForQuery (TLS,
// authentication, minting, upstream login).
const startupTimeout = 60 * time.Second

// New builds the engine.
func New(o Options) (*Engine, error) {
	if o.Gateway == nil {
		return nil, errors.New("proxy/postgres: a gateway is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = o.Gateway.Limits().MaxSQLBytes + config.DefaultProxyBindBytes
	}
	s := &Engine{o: o, log: o.Logger, conns: map[string]config.Connection{}, sessions: map[uint32]*session{}}
	for _, c := range o.Connections {
		if c.Kind == config.KindPostgres {
			s.conns[c.Name] = c
		}
	}
	return s, nil
}

// Busy implements proxy.Engine: a client past the connection limit is
// told so as PostgreSQL tells it.
func (s *Engine) Busy(nc net.Conn) {
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	be := pgproto3.NewBackend(nc, nc)
	if _, err := be.ReceiveStartupMessage(); err != nil {
		return
	}
	be.Send(fatal("53300", "sorry, too many clients already"))
	be.Flush()
}

// Serve implements proxy.Engine: one client connection from its first
// byte to its end.
func (s *Engine) Serve(ctx context.Context, nc net.Conn) {
	nc.SetDeadline(time.Now().Add(startupTimeout))
	ss, err := s.startup(ctx, nc)
	if err != nil {
		if !errors.Is(err, errDone) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			s.log.Info("postgres client refused", "remote", nc.RemoteAddr().String(), "err", err)
		}
		return
	}
	nc.SetDeadline(time.Time{})
	s.register(ss)
	defer s.unregister(ss)
	reason := ss.serve(ctx)
	ss.close(reason)
}

// errDone ends a connection that was handled completely during startup
// (a cancel request, a refused client who was told why).
var errDone = errors.New("done")

// startup negotiates TLS, reads the startup message, authenticates the
// client and opens its session and upstream connection.
func (s *Engine) startup(ctx context.Context, nc net.Conn) (*session, error) {
	client := nc
	in := newMsgReader(client)
	be := pgproto3.NewBackend(in, fastWriter(client))
	refuse := func(code, msg string) (*session, error) {
		be.Send(fatal(code, msg))
		be.Flush()
		return nil, fmt.Errorf("%s: %w", msg, errDone)
	}
	secure := false
	var sm *pgproto3.StartupMessage
	for sm == nil {
		msg, err := be.ReceiveStartupMessage()
		if err != nil {
			if we := in.violation(err); we != nil {
				return refuse(we.code, we.msg)
			}
			return nil, err
		}
		switch m := msg.(type) {
		case *pgproto3.SSLRequest:
			if in.buffered() > 0 {
				// What follows must come encrypted: bytes sent along
				// with the request were not.
				return refuse("08P01", "received unencrypted data after SSL request")
			}
			if s.o.TLS == nil || secure {
				if _, err := client.Write([]byte{'N'}); err != nil {
					return nil, err
				}
				continue
			}
			if _, err := client.Write([]byte{'S'}); err != nil {
				return nil, err
			}
			tc := tls.Server(nc, s.o.TLS)
			if err := tc.HandshakeContext(ctx); err != nil {
				return nil, fmt.Errorf("TLS handshake: %w", err)
			}
			client, secure = tc, true
			in = newMsgReader(client)
			be = pgproto3.NewBackend(in, client)
		case *pgproto3.GSSEncRequest:
			if in.buffered() > 0 {
				return refuse("08P01", "received unencrypted data after GSSAPI encryption request")
			}
			if _, err := client.Write([]byte{'N'}); err != nil {
				return nil, err
			}
		case *pgproto3.CancelRequest:
			s.cancel(m.ProcessID, m.SecretKey)
			return nil, errDone
		case *pgproto3.StartupMessage:
			sm = m
		}
	}
	in.typed()
	if !secure && !s.o.AllowPlaintext && !proxy.IsLoopback(nc.RemoteAddr()) {
		if s.o.TLS != nil {
			return refuse("28000", "Warden requires TLS from this address: connect with sslmode=require")
		}
		return refuse("28000", "Warden accepts plaintext connections only from loopback addresses, and has no TLS certificate configured")
	}
	params, code, msg := startupParams(sm.Parameters)
	if code != "" {
		return refuse(code, msg)
	}
	var unrecognized []string
	for k := range sm.Parameters {
		if strings.HasPrefix(k, "_pq_.") {
			unrecognized = append(unrecognized, k)
		}
	}
	database := sm.Parameters["database"]
	user := sm.Parameters["user"]
	if user == "" {
		return refuse("28000", "no PostgreSQL user name specified in startup packet")
	}
	if database == "" {
		database = user
	}
	cc, ok := s.conns[database]
	if !ok {
		return refuse("3D000", fmt.Sprintf("database %q does not exist: the database name is a Warden postgres connection (%s)", database, s.connectionNames()))
	}

	p, err := s.o.Auth.authenticate(ctx, be, user, database, secure || proxy.IsLoopback(nc.RemoteAddr()))
	if err != nil {
		var ae *authError
		if errors.As(err, &ae) {
			return refuse(ae.code, ae.msg)
		}
		if we := in.violation(err); we != nil {
			return refuse(we.code, we.msg)
		}
		return nil, err
	}
	in.setLimit(s.o.MaxMessageBytes, "proxy.postgres.max_message_bytes")

	ss := &session{srv: s, client: client, in: in, be: be, log: s.log, params: params, user: user, conn: cc,
		stmts: map[string]*stmt{}, portals: map[string]*portal{}, ups: map[string]*upstream{}}
	caller := gateway.Caller{Principal: p, Transport: gateway.TransportPostgresProxy, Session: newSessionID()}
	pg, ok := s.pgConnector(database)
	if !ok {
		return refuse("3D000", fmt.Sprintf("database %q is not a PostgreSQL connection of this Warden", database))
	}
	gs, adm, err := s.o.Gateway.Open(ctx, caller, database, tools.ToolRunQuery)
	if err != nil {
		te := gateway.AsError(err)
		code := "42501"
		if te.Code != gateway.CodeDenied {
			code = "08006"
		}
		return refuse(code, te.Error())
	}
	ss.gs, ss.pg = gs, pg
	ss.mayWrite = s.o.Gateway.Decider().AllowsWrites(tools.ToolRunQuery)
	cred := adm.Credential
	up, err := ss.dial(ctx, cred, adm.Decision.Rule)
	if err != nil {
		gs.End(context.WithoutCancel(ctx), "upstream connection failed")
		if budget.IsFull(err) {
			return refuse("53300", "sorry, too many clients already: Warden's "+err.Error())
		}
		return refuse("08006", "Warden cannot connect to the target: "+err.Error())
	}
	ss.primary = up
	ss.pid, ss.secret = newCancelKey()

	if len(unrecognized) > 0 || sm.ProtocolVersion != pgproto3.ProtocolVersion30 {
		be.Send(&pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: 0, UnrecognizedOptions: unrecognized})
	}
	be.Send(&pgproto3.AuthenticationOk{})
	for _, k := range reportedParams {
		if v, ok := up.status[k]; ok {
			switch k {
			case "session_authorization":
				v = user
			case "default_transaction_read_only":
				v = up.clientReadOnly
			}
			be.Send(&pgproto3.ParameterStatus{Name: k, Value: v})
		}
	}
	be.Send(&pgproto3.BackendKeyData{ProcessID: ss.pid, SecretKey: ss.secret})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if err := be.Flush(); err != nil {
		ss.closeUpstreams()
		gs.End(context.WithoutCancel(ctx), "client went away during startup")
		return nil, err
	}
	s.log.Info("postgres client connected", "session", caller.Session, "identity", p.Subject, "connection", database,
		"remote", nc.RemoteAddr().String(), "tls", secure, "credential", cred.Lease)
	return ss, nil
}

// reportedParams are the parameters PostgreSQL reports at startup, relayed
// from the upstream session.
var reportedParams = []string{"application_name", "client_encoding", "DateStyle", "default_transaction_read_only",
	"in_hot_standby", "integer_datetimes", "IntervalStyle", "is_superuser", "server_encoding", "server_version",
	"session_authorization", "standard_conforming_strings", "TimeZone"}

// startupParams checks the client's startup parameters: settings that
// only shape how values are shown pass to the upstream session; those that
// change what a statement means or reaches (options, search_path,
// replication, ...) are refused, as is a client_encoding other than UTF-8.
func startupParams(in map[string]string) (map[string]string, string, string) {
	out := map[string]string{}
	for k, v := range in {
		switch strings.ToLower(k) {
		case "user", "database":
		case "replication":
			switch strings.ToLower(v) {
			case "", "false", "off", "no", "0":
			default:
				return nil, "0A000", "replication connections are not supported by Warden"
			}
		case "options":
			if strings.TrimSpace(v) != "" {
				return nil, "0A000", "startup options (PGOPTIONS, -c ...) are refused by Warden: they change session settings, which every statement's decision assumes are Warden's"
			}
		case "application_name", "fallback_application_name":
			out[k] = v
		case "client_encoding":
			switch strings.ToUpper(strings.ReplaceAll(strings.ReplaceAll(v, "-", ""), "_", "")) {
			case "UTF8", "UNICODE":
				out[k] = "UTF8"
			case "SQLASCII":
				out[k] = "SQL_ASCII"
			default:
				return nil, "22023", fmt.Sprintf("client_encoding %q is not supported by Warden: use UTF8 (masking reads values as UTF-8)", v)
			}
		case "datestyle", "timezone", "intervalstyle", "extra_float_digits", "bytea_output":
			out[k] = v
		case "standard_conforming_strings":
			if strings.ToLower(v) != "on" {
				return nil, "0A000", "standard_conforming_strings must be on through Warden (SQL is classified as PostgreSQL parses it with it on)"
			}
		default:
			if strings.HasPrefix(k, "_pq_.") {
				continue // answered with NegotiateProtocolVersion
			}
			return nil, "0A000", fmt.Sprintf("startup parameter %q is refused by Warden: session settings are Warden's", k)
		}
	}
	return out, "", ""
}

func (s *Engine) connectionNames() string {
	var names []string
	for n := range s.conns {
		names = append(names, n)
	}
	if len(names) == 0 {
		return "none is configured"
	}
	return "one of: " + strings.Join(names, ", ")
}

func (s *Engine) register(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.sessions[ss.pid] != nil {
		ss.pid, ss.secret = newCancelKey()
	}
	s.sessions[ss.pid] = ss
}

func (s *Engine) unregister(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[ss.pid] == ss {
		delete(s.sessions, ss.pid)
	}
}

// cancel relays a client's CancelRequest to the upstream backend its
// session is running a statement on. A wrong key is ignored, as
// PostgreSQL does.
func (s *Engine) cancel(pid uint32, key []byte) {
	s.mu.Lock()
	ss := s.sessions[pid]
	s.mu.Unlock()
	if ss == nil || subtle.ConstantTimeCompare(ss.secret, key) != 1 {
		return
	}
	ss.cancelUpstream()
}

func newCancelKey() (uint32, []byte) {
	var b [8]byte
	rand.Read(b[:])
	pid := binary.BigEndian.Uint32(b[:4]) & 0x7fffffff
	if pid == 0 {
		pid = 1
	}
	return pid, b[4:8:8]
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newSessionID names a client connection in the audit trail.
func newSessionID() string {
	var b [10]byte
	rand.Read(b[:])
	return "pg-" + idEncoding.EncodeToString(b[:])
}

func fatal(code, msg string) *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: code, Message: msg}
}

var _ proxy.Engine = (*Engine)(nil)
