package identity_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/internal/testoidc"
)

const resource = "https://warden.test/mcp"

// newIDP starts a real OpenID provider with the users and clients the
// tests use.
func newIDP(t *testing.T, o testoidc.Options) *testoidc.Provider {
	t.Helper()
	if o.Audience == nil {
		o.Audience = []string{resource}
	}
	o.Users = append(o.Users,
		testoidc.User{Username: "alice", Password: "alice-pw", Email: "alice@example.com", EmailVerified: true, Groups: []string{"agents", "dba"}},
		testoidc.User{Username: "bob", Password: "bob-pw", Email: "bob@example.com", EmailVerified: false, Groups: []string{"agents"}},
	)
	o.Clients = append(o.Clients,
		testoidc.Client{ID: "warden-cli"},
		testoidc.Client{ID: "ci-bot", Secret: "ci-bot-secret", Groups: []string{"agents"}},
		testoidc.Client{ID: "other-app", Secret: "other-secret", Audience: []string{"https://other.test/api"}},
	)
	return testoidc.Start(t, o)
}

// issuerFor is the configuration trusting idp, with defaults applied as
// the config package would.
func issuerFor(idp *testoidc.Provider) config.OIDCIssuer {
	return config.OIDCIssuer{Name: "test", Issuer: idp.Issuer, Audience: resource, SubjectClaim: "sub", GroupsClaim: "groups"}
}

// logBuffer collects a logger's output.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newOIDC(t *testing.T, mod func(*identity.OIDCOptions), issuers ...config.OIDCIssuer) (*identity.OIDC, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	opts := identity.OIDCOptions{
		Issuers:            issuers,
		Logger:             slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		KeyRefreshInterval: time.Millisecond,
		DiscoveryRetry:     time.Millisecond,
	}
	if mod != nil {
		mod(&opts)
	}
	o, err := identity.NewOIDC(opts)
	if err != nil {
		t.Fatal(err)
	}
	return o, logs
}

// claims are the claims of a token the provider could have issued to
// alice for Warden, valid now.
func claims(idp *testoidc.Provider) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": idp.Issuer, "sub": "alice", "aud": []string{resource}, "jti": "tok-1",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"groups": []string{"agents"}, "scope": "openid warden",
	}
}

func with(c map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func TestOIDCAcceptsProviderTokens(t *testing.T) {
	idp := newIDP(t, testoidc.Options{})
	o, logs := newOIDC(t, nil, issuerFor(idp))
	ctx := context.Background()
	if err := o.Discover(ctx); err != nil {
		t.Fatal(err)
	}

	t.Run("authorization code with PKCE", func(t *testing.T) {
		tok := idp.UserToken(t, "warden-cli", "alice", "alice-pw")
		p, err := o.Verify(ctx, tok.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if p.Subject != "alice" || !slices.Equal(p.Groups, []string{"agents", "dba"}) || p.Issuer != idp.Issuer || p.TokenID == "" {
			t.Errorf("principal = %+v", p)
		}
		if d := time.Until(p.Expires); d < 4*time.Minute || d > 6*time.Minute {
			t.Errorf("expires in %v", d)
		}
		// The same through an HTTP request.
		r := httptest.NewRequest("POST", "/mcp", nil)
		r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		hp, err := o.IdentifyHTTP(ctx, r)
		if err != nil || hp.Subject != "alice" {
			t.Fatalf("IdentifyHTTP = %+v, %v", hp, err)
		}
		if strings.Contains(logs.String(), tok.AccessToken) {
			t.Error("the token reached the logs")
		}
	})

	t.Run("client credentials", func(t *testing.T) {
		tok := idp.ClientCredentials(t, "ci-bot", "ci-bot-secret", "warden")
		p, err := o.Verify(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if p.Subject != "ci-bot" || !slices.Equal(p.Groups, []string{"agents"}) || p.TokenID == "" {
			t.Errorf("principal = %+v", p)
		}
	})

	t.Run("expired moments ago, within the clock skew", func(t *testing.T) {
		tok := idp.Sign(t, with(claims(idp), "exp", time.Now().Add(-10*time.Second).Unix()))
		if _, err := o.Verify(ctx, tok); err != nil {
			t.Fatalf("a token 10 s past expiry is within the 30 s skew: %v", err)
		}
	})
}

// TestOIDCRefusesTokens tries to get in with every kind of bad token. Each
// must be refused as invalid_token (HTTP 401), and the refusal must not
// repeat the token.
func TestOIDCRefusesTokens(t *testing.T) {
	idp := newIDP(t, testoidc.Options{})
	untrusted := newIDP(t, testoidc.Options{})
	impostor := newIDP(t, testoidc.Options{Issuer: idp.Issuer}) // claims idp's issuer, has its own keys
	cfg := issuerFor(idp)
	o, logs := newOIDC(t, nil, cfg)
	emailIssuer := cfg
	emailIssuer.SubjectClaim = "email"
	byEmail, _ := newOIDC(t, nil, emailIssuer)
	ctx := context.Background()

	valid := idp.UserToken(t, "warden-cli", "alice", "alice-pw").AccessToken
	if _, err := o.Verify(ctx, valid); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(valid, ".")
	attacker, _ := rsa.GenerateKey(rand.Reader, 2048)
	pub, _ := x509.MarshalPKIXPublicKey(idp.PublicKey())
	now := time.Now()
	header := func(h string) string { return base64.RawURLEncoding.EncodeToString([]byte(h)) }
	payload := func(c map[string]any) string {
		tok := idp.Sign(t, c)
		return strings.Split(tok, ".")[1]
	}
	manyGroups := make([]string, 300)
	for i := range manyGroups {
		manyGroups[i] = fmt.Sprintf("g%d", i)
	}

	tests := []struct {
		name  string
		token func(t *testing.T) string
		o     *identity.OIDC
		want  string // in the description
	}{
		{"expired", func(t *testing.T) string {
			return idp.Sign(t, with(claims(idp), "exp", now.Add(-10*time.Minute).Unix()))
		}, o, "expired"},
		{"not yet valid", func(t *testing.T) string {
			return idp.Sign(t, with(claims(idp), "nbf", now.Add(time.Hour).Unix(), "exp", now.Add(2*time.Hour).Unix()))
		}, o, "not valid yet"},
		{"audience of another resource", func(t *testing.T) string {
			return idp.Sign(t, with(claims(idp), "aud", []string{"https://other.test/mcp"}))
		}, o, "audience"},
		{"no audience", func(t *testing.T) string { return idp.Sign(t, with(claims(idp), "aud", nil)) }, o, "audience"},
		{"issued by the provider to another application", func(t *testing.T) string { return idp.ClientCredentials(t, "other-app", "other-secret") }, o, "audience"},
		{"untrusted issuer", func(t *testing.T) string {
			return untrusted.UserToken(t, "warden-cli", "alice", "alice-pw").AccessToken
		}, o, "issuer is not trusted"},
		{"impostor naming the trusted issuer", func(t *testing.T) string { return impostor.ClientCredentials(t, "ci-bot", "ci-bot-secret") }, o, "signature"},
		{"impostor reusing the trusted key id", func(t *testing.T) string {
			return testoidc.SignWith(t, claims(idp), jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: attacker, KeyID: idp.KeyID()}})
		}, o, "signature"},
		{"issuer claim altered to a trusted one", func(t *testing.T) string {
			return testoidc.SignWith(t, claims(idp), jose.SigningKey{Algorithm: jose.RS256, Key: attacker})
		}, o, "signature"},
		{"alg none", func(t *testing.T) string {
			return header(`{"alg":"none","typ":"JWT"}`) + "." + payload(claims(idp)) + "."
		}, o, "not a signed JWT"},
		{"alg none, signature kept", func(t *testing.T) string { return header(`{"alg":"none"}`) + "." + parts[1] + "." + parts[2] }, o, "not a signed JWT"},
		{"HS256 keyed with the provider's public key", func(t *testing.T) string {
			return testoidc.SignWith(t, claims(idp), jose.SigningKey{Algorithm: jose.HS256, Key: pub})
		}, o, "not a signed JWT"},
		{"tampered payload", func(t *testing.T) string {
			return parts[0] + "." + payload(with(claims(idp), "sub", "admin", "groups", []string{"dba", "admins"})) + "." + parts[2]
		}, o, "signature"},
		{"tampered signature", func(t *testing.T) string {
			// Another valid base64url character: the signature decodes, and
			// is wrong. (Flipping a bit could make '-' or '_' undecodable.)
			sig := []byte(parts[2])
			if sig[10] == 'A' {
				sig[10] = 'B'
			} else {
				sig[10] = 'A'
			}
			return parts[0] + "." + parts[1] + "." + string(sig)
		}, o, "signature"},
		{"signature of another token", func(t *testing.T) string {
			other := strings.Split(idp.ClientCredentials(t, "ci-bot", "ci-bot-secret"), ".")
			return parts[0] + "." + parts[1] + "." + other[2]
		}, o, "signature"},
		{"not a JWT", func(t *testing.T) string { return "not-a-jwt" }, o, "not a signed JWT"},
		{"two segments", func(t *testing.T) string { return parts[0] + "." + parts[1] }, o, "not a signed JWT"},
		{"JWE-shaped", func(t *testing.T) string { return parts[0] + "." + parts[1] + "." + parts[2] + ".a.b" }, o, "not a signed JWT"},
		{"too large", func(t *testing.T) string {
			return parts[0] + "." + strings.Repeat("A", identity.MaxTokenBytes) + "." + parts[2]
		}, o, "too large"},
		{"no subject", func(t *testing.T) string { return idp.Sign(t, with(claims(idp), "sub", nil)) }, o, "sub claim"},
		{"subject with spaces", func(t *testing.T) string { return idp.Sign(t, with(claims(idp), "sub", "alice smith")) }, o, "sub claim"},
		{"subject not a string", func(t *testing.T) string { return idp.Sign(t, with(claims(idp), "sub", 42)) }, o, "not valid"},
		{"groups of the wrong type", func(t *testing.T) string { return idp.Sign(t, with(claims(idp), "groups", 7)) }, o, "groups claim"},
		{"group not a string", func(t *testing.T) string { return idp.Sign(t, with(claims(idp), "groups", []any{"agents", 1})) }, o, "groups claim"},
		{"group with a control character", func(t *testing.T) string { return idp.Sign(t, with(claims(idp), "groups", []string{"dba\x00"})) }, o, "groups claim"},
		{"too many groups", func(t *testing.T) string { return idp.Sign(t, with(claims(idp), "groups", manyGroups)) }, o, "groups claim"},
		{"unverified e-mail as identity", func(t *testing.T) string { return idp.UserToken(t, "warden-cli", "bob", "bob-pw").AccessToken }, byEmail, "not verified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.token(t)
			p, err := tt.o.Verify(ctx, tok)
			var te *identity.TokenError
			if !errors.As(err, &te) {
				t.Fatalf("accepted or not refused as a token error: principal %+v, err %v", p, err)
			}
			if te.Code != identity.CodeInvalidToken || !errors.Is(err, identity.ErrUnauthenticated) {
				t.Errorf("code %q, want invalid_token", te.Code)
			}
			if !strings.Contains(te.Description, tt.want) {
				t.Errorf("description %q does not contain %q (cause: %v)", te.Description, tt.want, te.Cause)
			}
			if sig := tok[strings.LastIndex(tok, ".")+1:]; len(sig) > 8 && strings.Contains(err.Error(), sig) {
				t.Errorf("the refusal repeats the token: %v", err)
			}
		})
	}
	if strings.Contains(logs.String(), parts[2]) {
		t.Error("a token reached the logs")
	}
}

func TestOIDCScopes(t *testing.T) {
	idp := newIDP(t, testoidc.Options{})
	cfg := issuerFor(idp)
	cfg.Scopes = []string{"warden"}
	o, _ := newOIDC(t, nil, cfg)
	ctx := context.Background()
	for _, tt := range []struct {
		name  string
		token string
		ok    bool
	}{
		{"scope claim", idp.Sign(t, with(claims(idp), "scope", "openid warden")), true},
		{"scp list", idp.Sign(t, with(claims(idp), "scope", nil, "scp", []string{"warden"})), true},
		{"scp string", idp.Sign(t, with(claims(idp), "scope", nil, "scp", "warden other")), true},
		{"real token with the scope", idp.ClientCredentials(t, "ci-bot", "ci-bot-secret", "warden"), true},
		{"other scopes only", idp.Sign(t, with(claims(idp), "scope", "openid wardens")), false},
		{"no scope", idp.Sign(t, with(claims(idp), "scope", nil)), false},
		{"real token without the scope", idp.ClientCredentials(t, "ci-bot", "ci-bot-secret"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := o.Verify(ctx, tt.token)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var te *identity.TokenError
			if !errors.As(err, &te) || te.Code != identity.CodeInsufficientScope || !errors.Is(err, identity.ErrInsufficientScope) || !slices.Equal(te.Scopes, []string{"warden"}) {
				t.Fatalf("err = %#v, want insufficient_scope", err)
			}
		})
	}
	// A bad token is refused as such before its scopes are considered.
	_, err := o.Verify(ctx, idp.Sign(t, with(claims(idp), "scope", nil, "aud", "https://other.test")))
	if !errors.Is(err, identity.ErrUnauthenticated) || errors.Is(err, identity.ErrInsufficientScope) {
		t.Errorf("err = %v, want invalid_token", err)
	}
}

// TestOIDCClaimMapping: identity and groups come from the configured
// claims, in every shape providers write them.
func TestOIDCClaimMapping(t *testing.T) {
	idp := newIDP(t, testoidc.Options{})
	ctx := context.Background()
	tests := []struct {
		name    string
		cfg     func(*config.OIDCIssuer)
		claims  map[string]any
		subject string
		groups  []string
	}{
		{"defaults", nil, claims(idp), "alice", []string{"agents"}},
		{"email as identity", func(c *config.OIDCIssuer) { c.SubjectClaim = "email" },
			with(claims(idp), "email", "alice@example.com", "email_verified", true), "alice@example.com", []string{"agents"}},
		{"email without email_verified", func(c *config.OIDCIssuer) { c.SubjectClaim = "email" },
			with(claims(idp), "email", "alice@example.com"), "alice@example.com", []string{"agents"}},
		{"groups as a space-separated string", func(c *config.OIDCIssuer) { c.GroupsClaim = "roles" },
			with(claims(idp), "roles", "dba  agents"), "alice", []string{"dba", "agents"}},
		{"groups as a comma-separated string", func(c *config.OIDCIssuer) { c.GroupsClaim = "roles" },
			with(claims(idp), "roles", "dba,agents, readers"), "alice", []string{"dba", "agents", "readers"}},
		{"nested groups", func(c *config.OIDCIssuer) { c.GroupsClaim = "realm_access.roles" },
			with(claims(idp), "realm_access", map[string]any{"roles": []string{"dba"}}), "alice", []string{"dba"}},
		{"claim name with dots", func(c *config.OIDCIssuer) { c.GroupsClaim = "https://warden.test/groups" },
			with(claims(idp), "https://warden.test/groups", []string{"Domain Admins"}), "alice", []string{"Domain Admins"}},
		{"no groups claim configured", func(c *config.OIDCIssuer) { c.GroupsClaim = "" }, claims(idp), "alice", nil},
		{"groups claim absent", func(c *config.OIDCIssuer) { c.GroupsClaim = "teams" }, claims(idp), "alice", nil},
		{"duplicate groups", nil, with(claims(idp), "groups", []string{"a", "a", "b"}), "alice", []string{"a", "b"}},
		{"prefixes", func(c *config.OIDCIssuer) { c.SubjectPrefix = "corp:"; c.GroupsPrefix = "corp:" },
			claims(idp), "corp:alice", []string{"corp:agents"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := issuerFor(idp)
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			o, _ := newOIDC(t, nil, cfg)
			p, err := o.Verify(ctx, idp.Sign(t, tt.claims))
			if err != nil {
				t.Fatal(err)
			}
			if p.Subject != tt.subject || !slices.Equal(p.Groups, tt.groups) || p.TokenID != "tok-1" {
				t.Errorf("principal = %+v, want %s %v", p, tt.subject, tt.groups)
			}
		})
	}
}

// TestOIDCSeveralIssuers: one issuer for humans, one for machines, each
// with its own rules; neither can sign for the other.
func TestOIDCSeveralIssuers(t *testing.T) {
	humans := newIDP(t, testoidc.Options{})
	machines := newIDP(t, testoidc.Options{GroupsClaim: "roles"})
	h := issuerFor(humans)
	h.Name, h.SubjectClaim = "humans", "email"
	m := issuerFor(machines)
	m.Name, m.SubjectPrefix, m.GroupsClaim, m.GroupsPrefix = "machines", "machine:", "roles", "machine:"
	o, _ := newOIDC(t, nil, h, m)
	ctx := context.Background()

	p, err := o.Verify(ctx, humans.UserToken(t, "warden-cli", "alice", "alice-pw").AccessToken)
	if err != nil || p.Subject != "alice@example.com" || p.Issuer != humans.Issuer || !slices.Equal(p.Groups, []string{"agents", "dba"}) {
		t.Errorf("human: %+v %v", p, err)
	}
	p, err = o.Verify(ctx, machines.ClientCredentials(t, "ci-bot", "ci-bot-secret"))
	if err != nil || p.Subject != "machine:ci-bot" || p.Issuer != machines.Issuer || !slices.Equal(p.Groups, []string{"machine:agents"}) {
		t.Errorf("machine: %+v %v", p, err)
	}
	// The machines' provider signing a token naming the humans' issuer.
	forged := machines.Sign(t, with(claims(humans), "email", "root@example.com"))
	if _, err := o.Verify(ctx, forged); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Errorf("a token signed by another trusted issuer's key was accepted: %v", err)
	}
}

// TestOIDCKeyRotation rotates the provider's signing key mid-test: tokens
// signed with the new key are accepted (the key set is fetched again), and
// once the old key is retired, its tokens are refused.
func TestOIDCKeyRotation(t *testing.T) {
	idp := newIDP(t, testoidc.Options{})
	o, _ := newOIDC(t, nil, issuerFor(idp))
	ctx := context.Background()
	verify := func(name, tok string, ok bool) {
		t.Helper()
		_, err := o.Verify(ctx, tok)
		if ok && err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !ok && !errors.Is(err, identity.ErrUnauthenticated) {
			t.Fatalf("%s: accepted (%v)", name, err)
		}
	}
	first := idp.ClientCredentials(t, "ci-bot", "ci-bot-secret")
	verify("first key", first, true)
	fetches := idp.KeyFetches()

	idp.RotateKey(t, false)
	second := idp.ClientCredentials(t, "ci-bot", "ci-bot-secret")
	time.Sleep(5 * time.Millisecond) // past the (test) key refresh interval
	verify("second key", second, true)
	if idp.KeyFetches() != fetches+1 {
		t.Errorf("key set fetched %d times after rotation, want once", idp.KeyFetches()-fetches)
	}
	verify("first key, still published", first, true)

	idp.RotateKey(t, true)
	third := idp.ClientCredentials(t, "ci-bot", "ci-bot-secret")
	time.Sleep(5 * time.Millisecond)
	verify("third key", third, true)
	// go-oidc hands the fetched keys to the waiting verification a moment
	// before it replaces its cache with them, so the retired keys are
	// refused once that has happened (at once, bar scheduling).
	retired := func(tok string) bool {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if _, err := o.Verify(ctx, tok); errors.Is(err, identity.ErrUnauthenticated) {
				return true
			}
		}
		return false
	}
	if !retired(first) || !retired(second) {
		t.Fatal("a retired key is still accepted after the key set was fetched again")
	}
	verify("third key again", third, true)
}

// TestOIDCKeyFetchThrottled: tokens naming unknown keys cannot make Warden
// fetch the provider's keys more than once per interval.
func TestOIDCKeyFetchThrottled(t *testing.T) {
	idp := newIDP(t, testoidc.Options{})
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	o, _ := newOIDC(t, func(opts *identity.OIDCOptions) {
		opts.KeyRefreshInterval = 10 * time.Second
		opts.Now = now
	}, issuerFor(idp))
	ctx := context.Background()
	if _, err := o.Verify(ctx, idp.ClientCredentials(t, "ci-bot", "ci-bot-secret")); err != nil {
		t.Fatal(err)
	}
	fetches := idp.KeyFetches()
	attacker, _ := rsa.GenerateKey(rand.Reader, 2048)
	for i := range 50 {
		tok := testoidc.SignWith(t, claims(idp), jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: attacker, KeyID: fmt.Sprintf("k%d", i)}})
		if _, err := o.Verify(ctx, tok); !errors.Is(err, identity.ErrUnauthenticated) {
			t.Fatalf("forged token %d: %v", i, err)
		}
	}
	if n := idp.KeyFetches() - fetches; n > 1 {
		t.Errorf("50 forged tokens caused %d key set fetches, want at most 1", n)
	}
	// A real rotation is followed once the interval has passed.
	idp.RotateKey(t, false)
	rotated := idp.ClientCredentials(t, "ci-bot", "ci-bot-secret")
	mu.Lock()
	clock = clock.Add(11 * time.Second)
	mu.Unlock()
	if _, err := o.Verify(ctx, rotated); err != nil {
		t.Fatalf("after the interval, a token signed by the new key: %v", err)
	}
}

func TestOIDCProviderUnavailable(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	url := down.URL
	down.Close()
	o, logs := newOIDC(t, nil, config.OIDCIssuer{Name: "down", Issuer: url, Audience: resource, SubjectClaim: "sub"})
	if err := o.Discover(context.Background()); !errors.Is(err, identity.ErrUnavailable) {
		t.Errorf("Discover = %v", err)
	}
	tok := testoidc.SignWith(t, map[string]any{"iss": url, "sub": "x", "aud": resource, "exp": time.Now().Add(time.Minute).Unix()},
		jose.SigningKey{Algorithm: jose.RS256, Key: mustKey(t)})
	_, err := o.Verify(context.Background(), tok)
	var te *identity.TokenError
	if !errors.Is(err, identity.ErrUnavailable) || errors.As(err, &te) {
		t.Errorf("Verify = %v, want ErrUnavailable (not a refusal of the token)", err)
	}
	if !strings.Contains(logs.String(), "OIDC discovery failed") {
		t.Errorf("logs: %s", logs)
	}
}

func mustKey(t *testing.T) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestLoopbackWithTokens: with allow_anonymous_loopback and an identity
// provider, a request with a token is judged by its token, never let
// through as the local identity.
func TestLoopbackWithTokens(t *testing.T) {
	idp := newIDP(t, testoidc.Options{})
	o, _ := newOIDC(t, nil, issuerFor(idp))
	l := identity.Loopback{Principal: identity.Principal{Subject: "local", Issuer: "anonymous-loopback"}, Tokens: o}
	ctx := context.Background()
	req := func(remote, auth, query string) *http.Request {
		r := httptest.NewRequest("POST", "/mcp"+query, nil)
		r.RemoteAddr = remote
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		return r
	}
	if p, err := l.IdentifyHTTP(ctx, req("127.0.0.1:5000", "", "")); err != nil || p.Subject != "local" {
		t.Errorf("anonymous loopback: %+v %v", p, err)
	}
	if _, err := l.IdentifyHTTP(ctx, req("192.0.2.1:5000", "", "")); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Errorf("anonymous remote: %v", err)
	}
	tok := idp.ClientCredentials(t, "ci-bot", "ci-bot-secret")
	if p, err := l.IdentifyHTTP(ctx, req("127.0.0.1:5000", "Bearer "+tok, "")); err != nil || p.Subject != "ci-bot" {
		t.Errorf("token on loopback: %+v %v", p, err)
	}
	if p, err := l.IdentifyHTTP(ctx, req("127.0.0.1:5000", "Bearer garbage", "")); err == nil {
		t.Errorf("a bad token on loopback fell back to the local identity: %+v", p)
	}
	if p, err := l.IdentifyHTTP(ctx, req("127.0.0.1:5000", "", "?access_token="+tok)); err == nil {
		t.Errorf("a token in the query string fell back to the local identity: %+v", p)
	}
	noTokens := identity.Loopback{Principal: l.Principal}
	if _, err := noTokens.IdentifyHTTP(ctx, req("127.0.0.1:5000", "Bearer "+tok, "")); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Errorf("a token without an identity provider: %v", err)
	}
}
