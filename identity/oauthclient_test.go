package identity_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/internal/testoidc"
)

func TestAuthParam(t *testing.T) {
	h := `Bearer error="invalid_token", error_description="the token expired", resource_metadata=https://w.test/.well-known/oauth-protected-resource/mcp, scope=a`
	for _, tt := range []struct{ name, want string }{
		{"error", "invalid_token"},
		{"error_description", "the token expired"},
		{"resource_metadata", "https://w.test/.well-known/oauth-protected-resource/mcp"},
		{"scope", "a"},
		{"description", ""}, // only whole parameter names
		{"realm", ""},
	} {
		if got := identity.AuthParam(h, tt.name); got != tt.want {
			t.Errorf("AuthParam(%s) = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := identity.AuthParam(`Bearer error="unterminated`, "error"); got != "" {
		t.Errorf("an unterminated quote gave %q", got)
	}
}

func TestCheckTokenURL(t *testing.T) {
	for u, ok := range map[string]bool{
		"https://idp.example.com": true, "http://127.0.0.1:8080": true, "http://localhost/x": true, "http://[::1]:9": true,
		"http://idp.example.com": false, "ftp://idp.example.com": false, "/relative": false, "": false,
	} {
		if msg := identity.CheckTokenURL(u); (msg == "") != ok {
			t.Errorf("CheckTokenURL(%q) = %q, want ok %v", u, msg, ok)
		}
	}
}

// metadataServer serves Warden's RFC 9728 metadata as handlers say.
func metadataServer(t *testing.T, handle func(srv string, w http.ResponseWriter, r *http.Request)) string {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handle(srv.URL, w, r) }))
	t.Cleanup(srv.Close)
	return srv.URL
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func TestDiscover(t *testing.T) {
	ctx := context.Background()
	var c identity.LoginClient
	t.Run("from the challenge", func(t *testing.T) {
		base := metadataServer(t, func(srv string, w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/mcp":
				w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+srv+`/meta/here"`)
				w.WriteHeader(http.StatusUnauthorized)
			case "/meta/here":
				writeJSON(w, identity.ProtectedResource{Resource: srv + "/mcp", AuthorizationServers: []string{"https://idp.test"}, Scopes: []string{"warden"}})
			default:
				http.NotFound(w, r)
			}
		})
		res, err := c.Discover(ctx, base+"/mcp")
		if err != nil || res.AuthorizationServers[0] != "https://idp.test" || res.Scopes[0] != "warden" {
			t.Fatalf("Discover = %+v, %v", res, err)
		}
	})
	t.Run("at the well-known URL", func(t *testing.T) {
		base := metadataServer(t, func(srv string, w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/.well-known/oauth-protected-resource/mcp" {
				writeJSON(w, identity.ProtectedResource{Resource: srv + "/mcp/", AuthorizationServers: []string{"https://idp.test"}})
				return
			}
			http.NotFound(w, r)
		})
		if res, err := c.Discover(ctx, base+"/mcp"); err != nil || res.Resource != base+"/mcp/" {
			t.Fatalf("Discover = %+v, %v", res, err)
		}
	})
	for _, tt := range []struct {
		name string
		meta func(srv string) any
		want string
	}{
		{"another resource", func(srv string) any {
			return identity.ProtectedResource{Resource: "https://other.test/mcp", AuthorizationServers: []string{"https://idp.test"}}
		}, "describes the resource https://other.test/mcp"},
		{"no authorization server", func(srv string) any { return identity.ProtectedResource{Resource: srv + "/mcp"} }, "names no authorization server"},
		{"none", nil, "does not publish OAuth protected resource metadata"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base := metadataServer(t, func(srv string, w http.ResponseWriter, r *http.Request) {
				if tt.meta != nil && strings.HasPrefix(r.URL.Path, "/.well-known/") {
					writeJSON(w, tt.meta(srv))
					return
				}
				http.NotFound(w, r)
			})
			if _, err := c.Discover(ctx, base+"/mcp"); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Discover error = %v, want containing %q", err, tt.want)
			}
		})
	}
}

// prompts reads what a LoginClient prompts, line by line.
func prompts(t *testing.T) (io.Writer, <-chan string) {
	t.Helper()
	r, w := io.Pipe()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- strings.TrimSpace(sc.Text())
		}
	}()
	t.Cleanup(func() { w.Close() })
	return w, lines
}

func awaitLine(t *testing.T, lines <-chan string, match func(string) bool) string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the prompts ended")
			}
			if match(l) {
				return l
			}
		case <-timeout:
			t.Fatal("timed out waiting for a prompt")
		}
	}
}

const loginResource = "https://warden.test/mcp"

func loginIDP(t *testing.T) *testoidc.Provider {
	return testoidc.Start(t, testoidc.Options{
		Audience: []string{loginResource},
		Users:    []testoidc.User{{Username: "alice", Password: "alice-pw", Groups: []string{"dba"}}},
		Clients:  []testoidc.Client{{ID: "warden-cli"}},
	})
}

type tokenResult struct {
	tok *oauth2.Token
	err error
}

// TestBrowserLogin: the authorization code flow with PKCE against a real
// provider, a stray redirect refused on the way, then a refresh and a
// revocation of the tokens it got.
func TestBrowserLogin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	idp := loginIDP(t)
	prompt, lines := prompts(t)
	c := identity.LoginClient{Prompt: prompt}
	login, err := c.Configure(ctx, idp.URL, "warden-cli", loginResource, []string{"warden"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(login.Config.Scopes, " "); got != "openid offline_access warden" {
		t.Errorf("scopes %q", got)
	}
	done := make(chan tokenResult, 1)
	go func() {
		tok, err := c.Browser(ctx, login)
		done <- tokenResult{tok, err}
	}()
	authURL := awaitLine(t, lines, func(l string) bool { return strings.HasPrefix(l, idp.URL+"/authorize?") })
	au, _ := url.Parse(authURL)
	if q := au.Query(); q.Get("code_challenge_method") != "S256" || q.Get("resource") != loginResource || q.Get("state") == "" {
		t.Fatalf("authorization URL without PKCE, resource or state: %s", authURL)
	}
	back := idp.Login(t, authURL, "alice", "alice-pw")
	if back.Hostname() != "127.0.0.1" || back.Path != "/callback" {
		t.Fatalf("the provider sent the browser to %s", back)
	}
	stray := *back
	stray.RawQuery = url.Values{"code": {"x"}, "state": {"not-the-state"}}.Encode()
	if resp, err := http.Get(stray.String()); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a redirect with another state: %v, %v; want 400", resp, err)
	}
	resp, err := http.Get(back.String())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "logged in") {
		t.Fatalf("callback: %d %s", resp.StatusCode, page)
	}
	res := <-done
	if res.err != nil || res.tok.AccessToken == "" || res.tok.RefreshToken == "" {
		t.Fatalf("Browser = %+v, %v; want an access and a refresh token", res.tok, res.err)
	}

	expired := *res.tok
	expired.Expiry = time.Now().Add(-time.Minute)
	next, err := c.Refresh(ctx, "warden-cli", login.Config.Endpoint.TokenURL, login.Config.Scopes, &expired)
	if err != nil || next.AccessToken == "" || next.AccessToken == res.tok.AccessToken {
		t.Fatalf("Refresh = %+v, %v; want a new access token", next, err)
	}
	if same, err := c.Refresh(ctx, "warden-cli", login.Config.Endpoint.TokenURL, nil, next); err != nil || same != next {
		t.Fatalf("Refresh of a valid token = %v, %v; want it as it is", same, err)
	}
	noRefresh := expired
	noRefresh.RefreshToken = ""
	if _, err := c.Refresh(ctx, "warden-cli", login.Config.Endpoint.TokenURL, nil, &noRefresh); err == nil {
		t.Fatal("Refresh without a refresh token: no error")
	} else if strings.Contains(err.Error(), noRefresh.AccessToken) {
		t.Fatalf("Refresh error shows the token: %v", err)
	}
	if errs := c.Revoke(ctx, idp.URL, "warden-cli", next.RefreshToken, next.AccessToken); len(errs) != 0 {
		t.Fatalf("Revoke: %v", errs)
	}
}

// TestBrowserLoginRefusesAnotherIssuer: a redirect naming another issuer
// (RFC 9207, a mix-up) fails the login.
func TestBrowserLoginRefusesAnotherIssuer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	idp := loginIDP(t)
	prompt, lines := prompts(t)
	c := identity.LoginClient{Prompt: prompt}
	login, err := c.Configure(ctx, idp.URL, "warden-cli", loginResource, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan tokenResult, 1)
	go func() {
		tok, err := c.Browser(ctx, login)
		done <- tokenResult{tok, err}
	}()
	authURL := awaitLine(t, lines, func(l string) bool { return strings.HasPrefix(l, idp.URL+"/authorize?") })
	au, _ := url.Parse(authURL)
	back, _ := url.Parse(au.Query().Get("redirect_uri"))
	back.RawQuery = url.Values{"code": {"x"}, "state": {au.Query().Get("state")}, "iss": {"https://evil.test"}}.Encode()
	if resp, err := http.Get(back.String()); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a redirect from another issuer: %v, %v; want 400", resp, err)
	}
	if res := <-done; res.err == nil || !strings.Contains(res.err.Error(), "https://evil.test") {
		t.Fatalf("Browser = %+v, %v; want the mix-up refused", res.tok, res.err)
	}
}

func TestDeviceLogin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	idp := loginIDP(t)
	prompt, lines := prompts(t)
	c := identity.LoginClient{Prompt: prompt}
	login, err := c.Configure(ctx, idp.URL, "warden-cli", loginResource, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan tokenResult, 1)
	go func() {
		tok, err := c.Device(ctx, login)
		done <- tokenResult{tok, err}
	}()
	awaitLine(t, lines, func(l string) bool { return strings.Contains(l, "enter the code") })
	code := awaitLine(t, lines, func(l string) bool { return l != "" })
	idp.ApproveDevice(t, code, "alice", "alice-pw")
	if res := <-done; res.err != nil || res.tok.AccessToken == "" {
		t.Fatalf("Device = %+v, %v", res.tok, res.err)
	}

	login.Config.Endpoint.DeviceAuthURL = ""
	if _, err := c.Device(ctx, login); err == nil || !strings.Contains(err.Error(), "device flow") {
		t.Fatalf("Device without a device endpoint = %v", err)
	}
}

func TestWhoAmI(t *testing.T) {
	base := metadataServer(t, func(_ string, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/whoami" {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer good-token" {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="the token expired"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		writeJSON(w, identity.WhoAmI{Subject: "alice", Groups: []string{"dba"}, Issuer: "https://idp.test"})
	})
	var c identity.LoginClient
	who, err := c.WhoAmI(context.Background(), base+"/mcp", "good-token")
	if err != nil || who.Subject != "alice" || who.Groups[0] != "dba" {
		t.Fatalf("WhoAmI = %+v, %v", who, err)
	}
	_, err = c.WhoAmI(context.Background(), base+"/mcp", "bad-token")
	if err == nil || !strings.Contains(err.Error(), "the token expired") || strings.Contains(err.Error(), "bad-token") {
		t.Fatalf("WhoAmI with a refused token = %v; want the server's reason, not the token", err)
	}
}
