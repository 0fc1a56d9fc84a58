package kubernetes

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/proxy"
)

// PathPrefix starts every path the proxy serves: /k8s/CONNECTION/ and
// then the API server's own path (/api/v1/namespaces/...).
const PathPrefix = "/k8s/"

// Timeouts of a client connection.
const (
	handshakeTimeout = 15 * time.Second
	headerTimeout    = 30 * time.Second
	// idleTimeout closes a connection no request used for that long; its
	// session ends and its credentials are revoked.
	idleTimeout = 5 * time.Minute
)

// TokenVerifier validates access tokens (identity.OIDC).
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (identity.Principal, error)
}

// Options configure the proxy.
type Options struct {
	Gateway *gateway.Gateway
	// Certificate is the proxy's TLS certificate (HTTPS only).
	Certificate tls.Certificate
	// Tokens are the tokens `warden connect` and `warden kube-credential`
	// get from /proxy/token; OIDC, when set, also accepts an access token.
	Tokens *proxy.Tokens
	OIDC   TokenVerifier
	// Connections are the configured connections (the kubernetes ones are
	// served).
	Connections []config.Connection
	// ApprovalWait bounds how long a request held for approval waits (0:
	// the approvals workflow's default).
	ApprovalWait time.Duration
	// MaxBodyBytes bounds a write's body (default
	// config.DefaultKubeProxyMaxBodyBytes).
	MaxBodyBytes int64
	// Record, when set, starts the recording of an exec or attach stream
	// (over WebSocket or SPDY/3.1; any other upgrade is then refused);
	// nil records none.
	Record func(ctx context.Context, start RecordingStart) (Recording, error)
	Logger *slog.Logger
}

// Engine is the Kubernetes API proxy: a proxy.Engine.
type Engine struct {
	o     Options
	log   *slog.Logger
	tls   *tls.Config
	busy  *tls.Config
	h2    *http2.Server
	conns map[string]bool // kubernetes connections by name
	names string
}

// New builds the proxy.
func New(o Options) (*Engine, error) {
	if o.Gateway == nil {
		return nil, errors.New("kubernetes proxy: a gateway is required")
	}
	if len(o.Certificate.Certificate) == 0 {
		return nil, errors.New("kubernetes proxy: a TLS certificate is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = config.DefaultKubeProxyMaxBodyBytes
	}
	e := &Engine{o: o, log: o.Logger, conns: map[string]bool{},
		tls:  &tls.Config{Certificates: []tls.Certificate{o.Certificate}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}},
		busy: &tls.Config{Certificates: []tls.Certificate{o.Certificate}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}},
		h2:   &http2.Server{IdleTimeout: idleTimeout, MaxConcurrentStreams: 250}}
	var names []string
	for _, c := range o.Connections {
		if c.Kind == config.KindKubernetes {
			e.conns[c.Name] = true
			names = append(names, c.Name)
		}
	}
	e.names = strings.Join(names, ", ")
	if e.names == "" {
		e.names = "none configured"
	}
	return e, nil
}

// Busy implements proxy.Engine: an HTTP/1.1 429 with a Status.
func (e *Engine) Busy(nc net.Conn) {
	nc.SetDeadline(time.Now().Add(2 * time.Second))
	tc := tls.Server(nc, e.busy)
	if err := tc.Handshake(); err != nil {
		return
	}
	body := `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Warden: too many Kubernetes clients are connected; try again later","reason":"TooManyRequests","code":429}`
	fmt.Fprintf(tc, "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	tc.Close()
}

// Serve implements proxy.Engine: one TLS client connection, HTTP/2 or
// HTTP/1.1, is one gateway session, opened by its first authenticated
// request and ended (its credentials revoked) when the connection closes.
func (e *Engine) Serve(ctx context.Context, nc net.Conn) {
	tc := tls.Server(nc, e.tls)
	nc.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		e.log.Debug("kubernetes client TLS handshake failed", "remote", nc.RemoteAddr().String(), "err", err)
		return
	}
	nc.SetDeadline(time.Time{})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := &client{e: e, remote: nc.RemoteAddr().String(), ctx: ctx, session: newSessionID()}
	defer c.end()
	hs := &http.Server{Handler: c, ReadHeaderTimeout: headerTimeout, IdleTimeout: idleTimeout,
		ErrorLog: slog.NewLogLogger(e.log.Handler(), slog.LevelDebug), BaseContext: func(net.Listener) context.Context { return ctx }}
	if tc.ConnectionState().NegotiatedProtocol == "h2" {
		e.h2.ServeConn(tc, &http2.ServeConnOpts{Context: ctx, BaseConfig: hs, Handler: c})
		c.wg.Wait()
		return
	}
	// HTTP/1.1: this one connection, until it closes or is hijacked (an
	// upgrade, whose handler then runs until the stream ends).
	done := make(chan struct{})
	var once sync.Once
	hs.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed || st == http.StateHijacked {
			once.Do(func() { close(done) })
		}
	}
	go hs.Serve(&oneConn{c: tc, done: done})
	select {
	case <-done:
	case <-ctx.Done():
		tc.Close()
		<-done
	}
	c.wg.Wait()
	hs.Close()
}

// oneConn is a listener that accepts one connection, then blocks until
// done.
type oneConn struct {
	c    net.Conn
	once sync.Once
	done chan struct{}
}

func (l *oneConn) Accept() (net.Conn, error) {
	var c net.Conn
	l.once.Do(func() { c = l.c })
	if c != nil {
		return c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneConn) Close() error   { return nil }
func (l *oneConn) Addr() net.Addr { return l.c.LocalAddr() }

func newSessionID() string {
	var b [8]byte
	rand.Read(b[:])
	return "k8s-" + hex.EncodeToString(b[:])
}

// client is one client connection: who it is (set by its first
// authenticated request) and its gateway session.
type client struct {
	e       *Engine
	remote  string
	ctx     context.Context
	session string
	wg      sync.WaitGroup

	mu         sync.Mutex
	principal  *identity.Principal
	connection string
	gs         *gateway.Session
	ended      bool
}

// caller is who the connection's requests are.
func (c *client) caller(p identity.Principal) gateway.Caller {
	return gateway.Caller{Principal: p, Transport: gateway.TransportKubeProxy, Session: c.session}
}

// end ends the connection's gateway session.
func (c *client) end() {
	c.mu.Lock()
	gs := c.gs
	c.ended = true
	c.mu.Unlock()
	if gs != nil {
		gs.End(context.WithoutCancel(c.ctx), "kubernetes client disconnected")
		c.e.log.Info("kubernetes client disconnected", "session", c.session)
	}
}

// gateway returns the connection's gateway session, opened for tool by
// the first request that needs one; a refusal is recorded and not kept.
func (c *client) gateway(ctx context.Context, p identity.Principal, connection, tool string) (*gateway.Session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gs != nil {
		return c.gs, nil
	}
	if c.ended {
		return nil, errors.New("the client has gone")
	}
	gs, _, err := c.e.o.Gateway.Open(ctx, c.caller(p), connection, tool)
	if err != nil {
		return nil, err
	}
	c.gs = gs
	c.e.log.Info("kubernetes client connected", "session", c.session, "identity", p.Subject, "connection", connection, "remote", c.remote)
	return gs, nil
}

// bind ties the connection to the identity and connection of its first
// authenticated request: a later request as someone else, or for another
// connection, is refused.
func (c *client) bind(p identity.Principal, connection string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.principal == nil {
		c.principal, c.connection = &p, connection
		return nil
	}
	if c.principal.Subject != p.Subject || c.principal.Issuer != p.Issuer {
		return fmt.Errorf("this connection is %s's; a request as %s needs a connection of its own", c.principal.Subject, p.Subject)
	}
	if c.connection != connection {
		return fmt.Errorf("this connection serves connection %q; connection %q needs a connection of its own", c.connection, connection)
	}
	return nil
}

// splitPath splits /k8s/CONNECTION/REST into its connection and the API
// server's path (at least "/").
func splitPath(p string) (connection, rest string, ok bool) {
	if !strings.HasPrefix(p, PathPrefix) {
		return "", "", false
	}
	connection, rest, _ = strings.Cut(p[len(PathPrefix):], "/")
	return connection, "/" + rest, connection != ""
}

// authenticate finds who sent r: a Warden proxy token issued for
// connection, or an access token an OIDC issuer signed.
func (c *client) authenticate(ctx context.Context, r *http.Request, connection string) (identity.Principal, error) {
	auth := r.Header.Get("Authorization")
	scheme, secret, _ := strings.Cut(auth, " ")
	secret = strings.TrimSpace(secret)
	if !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return identity.Principal{}, errors.New("a bearer token is required: use the kubeconfig `warden connect " + connection + "` writes")
	}
	if t := c.e.o.Tokens; t != nil {
		if tk := t.LookupSecret(secret); tk != nil {
			if !t.Valid(tk) {
				return identity.Principal{}, errors.New("the token has expired")
			}
			if tk.Connection != connection {
				return identity.Principal{}, fmt.Errorf("the token was issued for connection %q, not %q", tk.Connection, connection)
			}
			return tk.Principal, nil
		}
	}
	if c.e.o.OIDC != nil && strings.Count(secret, ".") == 2 {
		p, err := c.e.o.OIDC.Verify(ctx, secret)
		if err != nil {
			return identity.Principal{}, errors.New("the access token is not valid")
		}
		return p, nil
	}
	return identity.Principal{}, errors.New("the token is not one Warden issued")
}

// ServeHTTP implements http.Handler: authenticate, refuse what is never
// carried, decide, forward.
func (c *client) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.wg.Add(1)
	defer c.wg.Done()
	connection, rest, ok := splitPath(r.URL.Path)
	if !ok {
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, "this proxy serves https://HOST:PORT"+PathPrefix+"CONNECTION/...: use the kubeconfig `warden connect CONNECTION` writes")
		return
	}
	if !c.e.conns[connection] {
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("no kubernetes connection named %q (%s)", connection, c.e.names))
		return
	}
	p, err := c.authenticate(r.Context(), r, connection)
	if err != nil {
		c.e.log.Info("kubernetes request refused: not authenticated", "session", c.session, "remote", c.remote, "err", err)
		writeStatus(w, http.StatusUnauthorized, metav1.StatusReasonUnauthorized, err.Error())
		return
	}
	if err := c.bind(p, connection); err != nil {
		writeStatus(w, http.StatusUnauthorized, metav1.StatusReasonUnauthorized, err.Error())
		return
	}
	c.serve(w, r, p, connection, rest)
}

var _ proxy.Engine = (*Engine)(nil)
