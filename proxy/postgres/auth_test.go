package postgres_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/internal/testoidc"
)

func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "warden.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// TestOIDCTokenOverTLS: a client logs in with an OIDC access token as its
// password, over TLS (SSLRequest answered with the configured
// certificate); it is the token's subject with the token's groups,
// whatever user name it gives. A bad token is refused with the reason.
func TestOIDCTokenOverTLS(t *testing.T) {
	const resource = "https://warden.test/mcp"
	idp := testoidc.Start(t, testoidc.Options{Audience: []string{resource},
		Clients: []testoidc.Client{{ID: "ci-bot", Secret: "ci-bot-secret", Groups: []string{"agents"}}}})
	verifier, err := identity.NewOIDC(identity.OIDCOptions{Issuers: []config.OIDCIssuer{{Name: "test", Issuer: idp.Issuer,
		Audience: resource, SubjectClaim: "sub", GroupsClaim: "groups"}}})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOptions{setup: shopSetup, tls: selfSigned(t), oidc: verifier})
	token := idp.ClientCredentials(t, "ci-bot", "ci-bot-secret")
	host, port, _ := net.SplitHostPort(h.addr)
	ctx := context.Background()
	connect := func(user, password, sslmode string) (*pgx.Conn, error) {
		cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%s dbname=app user=%s sslmode=%s", host, port, user, sslmode))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Password = password
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return pgx.ConnectConfig(cctx, cfg)
	}
	c, err := connect("anyone", token, "require")
	if err != nil {
		t.Fatalf("OIDC token over TLS: %v", err)
	}
	defer c.Close(ctx)
	if !c.PgConn().Conn().(interface{ ConnectionState() tls.ConnectionState }).ConnectionState().HandshakeComplete {
		t.Fatal("not TLS")
	}
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&n); err != nil || n != 3 {
		t.Fatalf("query as the token's subject: %d %v", n, err)
	}
	found := false
	for _, e := range h.events() {
		if e.Transport == "postgres-proxy" && e.Identity == "ci-bot" && e.Issuer == idp.Issuer {
			found = true
		}
	}
	if !found {
		t.Fatal("no audit event names ci-bot as identified by the issuer")
	}
	_, err = connect("anyone", token[:len(token)-4]+"AAAA", "require")
	if err == nil || !strings.Contains(err.Error(), "password authentication failed") || strings.Contains(err.Error(), token[:20]) {
		t.Fatalf("forged token: %v", err)
	}
}

// TestPlaintextOnlyOnLoopback: from another address, a client without TLS
// is refused before it sends its token; with TLS it gets in.
func TestPlaintextOnlyOnLoopback(t *testing.T) {
	var ip net.IP
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			ip = n.IP
			break
		}
	}
	if ip == nil {
		t.Skip("this machine has no non-loopback IPv4 address to connect from")
	}
	h := newHarness(t, harnessOptions{setup: shopSetup, tls: selfSigned(t), listen: net.JoinHostPort(ip.String(), "0")})
	i := h.login("alice")
	ctx := context.Background()
	for _, c := range []struct{ sslmode, want string }{{"disable", "requires TLS"}, {"require", ""}} {
		cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%s dbname=app user=%s password=%s sslmode=%s", i.Host, i.Port, i.User, i.Password, c.sslmode))
		if err != nil {
			t.Fatal(err)
		}
		conn, err := pgx.ConnectConfig(ctx, cfg)
		switch {
		case c.want == "" && err != nil:
			t.Fatalf("sslmode=%s: %v", c.sslmode, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Fatalf("sslmode=%s: got %v, want %q", c.sslmode, err, c.want)
		}
		if conn != nil {
			conn.Close(ctx)
		}
	}
}
