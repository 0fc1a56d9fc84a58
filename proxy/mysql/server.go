package mysql

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base32"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	vmysql "vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/vt/vtenv"

	"github.com/wardenhq/warden/config"
	myconnector "github.com/wardenhq/warden/connectors/mysql"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/proxy"
)

// TokenVerifier validates access tokens (identity.OIDC).
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (identity.Principal, error)
}

// Options configure an Engine.
type Options struct {
	Gateway *gateway.Gateway
	// Connections are the configured connections; a client names a mysql
	// one as its user name.
	Connections []config.Connection
	// Tokens checks the tokens `warden connect` issues (the password).
	Tokens *proxy.Tokens
	// OIDC, when set, also accepts an OIDC access token as the password,
	// sent in clear over TLS (caching_sha2_password's full exchange).
	OIDC TokenVerifier
	// TLS, when set, is offered to clients. Without it clients connect in
	// plaintext, which is refused from non-loopback addresses unless
	// AllowPlaintext.
	TLS            *tls.Config
	AllowPlaintext bool
	// ApprovalWait bounds how long a held statement waits (0: the
	// approvals workflow's default).
	ApprovalWait time.Duration
	Logger       *slog.Logger
}

// Engine is the MySQL wire-protocol proxy: a proxy.Engine, which a
// proxy.Server hands every accepted client.
//
// The protocol's server side is vitess's (go/mysql Listener, Handler and
// AuthServer). A vitess Listener owns its accept loop and runs each
// connection in a goroutine of its own, so the engine feeds it: Serve
// hands the connection to the Listener through an in-process
// net.Listener (connFeed) and waits until the Listener's handler is told
// the connection closed.
type Engine struct {
	o     Options
	log   *slog.Logger
	conns map[string]config.Connection
	env   *vtenv.Environment
	feed  *connFeed
	ln    *vmysql.Listener
	start sync.Once

	mu      sync.Mutex
	pending map[uint32]*clientState // by vitess connection id
	clients map[uint32]*session     // logged in, by connection id (what KILL names)
}

// clientState is one connection handed to the Listener, from Serve to
// ConnectionClosed.
type clientState struct {
	ctx    context.Context
	remote net.Addr
	done   chan struct{}
	sess   *session
	conn   *loginConn
}

// loginBytes bounds what a client may send before it has logged in (TLS
// handshake, handshake response, an OIDC token in clear): vitess reads
// a packet whole, so a client that has not proved who it is must not
// make it read more.
const loginBytes = 64 << 10

// loginConn is a client connection that may carry loginBytes until the
// login ends (unlimited then).
type loginConn struct {
	net.Conn
	left atomic.Int64 // bytes the client may still send; -1: no bound
}

func (c *loginConn) Read(p []byte) (int, error) {
	left := c.left.Load()
	if left < 0 {
		return c.Conn.Read(p)
	}
	if left == 0 {
		return 0, errLoginTooLong
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := c.Conn.Read(p)
	c.left.Add(-int64(n))
	return n, err
}

var errLoginTooLong = errors.New("the client sent more than a login needs before logging in")

// fedConn is a client connection on its way through connFeed.
type fedConn struct {
	net.Conn
	st *clientState
}

// startupTimeout bounds the time from accept to the end of the login
// (TLS, authentication, minting, upstream login).
const startupTimeout = 60 * time.Second

// ServerVersion is the version the proxy announces in its handshake.
const ServerVersion = "8.0.40-Warden"

// New builds the engine.
func New(o Options) (*Engine, error) {
	if o.Gateway == nil {
		return nil, errors.New("proxy/mysql: a gateway is required")
	}
	if o.Tokens == nil {
		return nil, errors.New("proxy/mysql: tokens are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	env, err := vtenv.New(vtenv.Options{MySQLServerVersion: "8.0.40"})
	if err != nil {
		return nil, err
	}
	e := &Engine{o: o, log: o.Logger, conns: map[string]config.Connection{}, env: env,
		feed: newConnFeed(), pending: map[uint32]*clientState{}, clients: map[uint32]*session{}}
	for _, c := range o.Connections {
		if c.Kind == config.KindMySQL {
			e.conns[c.Name] = c
		}
	}
	quietVitess()
	ln, err := vmysql.NewListenerWithConfig(vmysql.ListenerConfig{
		Listener:   e.feed,
		AuthServer: &authServer{e: e},
		Handler:    &handler{e: e},
		// Each client connection's own buffer: a pooled one would be
		// shared state across clients.
		ConnReadBufferSize: 16 * 1024,
	})
	if err != nil {
		return nil, err
	}
	ln.ServerVersion = ServerVersion
	if o.TLS != nil {
		ln.TLSConfig.Store(o.TLS)
	}
	ln.PreHandleFunc = e.preHandle
	e.ln = ln
	return e, nil
}

// Close stops the engine's Listener. Connections being served end when
// their Server closes them.
func (e *Engine) Close() error {
	e.feed.Close()
	return nil
}

// Serve implements proxy.Engine: one client connection from its first
// byte to its end.
func (e *Engine) Serve(ctx context.Context, nc net.Conn) {
	e.start.Do(func() { go e.ln.Accept() })
	st := &clientState{ctx: ctx, remote: nc.RemoteAddr(), done: make(chan struct{})}
	nc.SetDeadline(time.Now().Add(startupTimeout))
	if !e.feed.hand(ctx, &fedConn{Conn: nc, st: st}) {
		return
	}
	select {
	case <-st.done:
	case <-ctx.Done():
		nc.Close()
		<-st.done
	}
}

// preHandle is the Listener's hook before a connection's handshake: it
// ties vitess's connection id to the connection's state.
func (e *Engine) preHandle(_ context.Context, c net.Conn, id uint32) (net.Conn, error) {
	fc, ok := c.(*fedConn)
	if !ok {
		return nil, errors.New("proxy/mysql: a connection that Serve did not hand in")
	}
	lc := &loginConn{Conn: fc.Conn}
	lc.left.Store(loginBytes)
	fc.st.conn = lc
	e.mu.Lock()
	e.pending[id] = fc.st
	e.mu.Unlock()
	return lc, nil
}

// state returns the state of vitess connection id.
func (e *Engine) state(id uint32) *clientState {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pending[id]
}

// Busy implements proxy.Engine: a client past the connection limit gets
// MySQL's "Too many connections" (1040) as the server's first packet,
// which clients show.
func (e *Engine) Busy(nc net.Conn) {
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	nc.Write(errorPacket(0, 1040, "08004", "Too many connections: Warden's MySQL proxy is at its connection limit"))
}

// errorPacket is an ERR packet with sequence number seq.
func errorPacket(seq byte, code uint16, state, msg string) []byte {
	body := make([]byte, 0, 9+len(msg))
	body = append(body, 0xff, byte(code), byte(code>>8), '#')
	body = append(body, state...)
	body = append(body, msg...)
	n := len(body)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, body...)
}

// register makes a logged-in session reachable by KILL.
func (e *Engine) register(s *session) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.clients[s.id] = s
}

// closed forgets connection id.
func (e *Engine) closed(id uint32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.pending, id)
	delete(e.clients, id)
}

// client returns the logged-in session of connection id.
func (e *Engine) client(id uint64) *session {
	if id > uint64(^uint32(0)) {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.clients[uint32(id)]
}

// clientByUpstream returns the logged-in session of subject one of whose
// upstream connections is server thread id.
func (e *Engine) clientByUpstream(id uint64, subject string) *session {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.clients {
		if s.principal.Subject != subject {
			continue
		}
		if s.hasThread(id) {
			return s
		}
	}
	return nil
}

// myConnector is the connector of a mysql connection the proxy serves.
func (e *Engine) myConnector(name string) (*myconnector.MySQL, bool) {
	c, ok := e.o.Gateway.Connection(name)
	if !ok {
		return nil, false
	}
	m, ok := c.(*myconnector.MySQL)
	return m, ok
}

// connFeed is the net.Listener the vitess Listener accepts from: the
// connections Serve hands it.
type connFeed struct {
	ch        chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newConnFeed() *connFeed {
	return &connFeed{ch: make(chan net.Conn), done: make(chan struct{})}
}

// hand gives c to the Listener; false if the feed or ctx ended first.
func (f *connFeed) hand(ctx context.Context, c net.Conn) bool {
	select {
	case f.ch <- c:
		return true
	case <-f.done:
		return false
	case <-ctx.Done():
		return false
	}
}

func (f *connFeed) Accept() (net.Conn, error) {
	select {
	case c := <-f.ch:
		return c, nil
	case <-f.done:
		return nil, net.ErrClosed
	}
}

func (f *connFeed) Close() error {
	f.closeOnce.Do(func() { close(f.done) })
	return nil
}

func (f *connFeed) Addr() net.Addr { return feedAddr{} }

type feedAddr struct{}

func (feedAddr) Network() string { return "warden" }
func (feedAddr) String() string  { return "proxy/mysql" }

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newSessionID names a client connection in the audit trail.
func newSessionID() string {
	var b [10]byte
	rand.Read(b[:])
	return "my-" + idEncoding.EncodeToString(b[:])
}

var (
	_ proxy.Engine      = (*Engine)(nil)
	_ net.Listener      = (*connFeed)(nil)
	_ vmysql.Handler    = (*handler)(nil)
	_ vmysql.AuthServer = (*authServer)(nil)
)
