package ssh_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/budget"
	"github.com/wardenhq/warden/connectors/connectortest"
	"github.com/wardenhq/warden/connectors/sqlite"
	sshconn "github.com/wardenhq/warden/connectors/ssh"
	"github.com/wardenhq/warden/internal/testenv"
	"github.com/wardenhq/warden/policy"
)

const timeout = 30 * time.Second

// fixture is a connector to the test sshd with its CA and a log buffer.
type fixture struct {
	srv  testenv.SSHServer
	ca   *sshconn.CA
	pem  []byte
	conn *sshconn.SSH
	logs *syncBuffer
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

func connection(srv testenv.SSHServer) config.Connection {
	return config.Connection{Name: "host", Kind: config.KindSSH, Address: srv.Addr, HostKey: srv.HostKey,
		Principals: srv.Users, Credentials: "jit", JIT: config.JIT{TTL: 10 * time.Minute}}
}

func open(t *testing.T, edit func(*config.Connection)) *fixture {
	t.Helper()
	srv := testenv.SSH(t)
	pem, err := os.ReadFile(srv.CAKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := sshconn.LoadCA(config.SSHCA{PrivateKeyFile: srv.CAKeyFile})
	if err != nil {
		t.Fatal(err)
	}
	cfg := connection(srv)
	if edit != nil {
		edit(&cfg)
	}
	logs := &syncBuffer{}
	c, err := sshconn.New(cfg, ca, nil, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &fixture{srv: srv, ca: ca, pem: pem, conn: c, logs: logs}
}

func newLease() string {
	var b [6]byte
	rand.Read(b[:])
	return "t" + hex.EncodeToString(b[:])
}

func (f *fixture) mint(t *testing.T, g connectors.SSHGrants, ttl time.Duration) (connectors.MintResponse, string) {
	t.Helper()
	lease := newLease()
	resp, err := f.conn.Mint(context.Background(), connectors.MintRequest{Lease: lease, Grants: g, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.conn.Revoke(context.Background(), connectors.RevokeRequest{Lease: lease}) })
	return resp, lease
}

func (f *fixture) exec(t *testing.T, cred connectors.Credential, command string, pty bool) (string, connectors.ExecResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out bytes.Buffer
	res, err := f.conn.Exec(ctx, connectors.ExecRequest{Command: command, Timeout: timeout, Credential: cred, PTY: pty, Stdout: &out, Stderr: &out})
	return out.String(), res, err
}

func parseCert(t *testing.T, cred connectors.Credential) *xssh.Certificate {
	t.Helper()
	pub, _, _, _, err := xssh.ParseAuthorizedKey(cred.SSHCertificate.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	return pub.(*xssh.Certificate)
}

// login dials sshd directly (x/crypto/ssh, no connector) as user with
// the credential's key and certificate.
func login(srv testenv.SSHServer, cred connectors.Credential, cert *xssh.Certificate, user string) (*xssh.Client, error) {
	key, err := xssh.NewSignerFromSigner(cred.SSHCertificate.Key)
	if err != nil {
		return nil, err
	}
	signer, err := xssh.NewCertSigner(cert, key)
	if err != nil {
		return nil, err
	}
	hk, _, _, _, _ := xssh.ParseAuthorizedKey([]byte(srv.HostKey))
	return xssh.Dial("tcp", srv.Addr, &xssh.ClientConfig{User: user, Auth: []xssh.AuthMethod{xssh.PublicKeys(signer)},
		HostKeyCallback: xssh.FixedHostKey(hk), HostKeyAlgorithms: []string{xssh.KeyAlgoED25519}, Timeout: 10 * time.Second})
}

func TestContract(t *testing.T) {
	connectortest.RunExec(t, connectortest.ExecHarness{Open: func(t *testing.T) connectortest.ExecFixture {
		f := open(t, nil)
		resp, _ := f.mint(t, connectors.SSHGrants{Principal: f.srv.Users[0]}, 10*time.Minute)
		return connectortest.ExecFixture{Conn: f.conn, Credential: resp.Credential}
	}})
}

func TestCertificateContents(t *testing.T) {
	f := open(t, nil)
	for _, pty := range []bool{false, true} {
		before := time.Now()
		resp, lease := f.mint(t, connectors.SSHGrants{Principal: f.srv.Users[1], PTY: pty}, 5*time.Minute)
		cert := parseCert(t, resp.Credential)
		if cert.CertType != xssh.UserCert || cert.KeyId != f.conn.Principal(lease) || !strings.Contains(cert.KeyId, lease) {
			t.Errorf("type %d, key id %q; want a user certificate named after lease %s", cert.CertType, cert.KeyId, lease)
		}
		if !slices.Equal(cert.ValidPrincipals, []string{f.srv.Users[1]}) || resp.Credential.SSHCertificate.Principal != f.srv.Users[1] {
			t.Errorf("principals %v, want exactly [%s]", cert.ValidPrincipals, f.srv.Users[1])
		}
		after := time.Unix(int64(cert.ValidAfter), 0)
		until := time.Unix(int64(cert.ValidBefore), 0)
		if d := before.Add(-time.Minute).Sub(after); d < 0 || d > 2*time.Second {
			t.Errorf("valid after %s, want a minute before %s", after, before)
		}
		if d := before.Add(5 * time.Minute).Sub(until); d < -2*time.Second || d > 2*time.Second {
			t.Errorf("valid before %s, want now + ttl", until)
		}
		if !resp.Expires.Equal(until) || !resp.Credential.SSHCertificate.ValidBefore.Equal(until) {
			t.Errorf("Expires %s / ValidBefore %s, want %s", resp.Expires, resp.Credential.SSHCertificate.ValidBefore, until)
		}
		if !bytes.Equal(cert.SignatureKey.Marshal(), f.ca.PublicKey().Marshal()) {
			t.Error("not signed by the CA")
		}
		if got := cert.CriticalOptions; len(got) != 1 || got["source-address"] != "127.0.0.1" {
			t.Errorf("critical options %v, want only source-address=127.0.0.1", got)
		}
		want := map[string]string{}
		if pty {
			want["permit-pty"] = ""
		}
		if fmt.Sprint(cert.Extensions) != fmt.Sprint(want) {
			t.Errorf("extensions %v, want %v (no forwarding, no user rc)", cert.Extensions, want)
		}
		if cert.Key.Type() != xssh.KeyAlgoED25519 {
			t.Errorf("key type %s", cert.Key.Type())
		}
		for _, w := range []string{f.srv.Users[1], "127.0.0.1", "no forwarding"} {
			if !strings.Contains(resp.Summary, w) {
				t.Errorf("summary %q does not say %q", resp.Summary, w)
			}
		}
		if strings.Contains(resp.Summary, "no pty") == pty {
			t.Errorf("summary %q for pty=%v", resp.Summary, pty)
		}
	}
}

// TestCertificateLogin: sshd accepts the certificate as its one
// principal, and as no one else.
func TestCertificateLogin(t *testing.T) {
	f := open(t, nil)
	resp, _ := f.mint(t, connectors.SSHGrants{Principal: f.srv.Users[0]}, 5*time.Minute)
	cert := parseCert(t, resp.Credential)
	c, err := login(f.srv, resp.Credential, cert, f.srv.Users[0])
	if err != nil {
		t.Fatalf("the certificate does not log in as its principal: %v", err)
	}
	sess, _ := c.NewSession()
	out, err := sess.Output("id -un")
	c.Close()
	if err != nil || strings.TrimSpace(string(out)) != f.srv.Users[0] {
		t.Errorf("id -un: %q, %v", out, err)
	}
	if c, err := login(f.srv, resp.Credential, cert, f.srv.Users[1]); err == nil {
		c.Close()
		t.Errorf("a certificate for %s logged in as %s", f.srv.Users[0], f.srv.Users[1])
	}
	// Through the connector, the principal is the certificate's.
	if out, _, err := f.exec(t, resp.Credential, "id -un", false); err != nil || strings.TrimSpace(out) != f.srv.Users[0] {
		t.Errorf("Exec id -un: %q, %v", out, err)
	}
	forged := resp.Credential
	sc := *forged.SSHCertificate
	sc.Principal = f.srv.Users[1]
	forged.SSHCertificate = &sc
	forged.Lease = newLease()
	if _, _, err := f.exec(t, forged, "id -un", false); err == nil {
		t.Error("the connector logged in as a user the certificate does not name")
	}
}

// TestExpiredCertificate: once its TTL passed, sshd refuses the
// certificate, and the connector does not try.
func TestExpiredCertificate(t *testing.T) {
	f := open(t, nil)
	resp, _ := f.mint(t, connectors.SSHGrants{Principal: f.srv.Users[0]}, 2*time.Second)
	cert := parseCert(t, resp.Credential)
	time.Sleep(time.Until(time.Unix(int64(cert.ValidBefore), 0)) + 1100*time.Millisecond)
	if c, err := login(f.srv, resp.Credential, cert, f.srv.Users[0]); err == nil {
		c.Close()
		t.Fatal("sshd accepted an expired certificate")
	}
	if _, _, err := f.exec(t, resp.Credential, "true", false); !errors.Is(err, sshconn.ErrRevoked) {
		t.Errorf("Exec with an expired certificate: %v, want ErrRevoked", err)
	}
}

// TestExpiryEndsConnection: a connection the certificate opened does not
// outlive it (sshd would let it).
func TestExpiryEndsConnection(t *testing.T) {
	f := open(t, nil)
	resp, _ := f.mint(t, connectors.SSHGrants{Principal: f.srv.Users[0]}, 3*time.Second)
	out, res, err := f.exec(t, resp.Credential, "sleep 60", false)
	if !errors.Is(err, sshconn.ErrRevoked) {
		t.Errorf("a command running past its certificate's expiry: %q %+v %v, want ErrRevoked", out, res, err)
	}
}

func TestPTY(t *testing.T) {
	f := open(t, nil)
	plain, _ := f.mint(t, connectors.SSHGrants{Principal: f.srv.Users[0]}, 5*time.Minute)
	if out, res, err := f.exec(t, plain.Credential, "tty", false); err != nil || res.ExitStatus == 0 || !strings.Contains(out, "not a tty") {
		t.Errorf("without PTY: %q %+v %v, want no terminal", out, res, err)
	}
	var te *connectors.TargetError
	if out, _, err := f.exec(t, plain.Credential, "touch /tmp/warden-pty-refused", true); !errors.As(err, &te) {
		t.Errorf("a pty without permit-pty: %q %v, want the host's refusal", out, err)
	}
	granted, _ := f.mint(t, connectors.SSHGrants{Principal: f.srv.Users[0], PTY: true}, 5*time.Minute)
	if out, res, err := f.exec(t, granted.Credential, "tty", true); err != nil || res.ExitStatus != 0 || !strings.Contains(out, "/dev/pts/") {
		t.Errorf("with a granted pty: %q %+v %v", out, res, err)
	}
	if out, _, err := f.exec(t, granted.Credential, "tty", false); err != nil || !strings.Contains(out, "not a tty") {
		t.Errorf("a pty grant, but no PTY asked: %q %v", out, err)
	}
}

// TestNoPortForwarding: sshd allows forwarding (sshd.sh), yet refuses a
// direct-tcpip channel to a minted certificate, which lacks
// permit-port-forwarding; a certificate that has it is let through, so
// the refusal is the certificate's.
func TestNoPortForwarding(t *testing.T) {
	f := open(t, nil)
	resp, _ := f.mint(t, connectors.SSHGrants{Principal: f.srv.Users[0], PTY: true}, 5*time.Minute)
	cert := parseCert(t, resp.Credential)
	c, err := login(f.srv, resp.Credential, cert, f.srv.Users[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if fc, err := c.Dial("tcp", f.srv.Addr); err == nil {
		fc.Close()
		t.Fatal("sshd opened a direct-tcpip channel for a Warden certificate")
	} else if !strings.Contains(err.Error(), "prohibited") {
		t.Errorf("refusal: %v", err)
	}

	// The control: the same key with permit-port-forwarding added.
	signer, err := sshconn.LoadSigner(f.pem)
	if err != nil {
		t.Fatal(err)
	}
	withFwd := *cert
	withFwd.Permissions.Extensions = map[string]string{"permit-port-forwarding": ""}
	if err := withFwd.SignCert(rand.Reader, signer); err != nil {
		t.Fatal(err)
	}
	c2, err := login(f.srv, resp.Credential, &withFwd, f.srv.Users[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	fc, err := c2.Dial("tcp", f.srv.Addr)
	if err != nil {
		t.Fatalf("control: a certificate with permit-port-forwarding was refused too (%v), so the test proves nothing", err)
	}
	fc.Close()
}

func TestHostKeyPinning(t *testing.T) {
	srv := testenv.SSH(t)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	otherPub, _ := xssh.NewPublicKey(other.Public())
	otherLine := strings.TrimSpace(string(xssh.MarshalAuthorizedKey(otherPub)))
	tests := []struct {
		name string
		edit func(*config.Connection)
		ok   bool
	}{
		{"authorized_keys line", func(c *config.Connection) {}, true},
		{"known_hosts line", func(c *config.Connection) { c.HostKey = srv.KnownHosts }, true},
		{"host CA", func(c *config.Connection) { c.HostKey, c.HostCA = "", srv.HostCA }, true},
		{"changed host key", func(c *config.Connection) { c.HostKey = otherLine }, false},
		{"other host CA", func(c *config.Connection) { c.HostKey, c.HostCA = "", otherLine }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := open(t, tt.edit)
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			err := f.conn.Ping(ctx)
			if tt.ok != (err == nil) {
				t.Fatalf("Ping: %v (want ok=%v)", err, tt.ok)
			}
			if tt.ok {
				return
			}
			resp, _ := f.mint(t, connectors.SSHGrants{Principal: srv.Users[0]}, 5*time.Minute)
			gated := false
			_, err = f.conn.Exec(ctx, connectors.ExecRequest{Command: "true", Credential: resp.Credential, Timeout: timeout,
				Gate: func(context.Context) error { gated = true; return nil }})
			if err == nil || gated {
				t.Errorf("Exec on a host that does not prove its key: %v (gate called: %v)", err, gated)
			}
			if !errors.Is(err, sshconn.ErrHostKey) {
				t.Errorf("err = %v, want ErrHostKey", err)
			}
		})
	}
}

// TestHostCertificateName: a host certificate is accepted only for the
// names it was signed for (127.0.0.1 and localhost, by sshd.sh).
func TestHostCertificateName(t *testing.T) {
	srv := testenv.SSH(t)
	_, port, _ := net.SplitHostPort(srv.Addr)
	f := open(t, func(c *config.Connection) {
		c.HostKey, c.HostCA = "", srv.HostCA
		c.Address = "localhost:" + port
	})
	if err := f.conn.Ping(context.Background()); err != nil {
		t.Errorf("localhost is in the host certificate: %v", err)
	}
}

func TestRevokeKillsLiveSession(t *testing.T) {
	f := open(t, nil)
	resp, lease := f.mint(t, connectors.SSHGrants{Principal: f.srv.Users[0]}, 5*time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	pidc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		w := &lineWriter{line: pidc}
		_, err := f.conn.Exec(ctx, connectors.ExecRequest{Command: "sleep 60 & echo $!; wait", Timeout: timeout, Credential: resp.Credential, Stdout: w})
		done <- err
	}()
	var pid string
	select {
	case pid = <-pidc:
	case err := <-done:
		t.Fatalf("ended early: %v", err)
	}
	start := time.Now()
	if err := f.conn.Revoke(ctx, connectors.RevokeRequest{Lease: lease, Principal: f.conn.Principal(lease)}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, sshconn.ErrRevoked) {
			t.Errorf("the revoked session's Exec: %v, want ErrRevoked", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("revoking did not end the running sleep 60")
	}
	t.Logf("the session ended %s after Revoke", time.Since(start).Round(time.Millisecond))
	// The sleep is gone from the host (asked with another credential).
	other, _ := f.mint(t, connectors.SSHGrants{Principal: f.srv.Users[0]}, 5*time.Minute)
	for {
		_, res, err := f.exec(t, other.Credential, "kill -0 "+strings.TrimSpace(pid)+" 2>/dev/null", false)
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitStatus != 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("sleep (pid %s) still runs after Revoke", pid)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, _, err := f.exec(t, resp.Credential, "true", false); !errors.Is(err, sshconn.ErrRevoked) {
		t.Errorf("Exec with a revoked credential: %v, want ErrRevoked", err)
	}
	if err := f.conn.Revoke(ctx, connectors.RevokeRequest{Lease: lease}); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	if err := f.conn.Revoke(ctx, connectors.RevokeRequest{Lease: "neverminted1"}); err != nil {
		t.Errorf("revoking a lease never minted here (the reaper after a restart): %v", err)
	}
}

type lineWriter struct {
	buf  bytes.Buffer
	line chan string
	sent bool
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	if s, _, ok := strings.Cut(w.buf.String(), "\n"); ok && !w.sent {
		w.sent = true
		w.line <- s
	}
	return len(p), nil
}

// TestConnectionReuse: a lease's commands share one SSH connection (the
// same client port on the host's side); another lease gets its own.
func TestConnectionReuse(t *testing.T) {
	f := open(t, nil)
	a, _ := f.mint(t, connectors.SSHGrants{Principal: f.srv.Users[0]}, 5*time.Minute)
	b, _ := f.mint(t, connectors.SSHGrants{Principal: f.srv.Users[0]}, 5*time.Minute)
	seen := map[string]bool{}
	for range 5 {
		out, _, err := f.exec(t, a.Credential, `echo "$SSH_CONNECTION"`, false)
		if err != nil {
			t.Fatal(err)
		}
		seen[out] = true
	}
	if len(seen) != 1 {
		t.Errorf("5 commands of one lease came over %d connections: %v", len(seen), seen)
	}
	out, _, err := f.exec(t, b.Credential, `echo "$SSH_CONNECTION"`, false)
	if err != nil || seen[out] {
		t.Errorf("another lease shares the connection: %q %v", out, err)
	}
}

func TestGrants(t *testing.T) {
	srv := testenv.SSHServer{Addr: "127.0.0.1:22", HostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEqDZKVnszCr/IBEUscq0Lx2BelRyO11SdAvEaYkynym", Users: []string{"deploy", "ops"}}
	_, ca, err := sshconn.GenerateCA("")
	if err != nil {
		t.Fatal(err)
	}
	two, err := sshconn.New(connection(srv), ca, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	one := connection(srv)
	one.Principals = []string{"deploy"}
	single, err := sshconn.New(one, ca, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		c    *sshconn.SSH
		d    policy.Decision
		want connectors.Grants
	}{
		{"named", two, policy.Decision{GrantPrincipal: "ops", GrantPTY: true}, connectors.SSHGrants{Principal: "ops", PTY: true}},
		{"the only one", single, policy.Decision{}, connectors.SSHGrants{Principal: "deploy"}},
		{"not allowed", two, policy.Decision{GrantPrincipal: "root"}, nil},
		{"not allowed on the single", single, policy.Decision{GrantPrincipal: "ops"}, nil},
		{"several, none named", two, policy.Decision{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := tt.c.Grants(tt.d)
			if tt.want == nil {
				if err == nil {
					t.Errorf("grants %v, want an error", g)
				}
				return
			}
			if err != nil || g != tt.want {
				t.Errorf("grants %v, %v; want %v", g, err, tt.want)
			}
		})
	}
	if _, err := two.Mint(context.Background(), connectors.MintRequest{Lease: newLease(), Grants: connectors.SSHGrants{Principal: "root"}, TTL: time.Minute}); err == nil {
		t.Error("minted a certificate for a principal the connection does not allow")
	}
	if _, err := two.Mint(context.Background(), connectors.MintRequest{Lease: newLease(), Grants: connectors.SQLGrants{}, TTL: time.Minute}); err == nil {
		t.Error("minted a certificate for SQL grants")
	}
}

func TestClassifierIsTheOneGiven(t *testing.T) {
	srv := testenv.SSHServer{Addr: "127.0.0.1:22", HostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEqDZKVnszCr/IBEUscq0Lx2BelRyO11SdAvEaYkynym", Users: []string{"deploy"}}
	_, ca, _ := sshconn.GenerateCA("")
	c, _ := sshconn.New(connection(srv), ca, nil, nil)
	if c.Classifier() != nil {
		t.Error("no classifier given, yet one returned")
	}
	given := sqlite.Classifier(config.Connection{})
	c, _ = sshconn.New(connection(srv), ca, given, nil)
	if c.Classifier() != given {
		t.Error("Classifier does not return the classifier given")
	}
}

func TestPingUnavailable(t *testing.T) {
	srv := testenv.SSH(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	f := open(t, func(c *config.Connection) { c.Address = addr })
	if err := f.conn.Ping(context.Background()); !errors.Is(err, connectors.ErrUnavailable) {
		t.Errorf("Ping of a closed port: %v, want ErrUnavailable", err)
	}
	_ = srv
}

// TestSecretsNeverShown: neither the CA's private key nor a certificate's
// key (nor the certificate) appears in any error, log line or printed
// credential, across the failures the connector reports.
func TestSecretsNeverShown(t *testing.T) {
	f := open(t, nil)
	resp, lease := f.mint(t, connectors.SSHGrants{Principal: f.srv.Users[0]}, 5*time.Minute)
	cred := resp.Credential
	key := cred.SSHCertificate.Key
	var secrets []string
	caSigner, err := sshconn.LoadSigner(f.pem)
	if err != nil {
		t.Fatal(err)
	}
	_ = caSigner
	raw, err := xssh.ParseRawPrivateKey(f.pem)
	if err != nil {
		t.Fatal(err)
	}
	var caPriv ed25519.PrivateKey
	switch k := raw.(type) {
	case ed25519.PrivateKey:
		caPriv = k
	case *ed25519.PrivateKey:
		caPriv = *k
	}
	certKey := sshconn.PrivateKeyBytes(key)
	for _, b := range [][]byte{caPriv.Seed(), certKey.Seed()} {
		secrets = append(secrets, hex.EncodeToString(b), base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b), string(b), fmt.Sprint(b), fmt.Sprintf("%x", b))
	}
	pemBody := strings.Split(strings.TrimSpace(string(f.pem)), "\n")
	secrets = append(secrets, pemBody[1:len(pemBody)-1]...)
	certB64 := strings.Fields(string(cred.SSHCertificate.Certificate))[1]
	secrets = append(secrets, certB64[20:80])

	var texts []string
	collect := func(err error) {
		if err != nil {
			texts = append(texts, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
		}
	}
	texts = append(texts, fmt.Sprintf("%v %+v %#v %s", cred, cred, cred, f.ca), fmt.Sprintf("%v %+v %#v", key, key, key), fmt.Sprintf("%#v", f.ca))
	if b, err := json.Marshal(cred); err == nil {
		texts = append(texts, string(b))
	}
	// Failures: the host's refusal (wrong principal), an unknown host
	// key, a refused pty, a revoked and an expired credential, a bad CA.
	forged := cred
	sc := *cred.SSHCertificate
	sc.Principal = f.srv.Users[1]
	forged.SSHCertificate, forged.Lease = &sc, newLease()
	_, _, err = f.exec(t, forged, "true", false)
	collect(err)
	_, _, err = f.exec(t, cred, "true", true)
	collect(err)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	otherPub, _ := xssh.NewPublicKey(other.Public())
	bad := open(t, func(c *config.Connection) { c.HostKey = string(xssh.MarshalAuthorizedKey(otherPub)) })
	badResp, _ := bad.mint(t, connectors.SSHGrants{Principal: f.srv.Users[0]}, 5*time.Minute)
	_, _, err = bad.exec(t, badResp.Credential, "true", false)
	collect(err)
	f.conn.Revoke(context.Background(), connectors.RevokeRequest{Lease: lease})
	_, _, err = f.exec(t, cred, "true", false)
	collect(err)
	expired := cred
	sc2 := *cred.SSHCertificate
	sc2.ValidBefore = time.Now().Add(-time.Second)
	expired.SSHCertificate, expired.Lease = &sc2, newLease()
	_, _, err = f.exec(t, expired, "true", false)
	collect(err)
	dir := t.TempDir()
	truncated := dir + "/ca"
	os.WriteFile(truncated, f.pem[:len(f.pem)/2], 0o600)
	_, err = sshconn.LoadCA(config.SSHCA{PrivateKeyFile: truncated})
	collect(err)
	_, err = sshconn.ParseCA(f.pem[:len(f.pem)-40])
	collect(err)
	os.Setenv("WARDEN_TEST_CA_IN_ENV", string(f.pem[:200]))
	defer os.Unsetenv("WARDEN_TEST_CA_IN_ENV")
	_, err = sshconn.LoadCA(config.SSHCA{PrivateKeyEnv: "WARDEN_TEST_CA_IN_ENV"})
	collect(err)
	texts = append(texts, f.logs.String(), bad.logs.String())
	if len(texts) < 12 {
		t.Fatalf("only %d texts collected: the failures did not happen", len(texts))
	}
	for _, text := range texts {
		for _, s := range secrets {
			if len(s) >= 16 && strings.Contains(text, s) {
				t.Errorf("a secret (%.8s...) appears in %q", s, text)
			}
		}
	}
}

// TestOneWriterForBothStreams: a caller may pass one writer as Stdout and
// Stderr; nothing written to either is lost.
func TestOneWriterForBothStreams(t *testing.T) {
	f := open(t, nil)
	resp, _ := f.mint(t, connectors.SSHGrants{Principal: f.srv.Users[0]}, 5*time.Minute)
	for i := range 20 {
		out, _, err := f.exec(t, resp.Credential, "echo out; echo err >&2", false)
		if err != nil || !strings.Contains(out, "out\n") || !strings.Contains(out, "err\n") {
			t.Fatalf("run %d: %q, %v", i, out, err)
		}
	}
}

// TestSourceAddressOverride: source_address replaces the route's address
// in the certificate, and sshd enforces it: a certificate for addresses
// Warden does not connect from does not log in.
func TestSourceAddressOverride(t *testing.T) {
	ok := open(t, func(c *config.Connection) { c.SourceAddress = []string{"127.0.0.0/8"} })
	resp, _ := ok.mint(t, connectors.SSHGrants{Principal: ok.srv.Users[0]}, 5*time.Minute)
	if got := parseCert(t, resp.Credential).CriticalOptions["source-address"]; got != "127.0.0.0/8" {
		t.Errorf("source-address %q, want the configured 127.0.0.0/8", got)
	}
	if out, _, err := ok.exec(t, resp.Credential, "true", false); err != nil {
		t.Errorf("login within source_address: %v %s", err, out)
	}
	elsewhere := open(t, func(c *config.Connection) { c.SourceAddress = []string{"192.0.2.7"} })
	resp, _ = elsewhere.mint(t, connectors.SSHGrants{Principal: elsewhere.srv.Users[0]}, 5*time.Minute)
	if out, _, err := elsewhere.exec(t, resp.Credential, "true", false); err == nil {
		t.Errorf("a certificate for 192.0.2.7 logged in from 127.0.0.1: %s", out)
	}
}

// TestBudget: connections to the host hold slots of the budget; past it a
// command of another lease waits its time and fails with the budget's
// error, and gets through once a lease's connection has closed.
func TestBudget(t *testing.T) {
	f := open(t, func(c *config.Connection) { c.MaxConnections, c.ConnectionWait = 1, 200*time.Millisecond })
	a, leaseA := f.mint(t, connectors.SSHGrants{Principal: f.srv.Users[0]}, 5*time.Minute)
	b, _ := f.mint(t, connectors.SSHGrants{Principal: f.srv.Users[0]}, 5*time.Minute)
	if out, _, err := f.exec(t, a.Credential, "true", false); err != nil {
		t.Fatalf("first lease: %v %s", err, out)
	}
	_, _, err := f.exec(t, b.Credential, "true", false)
	if !budget.IsFull(err) || !strings.Contains(err.Error(), "connection budget of 1") {
		t.Fatalf("second lease past the budget: %v", err)
	}
	if err := f.conn.Revoke(context.Background(), connectors.RevokeRequest{Lease: leaseA}); err != nil {
		t.Fatal(err)
	}
	if out, _, err := f.exec(t, b.Credential, "true", false); err != nil {
		t.Errorf("after the first lease's connection closed: %v %s", err, out)
	}
}
