package ssh_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/wardenhq/warden/audit"
	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/builtin"
	"github.com/wardenhq/warden/credentials"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/internal/testenv"
	"github.com/wardenhq/warden/masking"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/proxy"
	proxyssh "github.com/wardenhq/warden/proxy/ssh"
	"github.com/wardenhq/warden/tools"
	toolsbuiltin "github.com/wardenhq/warden/tools/builtin"
)

// fixture is Warden's SSH proxy in front of the test sshd, with rules
// for agents (reads, masked) and ops (a shell with a terminal).
type fixture struct {
	srv     testenv.SSHServer
	addr    string
	hostKey xssh.PublicKey
	tokens  *proxy.Tokens
	store   *auditsqlite.Store
	rec     *recordings
	g       *gateway.Gateway
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := testenv.SSH(t)
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "w.yaml"), []byte(fmt.Sprintf(`ssh_ca: {private_key_file: %s}
connections:
  - name: host
    kind: ssh
    address: %s
    host_key: %q
    principals: [%s]
masking:
  profiles:
    pii: {detectors: [email]}
rules:
  - {name: agents-read, subjects: {groups: [agents]}, tools: [exec_ssh], effect: allow, masking: pii, grants: {principal: %s}}
  - {name: ops-shell, subjects: {groups: [ops]}, tools: [ssh_shell], effect: allow, masking: pii, grants: {principal: %s, pty: true}}
`, srv.CAKeyFile, srv.Addr, srv.KnownHosts, strings.Join(srv.Users, ", "), srv.Users[0], srv.Users[0])))
	if err != nil {
		t.Fatal(err)
	}
	engine, err := policy.Compile(cfg, append(tools.Names(toolsbuiltin.Tools()), proxyssh.Tools()...))
	if err != nil {
		t.Fatal(err)
	}
	masker, err := masking.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	store, err := auditsqlite.Open(context.Background(), filepath.Join(dir, "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	logger := slog.New(slog.DiscardHandler)
	conns, err := builtin.Registry().Open(context.Background(), cfg.Connections, connectors.OpenOptions{Logger: logger, SSHCA: cfg.SSHCA})
	if err != nil {
		t.Fatal(err)
	}
	creds := credentials.New(store, conns, cfg.Connections, logger)
	if err := creds.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.Options{Connections: conns, Decider: engine, Minter: creds, Masker: masker, Recorder: store, Limits: cfg.Limits, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	hostKey, created, err := proxyssh.LoadHostKey(filepath.Join(dir, "host_key"))
	if err != nil || !created {
		t.Fatalf("host key: %v (created %v)", err, created)
	}
	f := &fixture{srv: srv, hostKey: hostKey.PublicKey(), tokens: proxy.NewTokens(time.Minute), store: store, rec: &recordings{}, g: g}
	e, err := proxyssh.New(proxyssh.Options{Gateway: g, HostKey: hostKey, Tokens: f.tokens, Connections: cfg.Connections,
		Record: f.rec.start, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		proxy.NewServer(e, proxy.Options{Logger: logger}).Serve(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		g.Close()
	})
	return f
}

// token issues a login token for groups on connection.
func (f *fixture) token(t *testing.T, subject string, groups []string, connection string) string {
	t.Helper()
	is, err := f.tokens.Issue(identity.Principal{Subject: subject, Groups: groups, Issuer: "local"}, connection)
	if err != nil {
		t.Fatal(err)
	}
	return is.Password
}

// dial logs in to the proxy as user with password.
func (f *fixture) dial(user, password string) (*xssh.Client, error) {
	return xssh.Dial("tcp", f.addr, &xssh.ClientConfig{
		User:            user,
		Auth:            []xssh.AuthMethod{xssh.Password(password)},
		HostKeyCallback: xssh.FixedHostKey(f.hostKey),
		Timeout:         10 * time.Second,
	})
}

func (f *fixture) login(t *testing.T, groups ...string) *xssh.Client {
	t.Helper()
	c, err := f.dial("host", f.token(t, "alice", groups, "host"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// run runs command in a new session and returns its stdout, stderr and
// exit status.
func run(t *testing.T, c *xssh.Client, command string, stdin string) (string, string, int) {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out, errb bytes.Buffer
	s.Stdout, s.Stderr = &out, &errb
	if stdin != "" {
		s.Stdin = strings.NewReader(stdin)
	}
	err = s.Run(command)
	var ee *xssh.ExitError
	switch {
	case err == nil:
		return out.String(), errb.String(), 0
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitStatus()
	}
	t.Fatalf("%s: %v", command, err)
	return "", "", 0
}

func (f *fixture) events(t *testing.T, tool string) []audit.Event {
	t.Helper()
	if err := f.store.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	evs, err := f.store.List(context.Background(), audit.Filter{Tool: tool, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestExec: exec requests are exec_ssh operations: the re-quoted command
// runs as the rule's principal, its output masked, its exit status and
// stdin passed through; a refused command never reaches the host and
// exits 126 with the reason on stderr.
func TestExec(t *testing.T) {
	f := newFixture(t)
	c := f.login(t, "agents")

	out, _, status := run(t, c, "echo contact alice.smith@example.com | tr a-z A-Z; echo done", "")
	if status != 0 || strings.Contains(strings.ToLower(out), "alice.smith@example.com") || !strings.Contains(out, "CONTACT") || !strings.HasSuffix(out, "done\n") {
		t.Errorf("a command line (a pipeline and a list): status %d, %q", status, out)
	}
	// Values cut across the channel's reads (its packets are 32 KiB at
	// most) are masked whole.
	for _, pad := range []int{32750, 32760, 65530} {
		out, _, status := run(t, c, fmt.Sprintf("printf '%%%ds alice.smith@example.com tail\\n' x", pad), "")
		if status != 0 || strings.Contains(out, "alice.smith") || strings.Contains(out, "example.com") || !strings.HasSuffix(out, " tail\n") {
			t.Errorf("a value at byte %d: status %d, %q", pad, status, out[max(0, len(out)-80):])
		}
	}
	if out, _, status := run(t, c, "whoami", ""); status != 0 || strings.TrimSpace(out) != f.srv.Users[0] {
		t.Errorf("whoami: status %d, %q, want the rule's principal %s", status, out, f.srv.Users[0])
	}
	if out, _, status := run(t, c, "cat", "from stdin\n"); status != 0 || out != "from stdin\n" {
		t.Errorf("stdin: status %d, %q", status, out)
	}
	if _, errOut, status := run(t, c, "ls /no/such/dir", ""); status == 0 || errOut == "" {
		t.Errorf("a failing command: status %d, stderr %q", status, errOut)
	}
	for _, refused := range []string{"rm -rf /tmp/x", "echo x > /tmp/warden-proxy-test", "eval ls", "sh -c id", ""} {
		out, errOut, status := run(t, c, refused, "")
		if status != 126 || out != "" || !strings.HasPrefix(errOut, "warden: ") {
			t.Errorf("%q: status %d, stdout %q, stderr %q; want 126 and the reason", refused, status, out, errOut)
		}
	}
	evs := f.events(t, "exec_ssh")
	var ok, denied int
	for _, e := range evs {
		if e.Transport != gateway.TransportSSHProxy || e.Identity != "alice" {
			t.Errorf("event %s: transport %q identity %q", e.ID, e.Transport, e.Identity)
		}
		switch e.Status {
		case audit.StatusOK:
			ok++
		case audit.StatusDenied:
			denied++
		}
	}
	if ok != 6 || denied < 3 {
		t.Errorf("events: %d ok, %d denied of %d; want 2 ok and the refusals", ok, denied, len(evs))
	}
	// Every exec that ran was recorded, masked.
	for _, r := range f.rec.all() {
		if strings.Contains(r.output(), "alice.smith@example.com") {
			t.Errorf("recording %s holds the unmasked address", r.start.ID)
		}
	}
	if got := len(f.rec.all()); got != 7 {
		t.Errorf("%d recordings, want 7 (the commands that ran)", got)
	}
}

// TestShell: an interactive shell with a terminal, sized by the client and
// resized, its output masked, its exit status returned; a caller no rule
// grants a shell is refused.
func TestShell(t *testing.T) {
	f := newFixture(t)
	c := f.login(t, "ops")
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.RequestPty("xterm", 30, 100, xssh.TerminalModes{xssh.ECHO: 0}); err != nil {
		t.Fatal(err)
	}
	stdin, _ := s.StdinPipe()
	var out syncBuffer
	s.Stdout, s.Stderr = &out, &out
	if err := s.Shell(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(stdin, "stty size; echo mail bob.jones@example.org\n")
	waitFor(t, &out, "30 100")
	if err := s.WindowChange(40, 120); err != nil {
		t.Fatal(err)
	}
	io.WriteString(stdin, "stty size; exit 3\n")
	err = s.Wait()
	var ee *xssh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 3 {
		t.Errorf("shell exit: %v, want status 3\n%s", err, out.String())
	}
	text := out.String()
	if !strings.Contains(text, "40 120") || strings.Contains(text, "bob.jones@example.org") || !strings.Contains(text, "mail ") {
		t.Errorf("shell output: %q", text)
	}
	recs := f.rec.all()
	if len(recs) != 1 || recs[0].start.Width != 100 || recs[0].start.Height != 30 || !strings.Contains(recs[0].events(), "r120x40") ||
		!strings.Contains(recs[0].events(), "x3") || strings.Contains(recs[0].output(), "bob.jones") || !strings.Contains(recs[0].input(), "stty size") {
		for _, r := range recs {
			t.Errorf("recording %+v:\n%s", r.start, r.events())
		}
	}

	// agents have no shell rule.
	a := f.login(t, "agents")
	s2, err := a.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var errOut syncBuffer
	s2.Stdout, s2.Stderr = &errOut, &errOut
	if err := s2.Shell(); err != nil {
		t.Fatal(err)
	}
	err = s2.Wait()
	if !errors.As(err, &ee) || ee.ExitStatus() != 126 || !strings.Contains(errOut.String(), "ssh_shell") {
		t.Errorf("shell without a rule: %v, %q", err, errOut.String())
	}
}

// TestRefused: logins with a wrong, foreign or missing token fail; port
// forwarding both ways, agent forwarding, a subsystem no rule allows and
// an environment variable off the list are refused and audited.
func TestRefused(t *testing.T) {
	f := newFixture(t)
	if _, err := f.dial("host", "not-a-token"); err == nil {
		t.Error("logged in with a made-up token")
	}
	if _, err := f.dial("other", f.token(t, "alice", []string{"agents"}, "host")); err == nil {
		t.Error("logged in to a connection that does not exist")
	}
	c := f.login(t, "agents")
	if conn, err := c.Dial("tcp", f.srv.Addr); err == nil {
		conn.Close()
		t.Error("direct-tcpip was allowed")
	}
	if ln, err := c.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
		t.Error("tcpip-forward was allowed")
	}
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Setenv("LD_PRELOAD", "/tmp/x.so"); err == nil {
		t.Error("LD_PRELOAD was accepted")
	}
	if err := s.Setenv("LANG", "C.UTF-8"); err != nil {
		t.Errorf("LANG was refused: %v", err)
	}
	if ok, err := s.SendRequest("auth-agent-req@openssh.com", true, nil); ok || err != nil {
		t.Errorf("agent forwarding: %v %v", ok, err)
	}
	if err := s.RequestSubsystem("sftp"); err != nil {
		t.Fatal(err) // accepted, then decided: no rule names ssh_sftp
	}
	if err := s.Wait(); err == nil {
		t.Error("sftp ran without a rule")
	}
	// The refusal's event may be written just after the channel closes.
	for deadline := time.Now().Add(5 * time.Second); len(f.events(t, gateway.ToolProxyConnect)) == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	for _, tool := range []string{"ssh.forward", "ssh.env", "ssh.agent", gateway.ToolProxyConnect} {
		evs := f.events(t, tool)
		if len(evs) == 0 {
			t.Errorf("no %s event", tool)
		}
		for _, e := range evs {
			if e.Status != audit.StatusDenied {
				t.Errorf("%s event %+v", tool, e)
			}
		}
	}
	if n := len(f.events(t, "ssh.forward")); n != 2 {
		t.Errorf("%d forward events, want 2", n)
	}
	if evs := f.events(t, gateway.ToolProxyConnect); len(evs) != 1 || !strings.Contains(evs[0].Reason, "ssh_sftp") {
		t.Errorf("the sftp refusal: %+v", evs)
	}
}

func waitFor(t *testing.T, b *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in %q", want, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// recordings keeps the proxy's recordings in memory, as events in a
// compact text form ("o:..." "i:..." "r120x40" "x3").
type recordings struct {
	mu   sync.Mutex
	list []*recording
}

type recording struct {
	mu     sync.Mutex
	start  proxyssh.RecordingStart
	evs    []string
	closed bool
}

func (r *recordings) start(_ context.Context, s proxyssh.RecordingStart) (proxyssh.Recording, error) {
	rec := &recording{start: s}
	r.mu.Lock()
	r.list = append(r.list, rec)
	r.mu.Unlock()
	return rec, nil
}

func (r *recordings) all() []*recording {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*recording(nil), r.list...)
}

func (r *recording) add(e string) {
	r.mu.Lock()
	r.evs = append(r.evs, e)
	r.mu.Unlock()
}
func (r *recording) Output(p []byte) { r.add("o:" + string(p)) }
func (r *recording) Input(p []byte)  { r.add("i:" + string(p)) }
func (r *recording) Resize(w, h int) { r.add(fmt.Sprintf("r%dx%d", w, h)) }
func (r *recording) Exit(status int) { r.add(fmt.Sprintf("x%d", status)) }
func (r *recording) Close() error    { r.mu.Lock(); r.closed = true; r.mu.Unlock(); return nil }
func (r *recording) events() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.evs, "\n")
}
func (r *recording) output() string { return r.kind("o:") }
func (r *recording) input() string  { return r.kind("i:") }
func (r *recording) kind(p string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, e := range r.evs {
		if s, ok := strings.CutPrefix(e, p); ok {
			b.WriteString(s)
		}
	}
	return b.String()
}

// TestLeaseEndKillsSession: when the session's credential ends (here the
// gateway ends the session, as an idle timeout or shutdown would), a
// command still running on the host is killed and the client told.
func TestLeaseEndKillsSession(t *testing.T) {
	f := newFixture(t)
	c := f.login(t, "agents")
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var errOut syncBuffer
	s.Stderr = &errOut
	if err := s.Start("sleep 60"); err != nil {
		t.Fatal(err)
	}
	var session string
	deadline := time.Now().Add(10 * time.Second)
	for session == "" && time.Now().Before(deadline) {
		for _, e := range f.events(t, "exec_ssh") {
			if e.Statement == "sleep 60" {
				session = e.Session
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if session == "" {
		t.Fatal("no event for the running command")
	}
	time.Sleep(200 * time.Millisecond) // the command is on the host
	start := time.Now()
	f.g.EndSession(context.Background(), session)
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case err := <-done:
		var ee *xssh.ExitError
		if !errors.As(err, &ee) || ee.ExitStatus() != 255 || !strings.Contains(errOut.String(), "revoked") {
			t.Errorf("after the lease ended: %v, stderr %q; want exit 255 and the reason", err, errOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the command outlived its credential")
	}
	t.Logf("the command ended %s after the session did", time.Since(start).Round(time.Millisecond))
	evs := f.events(t, "exec_ssh")
	if len(evs) != 1 || evs[0].Status != audit.StatusError {
		t.Errorf("event %+v, want the command recorded as ended by an error", evs)
	}
}
