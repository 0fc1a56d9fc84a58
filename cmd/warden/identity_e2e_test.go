package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/wardenhq/warden/internal/demo"
	"github.com/wardenhq/warden/internal/testoidc"
)

// oidcEnv is Warden configured to trust a real OpenID provider running in
// the test, over the demo SQLite database.
type oidcEnv struct {
	env
	idp      *testoidc.Provider
	resource string // http://127.0.0.1:PORT/mcp, where Warden will listen
	listen   string
}

func newOIDCEnv(t *testing.T) oidcEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	resource := "http://" + listen + "/mcp"
	idp := testoidc.Start(t, testoidc.Options{
		Audience: []string{resource},
		Users: []testoidc.User{
			{Username: "alice", Password: "alice-pw", Email: "alice@example.com", EmailVerified: true, Groups: []string{"agents", "dba"}},
			{Username: "bob", Password: "bob-pw", Groups: []string{"visitors"}},
		},
		Clients: []testoidc.Client{
			{ID: "warden-cli"},
			{ID: "ci-bot", Secret: "ci-bot-secret", Groups: []string{"agents"}},
			{ID: "other-app", Secret: "other-secret", Audience: []string{"https://other.test/api"}},
		},
	})
	dir := t.TempDir()
	if _, err := demo.CreateDatabase(context.Background(), filepath.Join(dir, "demo.db")); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
store: sqlite://./audit.db
identity:
  local: agent
  users:
    - {name: agent, groups: [agents]}
  resource: %s
  oidc:
    - name: test-idp
      issuer: %s
      groups_claim: groups
      scopes: [warden]
connections:
  - name: demo
    kind: sqlite
    path: ./demo.db
rules:
  - name: agents-read
    subjects: {groups: [agents]}
    connections: {names: [demo]}
    tools: [describe_schema, run_query]
    effect: allow
`, resource, idp.Issuer)
	path := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return oidcEnv{env: env{dir: dir, config: path}, idp: idp, resource: resource, listen: listen}
}

// serve starts warden serve on e.listen and returns its logs.
func (e oidcEnv) serve(t *testing.T) *syncBuffer {
	t.Helper()
	_, logs, _ := serveWarden(t, "--config", e.config, "--listen", e.listen, "--log-level", "debug")
	return logs
}

// bearerClient is an MCP client presenting a fixed token.
func bearerClient(t *testing.T, url, token string) *client.Client {
	t.Helper()
	c, err := client.NewStreamableHttpClient(url, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	initialize(t, c)
	return c
}

// auditEvents reads the trail through the CLI.
func auditEvents(t *testing.T, config string) []map[string]any {
	t.Helper()
	out, err := exec.Command(wardenBin, "audit", "list", "--config", config, "--json", "--limit", "1000").Output()
	if err != nil {
		t.Fatalf("audit list: %v", err)
	}
	var evs []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// checkNoToken proves no token (recognised by its signature) reached a
// log or a file Warden wrote.
func checkNoToken(t *testing.T, dir, logs string, tokens ...string) {
	t.Helper()
	for _, tok := range tokens {
		sig := tok[strings.LastIndex(tok, ".")+1:]
		if len(sig) < 16 {
			sig = tok
		}
		if strings.Contains(logs, sig) {
			t.Errorf("a token appears in Warden's logs")
		}
		filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return nil
			}
			if b, _ := os.ReadFile(path); bytes.Contains(b, []byte(sig)) {
				t.Errorf("a token appears in %s", path)
			}
			return nil
		})
	}
}

// TestOIDCDiscoveryWithMCPClient: an MCP client that knows nothing but
// Warden's URL finds the identity provider from the 401 challenge and the
// RFC 9728 document, logs in (authorization code with PKCE), and calls
// tools as the person who logged in.
func TestOIDCDiscoveryWithMCPClient(t *testing.T) {
	e := newOIDCEnv(t)
	logs := e.serve(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	initReq := mcpgo.InitializeRequest{}
	initReq.Params.ProtocolVersion = mcpgo.LATEST_PROTOCOL_VERSION
	initReq.Params.ClientInfo = mcpgo.Implementation{Name: "warden-e2e", Version: "1"}

	// A client without a token learns where the metadata is from the 401.
	plain, err := client.NewStreamableHttpClient(e.resource)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	plain.Start(ctx)
	_, err = plain.Initialize(ctx, initReq)
	if !client.IsAuthorizationRequiredError(err) {
		t.Fatalf("initialize without a token: %v, want authorization required", err)
	}
	metadata := client.GetResourceMetadataURL(err)
	if want := "http://" + e.listen + "/.well-known/oauth-protected-resource/mcp"; metadata != want {
		t.Fatalf("resource_metadata = %q, want %q", metadata, want)
	}

	// An OAuth client follows it (mcp-go checks that the document names
	// this very resource) to the authorization server, and logs in.
	store := client.NewMemoryTokenStore()
	c, err := client.NewOAuthStreamableHttpClient(e.resource, client.OAuthConfig{
		ClientID:                     "warden-cli",
		RedirectURI:                  "http://127.0.0.1:9/callback",
		Scopes:                       []string{"openid", "warden"},
		PKCEEnabled:                  true,
		TokenStore:                   store,
		ProtectedResourceMetadataURL: metadata,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = c.Initialize(ctx, initReq)
	if !client.IsOAuthAuthorizationRequiredError(err) {
		t.Fatalf("initialize without a token: %v, want an OAuth authorization required error", err)
	}
	handler := client.GetOAuthHandler(err)
	verifier, _ := client.GenerateCodeVerifier()
	challenge := client.GenerateCodeChallenge(verifier)
	state, _ := client.GenerateState()
	authURL, err := handler.GetAuthorizationURL(ctx, state, challenge)
	if err != nil {
		t.Fatalf("discover the authorization server: %v", err)
	}
	u, _ := url.Parse(authURL)
	if !strings.HasPrefix(authURL, e.idp.URL+"/authorize?") || u.Query().Get("resource") != e.resource || u.Query().Get("code_challenge_method") != "S256" {
		t.Fatalf("authorization URL %s: not the provider's, or without resource and PKCE", authURL)
	}
	back := e.idp.Login(t, authURL, "alice", "alice-pw")
	if err := handler.ProcessAuthorizationResponse(ctx, back.Query().Get("code"), back.Query().Get("state"), verifier); err != nil {
		t.Fatalf("exchange the code: %v", err)
	}
	if _, err := c.Initialize(ctx, initReq); err != nil {
		t.Fatalf("initialize with the token: %v", err)
	}
	res, text, s := call(t, c, "run_query", map[string]any{"connection": "demo", "sql": "SELECT count(*) FROM orders"})
	if res.IsError || s["row_count"].(float64) != 1 {
		t.Fatalf("run_query as alice: %s", text)
	}
	tok, _ := store.GetToken(ctx)

	var found bool
	for _, ev := range auditEvents(t, e.config) {
		if ev["identity"] == "alice" {
			found = true
			if ev["issuer"] != e.idp.Issuer || ev["transport"] != "http" || fmt.Sprint(ev["groups"]) != "[agents dba]" {
				t.Errorf("audit event = %v", ev)
			}
			// The token's id is recorded, never the token.
			if id, _ := ev["token_id"].(string); id == "" || strings.Contains(fmt.Sprint(ev), tok.AccessToken) {
				t.Errorf("audit event token id: %v", ev)
			}
		}
	}
	if !found {
		t.Error("no audit event names alice")
	}
	c.Close()
	checkNoToken(t, e.dir, logs.String(), tok.AccessToken)
}

// TestOIDCHTTPAttacks: every way in without a good token is refused
// before the MCP server sees the request, with the right status and
// challenge, and no token reaches the logs.
func TestOIDCHTTPAttacks(t *testing.T) {
	e := newOIDCEnv(t)
	logs := e.serve(t)
	idp := e.idp
	untrusted := testoidc.Start(t, testoidc.Options{Audience: []string{e.resource}, Clients: []testoidc.Client{{ID: "ci-bot", Secret: "ci-bot-secret"}}})
	impostor := testoidc.Start(t, testoidc.Options{Issuer: idp.Issuer, Audience: []string{e.resource}, Clients: []testoidc.Client{{ID: "ci-bot", Secret: "ci-bot-secret", Groups: []string{"agents"}}}})

	good := idp.ClientCredentials(t, "ci-bot", "ci-bot-secret", "warden")
	now := time.Now()
	claims := func(kv ...any) map[string]any {
		c := map[string]any{"iss": idp.Issuer, "sub": "ci-bot", "aud": e.resource, "scope": "warden", "groups": []string{"agents"},
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
		for i := 0; i+1 < len(kv); i += 2 {
			c[kv[i].(string)] = kv[i+1]
		}
		return c
	}
	parts := strings.Split(good, ".")
	forgedPayload := strings.Split(idp.Sign(t, claims("sub", "root", "groups", []string{"dba"})), ".")[1]
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."

	tests := []struct {
		name   string
		auth   string // Authorization header
		query  string
		status int
		want   string // in WWW-Authenticate
	}{
		{"no token", "", "", 401, `resource_metadata="http://` + e.listen + `/.well-known/oauth-protected-resource/mcp"`},
		{"expired", "Bearer " + idp.Sign(t, claims("exp", now.Add(-time.Hour).Unix())), "", 401, `error="invalid_token", error_description="the token has expired"`},
		{"not yet valid", "Bearer " + idp.Sign(t, claims("nbf", now.Add(time.Hour).Unix(), "exp", now.Add(2*time.Hour).Unix())), "", 401, `error="invalid_token"`},
		{"for another audience", "Bearer " + idp.ClientCredentials(t, "other-app", "other-secret", "warden"), "", 401, "audience"},
		{"untrusted issuer", "Bearer " + untrusted.ClientCredentials(t, "ci-bot", "ci-bot-secret", "warden"), "", 401, "issuer is not trusted"},
		{"impostor of the trusted issuer", "Bearer " + impostor.ClientCredentials(t, "ci-bot", "ci-bot-secret", "warden"), "", 401, "signature"},
		{"alg none", "Bearer " + none, "", 401, `error="invalid_token"`},
		{"tampered", "Bearer " + parts[0] + "." + forgedPayload + "." + parts[2], "", 401, "signature"},
		{"without the required scope", "Bearer " + idp.ClientCredentials(t, "ci-bot", "ci-bot-secret"), "", 403, `error="insufficient_scope", error_description="the token lacks the scope warden", scope="warden"`},
		{"token in the query string", "", "?access_token=" + good, 400, `error="invalid_request"`},
		{"basic authentication", "Basic " + base64.StdEncoding.EncodeToString([]byte("ci-bot:ci-bot-secret")), "", 400, `error="invalid_request"`},
		{"token too large", "Bearer " + strings.Repeat("a", 20<<10), "", 401, "too large"},
		{"huge header", "Bearer " + strings.Repeat("a", 200<<10), "", http.StatusRequestHeaderFieldsTooLarge, ""},
	}
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	var tokens []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", e.resource+tt.query, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
				tokens = append(tokens, strings.TrimPrefix(tt.auth, "Bearer "))
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (WWW-Authenticate %q)", resp.StatusCode, tt.status, resp.Header.Get("WWW-Authenticate"))
			}
			if h := resp.Header.Get("WWW-Authenticate"); !strings.Contains(h, tt.want) {
				t.Errorf("WWW-Authenticate %q lacks %q", h, tt.want)
			}
		})
	}

	t.Run("good token", func(t *testing.T) {
		c := bearerClient(t, e.resource, good)
		res, text, _ := call(t, c, "run_query", map[string]any{"connection": "demo", "sql": "SELECT 1"})
		if res.IsError {
			t.Fatal(text)
		}
	})
	t.Run("groups from the token decide", func(t *testing.T) {
		// bob's token is valid, but his groups are not in any rule.
		bob := idp.UserToken(t, "warden-cli", "bob", "bob-pw", "warden").AccessToken
		tokens = append(tokens, bob)
		c := bearerClient(t, e.resource, bob)
		res, text, _ := call(t, c, "run_query", map[string]any{"connection": "demo", "sql": "SELECT 1"})
		if !res.IsError || !strings.Contains(text, "denied") || !strings.Contains(text, "bob") {
			t.Fatalf("bob's call: %s", text)
		}
	})
	t.Run("whoami", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "http://"+e.listen+"/whoami", nil)
		req.Header.Set("Authorization", "Bearer "+good)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), `"subject":"ci-bot"`) || !strings.Contains(string(b), `"groups":["agents"]`) {
			t.Errorf("%d %s", resp.StatusCode, b)
		}
	})

	evs := auditEvents(t, e.config)
	var bot, bob int
	for _, ev := range evs {
		switch ev["identity"] {
		case "ci-bot":
			bot++
		case "bob":
			bob++
			if ev["status"] != "denied" || ev["issuer"] != idp.Issuer {
				t.Errorf("bob's event = %v", ev)
			}
		default:
			t.Errorf("an audit event for a refused request: %v", ev)
		}
	}
	if bot == 0 || bob == 0 {
		t.Errorf("audit: ci-bot %d events, bob %d", bot, bob)
	}
	l := logs.String()
	if !strings.Contains(l, "refused credentials") || !strings.Contains(l, "the token has expired") {
		t.Errorf("refusals are not logged:\n%s", l)
	}
	checkNoToken(t, e.dir, l, append(tokens, good)...)
}

// TestStdioWardenToken: a stdio client is the caller of WARDEN_TOKEN when
// it is set; a token that does not validate stops Warden, which never
// falls back to identity.local.
func TestStdioWardenToken(t *testing.T) {
	e := newOIDCEnv(t)
	good := e.idp.ClientCredentials(t, "ci-bot", "ci-bot-secret", "warden")

	t.Run("valid token", func(t *testing.T) {
		logs := &syncBuffer{}
		c, err := client.NewStdioMCPClientWithOptions(wardenBin, append(os.Environ(), "WARDEN_TOKEN="+good), []string{"mcp", "--config", e.config},
			transport.WithCommandStderrWriter(logs))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		initialize(t, c)
		res, text, _ := call(t, c, "run_query", map[string]any{"connection": "demo", "sql": "SELECT 1"})
		if res.IsError {
			t.Fatal(text)
		}
		c.Close()
		var found bool
		for _, ev := range auditEvents(t, e.config) {
			if ev["identity"] == "ci-bot" && ev["transport"] == "stdio" && ev["issuer"] == e.idp.Issuer {
				found = true
			}
			if ev["identity"] == "agent" {
				t.Errorf("an event as identity.local: %v", ev)
			}
		}
		if !found {
			t.Error("no stdio audit event names ci-bot")
		}
		checkNoToken(t, e.dir, logs.String(), good)
	})

	t.Run("token expires while serving", func(t *testing.T) {
		short := e.idp.Sign(t, map[string]any{"iss": e.idp.Issuer, "sub": "ci-bot", "aud": e.resource, "scope": "warden", "exp": time.Now().Add(2 * time.Second).Unix()})
		cmd := exec.Command(wardenBin, "mcp", "--config", e.config)
		cmd.Env = append(os.Environ(), "WARDEN_TOKEN="+short)
		stdin, _ := cmd.StdinPipe() // kept open: the client is still there
		defer stdin.Close()
		var stderr syncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(stderr.String(), "WARDEN_TOKEN expired at") {
				t.Errorf("exit %v; stderr:\n%s", err, stderr.String())
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("warden mcp kept serving after its token expired; stderr:\n%s", stderr.String())
		}
	})

	noOIDC := filepath.Join(e.dir, "no-oidc.yaml")
	b, _ := os.ReadFile(e.config)
	os.WriteFile(noOIDC, append(b[:bytes.Index(b, []byte("  resource:"))], b[bytes.Index(b, []byte("connections:")):]...), 0o644)
	expired := e.idp.Sign(t, map[string]any{"iss": e.idp.Issuer, "sub": "ci-bot", "aud": e.resource, "scope": "warden", "exp": time.Now().Add(-time.Hour).Unix()})
	for _, tt := range []struct {
		name, config, token, want string
	}{
		{"expired", e.config, expired, "WARDEN_TOKEN refused: the token has expired"},
		{"garbage", e.config, "not-a-token", "WARDEN_TOKEN refused: the token is not a signed JWT"},
		{"another audience", e.config, e.idp.ClientCredentials(t, "other-app", "other-secret", "warden"), "WARDEN_TOKEN refused: the token is not meant for this resource"},
		{"without the scope", e.config, e.idp.ClientCredentials(t, "ci-bot", "ci-bot-secret"), "WARDEN_TOKEN refused: the token lacks the scope warden"},
		{"empty", e.config, " ", "WARDEN_TOKEN is set but empty"},
		{"no issuer configured", noOIDC, good, "has no identity.oidc issuer to validate it"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(wardenBin, "mcp", "--config", tt.config)
			cmd.Env = append(os.Environ(), "WARDEN_TOKEN="+tt.token)
			cmd.Stdin = strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}` + "\n")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("warden mcp: %v\n%s", err, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, stderr.String())
			}
			if stdout.Len() != 0 || strings.Contains(stderr.String(), "serving MCP") {
				t.Errorf("warden served: stdout %q", stdout.String())
			}
			if len(tt.token) > 20 && strings.Contains(stderr.String(), tt.token[strings.LastIndex(tt.token, ".")+1:]) {
				t.Error("the token appears in the error")
			}
		})
	}
}

// loginCmd runs warden login with its own user config directory, and
// returns its stderr as it comes.
type loginCmd struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr *syncBuffer
	lines  chan string
}

func startLogin(t *testing.T, home string, args ...string) *loginCmd {
	t.Helper()
	l := &loginCmd{stderr: &syncBuffer{}, lines: make(chan string, 100)}
	l.cmd = exec.Command(wardenBin, append([]string{"login"}, args...)...)
	l.cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+home, "HOME="+home, "DISPLAY=", "WAYLAND_DISPLAY=")
	l.cmd.Stdout = &l.stdout
	pipe, _ := l.cmd.StderrPipe()
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			l.stderr.Write([]byte(sc.Text() + "\n"))
			l.lines <- sc.Text()
		}
		close(l.lines)
	}()
	t.Cleanup(func() { l.cmd.Process.Kill() })
	return l
}

// await returns the first stderr line for which match returns a value.
func (l *loginCmd) await(t *testing.T, match func(string) (string, bool)) string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-l.lines:
			if !ok {
				t.Fatalf("warden login ended; stderr:\n%s", l.stderr)
			}
			if v, ok := match(line); ok {
				return v
			}
		case <-timeout:
			t.Fatalf("warden login: timed out; stderr:\n%s", l.stderr)
		}
	}
}

func (l *loginCmd) wait(t *testing.T) {
	t.Helper()
	for range l.lines {
	}
	if err := l.cmd.Wait(); err != nil {
		t.Fatalf("warden login: %v\n%s", err, l.stderr)
	}
}

func readCache(t *testing.T, home string) (map[string]map[string]any, string) {
	t.Helper()
	path := filepath.Join(home, "warden", "tokens.json")
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("token cache mode %o, want 600", info.Mode().Perm())
	}
	if dir, _ := os.Stat(filepath.Dir(path)); dir.Mode().Perm() != 0o700 {
		t.Errorf("token cache directory mode %o, want 700", dir.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	var f struct {
		Servers map[string]map[string]any `json:"servers"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.Servers, path
}

// TestWardenLogin drives warden login as a person would: the browser flow
// (the test follows the provider's login form), the device flow, status,
// refresh, --print-token and logout.
func TestWardenLogin(t *testing.T) {
	e := newOIDCEnv(t)
	logs := e.serve(t)
	home := t.TempDir()
	run := func(args ...string) (string, string, error) {
		cmd := exec.Command(wardenBin, args...)
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+home, "HOME="+home)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}

	// The browser flow, given only the server's origin.
	l := startLogin(t, home, "--server", "http://"+e.listen)
	authURL := l.await(t, func(s string) (string, bool) {
		s = strings.TrimSpace(s)
		return s, strings.HasPrefix(s, e.idp.URL+"/authorize?")
	})
	back := e.idp.Login(t, authURL, "alice", "alice-pw")
	if back.Hostname() != "127.0.0.1" || back.Path != "/callback" {
		t.Fatalf("the provider sent the browser to %s", back)
	}
	resp, err := http.Get(back.String()) // the browser arriving at warden login
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "logged in") {
		t.Errorf("callback page: %d %s", resp.StatusCode, page)
	}
	l.wait(t)
	if !strings.Contains(l.stderr.String(), "Logged in to "+e.resource+" as alice (groups: agents, dba)") {
		t.Errorf("stderr:\n%s", l.stderr)
	}
	if l.stdout.Len() != 0 {
		t.Errorf("warden login printed on stdout: %q", l.stdout.String())
	}
	servers, cachePath := readCache(t, home)
	entry := servers[e.resource]
	if entry == nil || entry["subject"] != "alice" || entry["access_token"] == "" || entry["refresh_token"] == "" {
		t.Fatalf("cache = %v", servers)
	}
	first := entry["access_token"].(string)
	if strings.Contains(l.stderr.String(), first) {
		t.Error("warden login printed the token")
	}

	// --print-token reuses the cached token, which Warden accepts (as
	// WARDEN_TOKEN too).
	out, _, err := run("login", "--server", e.resource, "--print-token")
	if err != nil || strings.TrimSpace(out) != first {
		t.Fatalf("--print-token: %v %q", err, out)
	}
	c := bearerClient(t, e.resource, first)
	if res, text, _ := call(t, c, "run_query", map[string]any{"connection": "demo", "sql": "SELECT 1"}); res.IsError {
		t.Fatalf("alice's cached token: %s", text)
	}

	out, _, err = run("login", "status")
	if err != nil || !strings.Contains(out, e.resource) || !strings.Contains(out, "identity: alice (groups: agents, dba)") || !strings.Contains(out, "valid for") {
		t.Errorf("login status: %v\n%s", err, out)
	}

	// An expired token is refreshed when used.
	b, _ := os.ReadFile(cachePath)
	var f map[string]any
	json.Unmarshal(b, &f)
	f["servers"].(map[string]any)[e.resource].(map[string]any)["expiry"] = time.Now().Add(-time.Hour).Format(time.RFC3339)
	b, _ = json.Marshal(f)
	os.WriteFile(cachePath, b, 0o600)
	out, _, err = run("login", "status", "--server", e.resource, "--check")
	if err != nil || !strings.Contains(out, "valid for") {
		t.Errorf("login status --check: %v\n%s", err, out)
	}
	servers, _ = readCache(t, home)
	refreshed := servers[e.resource]["access_token"].(string)
	if refreshed == first {
		t.Error("the expired token was not refreshed")
	}
	if exp, _ := time.Parse(time.RFC3339, servers[e.resource]["expiry"].(string)); time.Until(exp) < time.Minute {
		t.Errorf("refreshed expiry %v", exp)
	}
	if out, _, err := run("login", "--server", e.resource, "--print-token"); err != nil || strings.TrimSpace(out) != refreshed {
		t.Errorf("--print-token after refresh: %v", err)
	}

	// A cache others can read is refused.
	os.Chmod(cachePath, 0o644)
	if _, stderr, err := run("login", "status"); err == nil || !strings.Contains(stderr, "can be read by other users") {
		t.Errorf("a world-readable cache was used: %v %s", err, stderr)
	}
	os.Chmod(cachePath, 0o600)

	if _, stderr, err := run("logout", "--server", e.resource); err != nil || !strings.Contains(stderr, "Logged out of "+e.resource) {
		t.Errorf("logout: %v %s", err, stderr)
	}
	if servers, _ := readCache(t, home); len(servers) != 0 {
		t.Errorf("after logout: %v", servers)
	}

	// The device flow.
	d := startLogin(t, home, "--server", e.resource, "--device")
	code := d.await(t, func(s string) (string, bool) {
		_, after, ok := strings.Cut(s, "user_code=")
		return strings.TrimSuffix(after, ")"), ok
	})
	e.idp.ApproveDevice(t, code, "alice", "alice-pw")
	d.wait(t)
	if !strings.Contains(d.stderr.String(), "Logged in to "+e.resource+" as alice") {
		t.Errorf("device login stderr:\n%s", d.stderr)
	}
	servers, _ = readCache(t, home)
	device := servers[e.resource]["access_token"].(string)

	checkNoToken(t, e.dir, logs.String(), first, refreshed, device)
	for _, s := range []string{l.stderr.String(), d.stderr.String()} {
		for _, tok := range []string{first, device} {
			if strings.Contains(s, tok[strings.LastIndex(tok, ".")+1:]) {
				t.Error("warden login printed a token on stderr")
			}
		}
	}
}
