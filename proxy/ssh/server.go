package ssh

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/proxy"
	"github.com/wardenhq/warden/recording"
)

// Operations of the proxy that are not MCP tools: what rules name in
// tools: to admit an interactive shell or sftp.
const (
	ToolShell = "ssh_shell"
	ToolSFTP  = "ssh_sftp"
)

// Tools are the tool names the proxy's operations are decided as, besides
// exec_ssh: policy must know them to compile rules naming them.
func Tools() []string { return []string{ToolShell, ToolSFTP} }

// handshakeTimeout bounds a client's key exchange and login.
const handshakeTimeout = 30 * time.Second

// DefaultEnv are the environment variables a client may pass to the
// host (OpenSSH's client sends LANG and LC_* by default).
var DefaultEnv = []string{"LANG", "LC_*", "TZ"}

// TokenVerifier validates access tokens (identity.OIDC).
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (identity.Principal, error)
}

// Recording is one channel's recording as the proxy writes it: output as
// the client saw it (masked), input, window changes and the exit.
type Recording = recording.Writer

// RecordingStart is what a recording's header says.
type RecordingStart struct {
	// ID is the audit event of the channel's operation.
	ID            string
	Width, Height int
	Term          string
	Command       string // empty for a shell
	Time          time.Time
}

// Options configure the proxy.
type Options struct {
	Gateway *gateway.Gateway
	// HostKey is the proxy's own host key, which clients pin.
	HostKey xssh.Signer
	// Tokens are the tokens `warden connect` issues; OIDC, when set,
	// also accepts an access token as the password.
	Tokens *proxy.Tokens
	OIDC   TokenVerifier
	// Connections are the configured connections (the ssh ones are
	// reachable).
	Connections []config.Connection
	// Record, when set, starts a channel's recording; nil records none.
	Record func(ctx context.Context, start RecordingStart) (Recording, error)
	// Env are the environment variables a client may pass (patterns
	// ending in * match a prefix); nil: DefaultEnv.
	Env []string
	// ApprovalWait bounds how long a held operation waits (0: the
	// approvals workflow's default).
	ApprovalWait time.Duration
	Logger       *slog.Logger
}

// Engine is the SSH proxy: a proxy.Engine.
type Engine struct {
	o     Options
	log   *slog.Logger
	conns map[string]bool // ssh connections by name
	names string          // their names, for errors
}

// New builds the proxy.
func New(o Options) (*Engine, error) {
	if o.Gateway == nil {
		return nil, errors.New("ssh proxy: a gateway is required")
	}
	if o.HostKey == nil {
		return nil, errors.New("ssh proxy: a host key is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Env == nil {
		o.Env = DefaultEnv
	}
	e := &Engine{o: o, log: o.Logger, conns: map[string]bool{}}
	var names []string
	for _, c := range o.Connections {
		if c.Kind == config.KindSSH {
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

// Busy implements proxy.Engine: OpenSSH prints a line the server sends
// before its version string.
func (e *Engine) Busy(conn net.Conn) {
	conn.SetWriteDeadline(time.Now().Add(time.Second))
	fmt.Fprintf(conn, "Warden: too many SSH clients are connected; try again later\r\n")
}

// login is who a client logged in as, filled by the auth callbacks.
type login struct {
	principal  identity.Principal
	connection string
	remoteUser string // the host account asked for, "" for the policy's
}

// Serve implements proxy.Engine.
func (e *Engine) Serve(ctx context.Context, nc net.Conn) {
	var who login
	cfg := &xssh.ServerConfig{
		Config:        xssh.Config{Ciphers: ciphers()},
		MaxAuthTries:  3,
		ServerVersion: "SSH-2.0-Warden",
		PasswordCallback: func(m xssh.ConnMetadata, pw []byte) (*xssh.Permissions, error) {
			return e.check(ctx, m, string(pw), &who)
		},
		KeyboardInteractiveCallback: func(m xssh.ConnMetadata, ask xssh.KeyboardInteractiveChallenge) (*xssh.Permissions, error) {
			answers, err := ask("", "Log in with a token from: warden connect "+connectionOf(m.User()), []string{"Warden token: "}, []bool{false})
			if err != nil {
				return nil, err
			}
			if len(answers) != 1 {
				return nil, errors.New("expected one answer")
			}
			return e.check(ctx, m, answers[0], &who)
		},
		BannerCallback: nil,
	}
	cfg.AddHostKey(e.o.HostKey)
	nc.SetDeadline(time.Now().Add(handshakeTimeout))
	sc, chans, reqs, err := xssh.NewServerConn(nc, cfg)
	if err != nil {
		e.log.Debug("ssh client did not log in", "remote", nc.RemoteAddr().String(), "err", err)
		return
	}
	nc.SetDeadline(time.Time{})
	c := &client{e: e, sc: sc, login: who, remote: nc.RemoteAddr(),
		caller: gateway.Caller{Principal: who.principal, Transport: gateway.TransportSSHProxy, Session: newSessionID()}}
	e.log.Info("ssh client connected", "session", c.caller.Session, "identity", who.principal.Subject,
		"connection", who.connection, "remote", nc.RemoteAddr().String())
	c.serve(ctx, chans, reqs)
}

// check logs a client in with a token: one `warden connect` issued for
// the connection the user name asks for, or an access token.
func (e *Engine) check(ctx context.Context, m xssh.ConnMetadata, secret string, who *login) (*xssh.Permissions, error) {
	remoteUser, connection := splitUser(m.User())
	if !e.conns[connection] {
		return nil, fmt.Errorf("no ssh connection named %q (%s): log in as [user@]connection", connection, e.names)
	}
	secret = strings.TrimSpace(secret)
	if e.o.Tokens != nil {
		if t := e.o.Tokens.LookupSecret(secret); t != nil {
			if !e.o.Tokens.Valid(t) {
				return nil, errors.New("the token has expired: run warden connect again")
			}
			if t.Connection != connection {
				return nil, fmt.Errorf("the token was issued for connection %q, not %q", t.Connection, connection)
			}
			*who = login{principal: t.Principal, connection: connection, remoteUser: remoteUser}
			return &xssh.Permissions{}, nil
		}
	}
	if e.o.OIDC != nil && strings.Count(secret, ".") == 2 {
		p, err := e.o.OIDC.Verify(ctx, secret)
		if err != nil {
			return nil, errors.New("the access token is not valid")
		}
		*who = login{principal: p, connection: connection, remoteUser: remoteUser}
		return &xssh.Permissions{}, nil
	}
	return nil, errors.New("unknown token")
}

// splitUser splits "principal@connection" (or "connection").
func splitUser(u string) (remoteUser, connection string) {
	if i := strings.LastIndexByte(u, '@'); i >= 0 {
		return u[:i], u[i+1:]
	}
	return "", u
}

func connectionOf(u string) string { _, c := splitUser(u); return c }

func newSessionID() string {
	var b [8]byte
	rand.Read(b[:])
	return "ssh-" + hex.EncodeToString(b[:])
}

// client is one logged-in SSH connection.
type client struct {
	e      *Engine
	sc     *xssh.ServerConn
	login  login
	remote net.Addr
	caller gateway.Caller

	mu    sync.Mutex
	gs    *gateway.Session // opened by the first session channel's operation
	ended bool
	wg    sync.WaitGroup
}

// serve runs the connection's channels and global requests until the
// client goes (or ctx ends), then ends its gateway session.
func (c *client) serve(ctx context.Context, chans <-chan xssh.NewChannel, reqs <-chan *xssh.Request) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		c.sc.Close()
	}()
	go c.globalRequests(ctx, reqs)
	for nch := range chans {
		switch nch.ChannelType() {
		case "session":
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				c.session(ctx, nch)
			}()
		default:
			c.refuseChannel(ctx, nch)
		}
	}
	cancel()
	c.wg.Wait()
	c.mu.Lock()
	gs := c.gs
	c.ended = true
	c.mu.Unlock()
	if gs != nil {
		gs.End(context.WithoutCancel(ctx), "ssh client disconnected")
	}
	c.e.log.Info("ssh client disconnected", "session", c.caller.Session)
}

// session returns the client's gateway session, opening it for tool on
// first use: the connection-level decision of that tool must not deny.
func (c *client) session(ctx context.Context, nch xssh.NewChannel) {
	ch, reqs, err := nch.Accept()
	if err != nil {
		return
	}
	s := &channel{c: c, ch: ch, env: map[string]string{}}
	s.run(ctx, reqs)
}

// gateway returns the connection's gateway session, opened for tool by
// the first operation that needs one.
func (c *client) gateway(ctx context.Context, tool string) (*gateway.Session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gs != nil {
		return c.gs, nil
	}
	if c.ended {
		return nil, errors.New("the client has gone")
	}
	// A refusal is recorded (proxy.connect, naming the tool) and not
	// kept: another channel may ask for an operation policy admits.
	gs, _, err := c.e.o.Gateway.Open(ctx, c.caller, c.login.connection, tool)
	if err != nil {
		return nil, err
	}
	c.gs = gs
	return gs, nil
}

// refusal records a request the proxy refuses outright (forwarding, an
// environment variable) as a denied operation of tool.
func (c *client) refusal(ctx context.Context, tool, what, message string) {
	op := gateway.Operation{Tool: tool, Statement: what}
	c.e.o.Gateway.Session(c.caller, c.login.connection).Refuse(ctx, op, gateway.CodeDenied, message)
	c.e.log.Info("ssh request refused", "session", c.caller.Session, "request", tool, "what", what)
}

// Refused requests' operation names in the audit trail.
const (
	opForward = "ssh.forward"
	opAgent   = "ssh.agent"
	opX11     = "ssh.x11"
	opEnv     = "ssh.env"
	opRequest = "ssh.request"
)

// refuseChannel refuses a channel other than a session: port forwarding
// to a host (direct-tcpip) or a socket (direct-streamlocal), or anything
// else.
func (c *client) refuseChannel(ctx context.Context, nch xssh.NewChannel) {
	what := nch.ChannelType()
	var target struct {
		Host       string
		Port       uint32
		OriginHost string
		OriginPort uint32
	}
	if what == "direct-tcpip" && xssh.Unmarshal(nch.ExtraData(), &target) == nil {
		what = fmt.Sprintf("direct-tcpip to %s", net.JoinHostPort(target.Host, fmt.Sprint(target.Port)))
	}
	msg := "port forwarding is not allowed through Warden"
	if !strings.Contains(nch.ChannelType(), "tcpip") && !strings.Contains(nch.ChannelType(), "streamlocal") {
		msg = fmt.Sprintf("channel type %q is not allowed through Warden", nch.ChannelType())
	}
	nch.Reject(xssh.Prohibited, msg)
	c.refusal(ctx, opForward, what, msg)
}

// globalRequests refuses remote forwarding (tcpip-forward,
// streamlocal-forward@openssh.com) and answers keepalives.
func (c *client) globalRequests(ctx context.Context, reqs <-chan *xssh.Request) {
	for r := range reqs {
		switch r.Type {
		case "tcpip-forward", "streamlocal-forward@openssh.com":
			what := r.Type
			var fw struct {
				Addr string
				Port uint32
			}
			if r.Type == "tcpip-forward" && xssh.Unmarshal(r.Payload, &fw) == nil {
				what = fmt.Sprintf("tcpip-forward of %s", net.JoinHostPort(fw.Addr, fmt.Sprint(fw.Port)))
			}
			r.Reply(false, nil)
			c.refusal(ctx, opForward, what, "remote port forwarding is not allowed through Warden")
		case "cancel-tcpip-forward", "cancel-streamlocal-forward@openssh.com":
			r.Reply(false, nil)
		default:
			// keepalive@openssh.com and the rest: a refusal the client
			// expects when it wants a reply.
			if r.WantReply {
				r.Reply(false, nil)
			}
		}
	}
}
