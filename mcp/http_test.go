package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"

	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/tools"
	toolsbuiltin "github.com/wardenhq/warden/tools/builtin"
)

// fakeIdentifier accepts the tokens it maps to principals. "narrow" lacks
// the required scope, "down" finds the identity provider unreachable.
type fakeIdentifier map[string]identity.Principal

func (f fakeIdentifier) IdentifyHTTP(_ context.Context, r *http.Request) (identity.Principal, error) {
	tok, err := identity.BearerToken(r)
	switch {
	case err != nil:
		return identity.Principal{}, err
	case tok == "":
		return identity.Principal{}, &identity.TokenError{Description: "a bearer token is required"}
	case tok == "narrow":
		return identity.Principal{}, &identity.TokenError{Code: identity.CodeInsufficientScope, Description: "the token lacks the scope warden", Scopes: []string{"warden"}}
	case tok == "down":
		return identity.Principal{}, fmt.Errorf("%w: idp: connection refused", identity.ErrUnavailable)
	}
	p, ok := f[tok]
	if !ok {
		return identity.Principal{}, &identity.TokenError{Code: identity.CodeInvalidToken, Description: `the token is "not" valid` + "\n"}
	}
	return p, nil
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

// newHTTPServer serves a Warden MCP front door with no connections over
// httptest, identified by fakeIdentifier.
func newHTTPServer(t *testing.T) (*httptest.Server, *ProtectedResource, *syncBuffer) {
	t.Helper()
	hs, res, logs, _ := newHTTPServerStore(t)
	return hs, res, logs
}

// newFrontDoor is a Warden MCP server with no connections, and its audit
// store.
func newFrontDoor(t *testing.T, logs io.Writer) (*Server, *auditsqlite.Store) {
	t.Helper()
	dir := t.TempDir()
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg, err := config.Parse(filepath.Join(dir, "w.yaml"), []byte("connections: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	engine, err := policy.Compile(cfg, tools.Names(toolsbuiltin.Tools()))
	if err != nil {
		t.Fatal(err)
	}
	store, err := auditsqlite.Open(context.Background(), "sqlite://"+filepath.Join(dir, "audit.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	p, err := toolsbuiltin.Open(gateway.Options{Decider: engine, Recorder: store, Limits: cfg.Limits, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(p, Options{Version: "test", Logger: logger})
	t.Cleanup(srv.Close)
	return srv, store
}

// newHTTPServerStore is newHTTPServer with its audit store.
func newHTTPServerStore(t *testing.T) (*httptest.Server, *ProtectedResource, *syncBuffer, *auditsqlite.Store) {
	t.Helper()
	logs := &syncBuffer{}
	srv, store := newFrontDoor(t, logs)
	mux := http.NewServeMux()
	hs := httptest.NewUnstartedServer(mux)
	res := &ProtectedResource{URL: "http://" + hs.Listener.Addr().String() + "/mcp", AuthorizationServers: []string{"https://idp.test"}, Scopes: []string{"warden"}}
	srv.Mount(mux, HTTPOptions{
		Identifier: fakeIdentifier{
			"alice-token": {Subject: "alice", Groups: []string{"agents"}, Issuer: "https://idp.test", TokenID: "jti-1"},
			"bob-token":   {Subject: "bob", Issuer: "https://idp.test"},
		},
		Resource: res,
	})
	hs.Start()
	t.Cleanup(hs.Close)
	return hs, res, logs, store
}

func do(t *testing.T, method, url, token string, header map[string]string, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`

func TestHTTPChallenges(t *testing.T) {
	hs, _, logs := newHTTPServer(t)
	meta := `resource_metadata="` + hs.URL + `/.well-known/oauth-protected-resource/mcp"`
	tests := []struct {
		name    string
		token   string
		query   string
		status  int
		want    []string // in WWW-Authenticate
		notWant []string
	}{
		{"no credentials", "", "", 401, []string{`Bearer realm="warden"`, meta, `scope="warden"`}, []string{"error="}},
		{"invalid token", "forged", "", 401, []string{`error="invalid_token"`, `error_description="the token is ?not? valid?"`, meta}, []string{"scope="}},
		{"insufficient scope", "narrow", "", 403, []string{`error="insufficient_scope"`, `scope="warden"`, meta}, nil},
		{"token in the query", "", "?access_token=alice-token", 400, []string{`error="invalid_request"`, meta}, []string{"alice-token"}},
		{"identity provider down", "down", "", 503, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, "POST", hs.URL+"/mcp"+tt.query, tt.token, nil, initialize)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			h := resp.Header.Get("WWW-Authenticate")
			for _, w := range tt.want {
				if !strings.Contains(h, w) {
					t.Errorf("WWW-Authenticate %q lacks %q", h, w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(h, w) {
					t.Errorf("WWW-Authenticate %q has %q", h, w)
				}
			}
			if tt.status == 503 && resp.Header.Get("Retry-After") == "" {
				t.Error("no Retry-After")
			}
		})
	}
	if strings.Contains(logs.String(), "alice-token") {
		t.Errorf("a token reached the logs:\n%s", logs)
	}
}

func TestProtectedResourceMetadata(t *testing.T) {
	hs, res, _ := newHTTPServer(t)
	for _, path := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"} {
		resp := do(t, "GET", hs.URL+path, "", nil, "")
		var doc struct {
			Resource             string   `json:"resource"`
			AuthorizationServers []string `json:"authorization_servers"`
			Scopes               []string `json:"scopes_supported"`
			BearerMethods        []string `json:"bearer_methods_supported"`
		}
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&doc) != nil {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		if doc.Resource != res.URL || !slices.Equal(doc.AuthorizationServers, []string{"https://idp.test"}) ||
			!slices.Equal(doc.Scopes, []string{"warden"}) || !slices.Equal(doc.BearerMethods, []string{"header"}) {
			t.Errorf("%s: %+v", path, doc)
		}
	}
}

func TestWhoAmI(t *testing.T) {
	hs, _, _ := newHTTPServer(t)
	resp := do(t, "GET", hs.URL+PathWhoAmI, "alice-token", nil, "")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"subject":"alice"`) || !strings.Contains(string(body), `"groups":["agents"]`) || !strings.Contains(string(body), `"token_id":"jti-1"`) {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	if resp := do(t, "GET", hs.URL+PathWhoAmI, "", nil, ""); resp.StatusCode != 401 {
		t.Errorf("unauthenticated whoami: %d", resp.StatusCode)
	}
}

// TestSessionBoundToIdentity: a session id is not a credential. Bob,
// holding a valid token of his own and Alice's session id, cannot use,
// listen on or end Alice's session.
func TestSessionBoundToIdentity(t *testing.T) {
	hs, _, _ := newHTTPServer(t)
	alice, err := client.NewStreamableHttpClient(hs.URL+"/mcp", transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer alice-token"}))
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	ctx := context.Background()
	if err := alice.Start(ctx); err != nil {
		t.Fatal(err)
	}
	initReq := mcpgo.InitializeRequest{}
	initReq.Params.ProtocolVersion = "2025-06-18"
	if _, err := alice.Initialize(ctx, initReq); err != nil {
		t.Fatal(err)
	}
	session := alice.GetSessionId()
	if session == "" {
		t.Fatal("no session id")
	}
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	hdr := map[string]string{"Mcp-Session-Id": session, "Mcp-Protocol-Version": "2025-06-18"}
	if resp := do(t, "POST", hs.URL+"/mcp", "bob-token", hdr, list); resp.StatusCode != http.StatusNotFound {
		t.Errorf("bob using alice's session: %d", resp.StatusCode)
	}
	if resp := do(t, "GET", hs.URL+"/mcp", "bob-token", hdr, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("bob listening on alice's session: %d", resp.StatusCode)
	}
	if resp := do(t, "DELETE", hs.URL+"/mcp", "bob-token", hdr, ""); resp.StatusCode == http.StatusOK {
		t.Errorf("bob ended alice's session")
	}
	if resp := do(t, "POST", hs.URL+"/mcp", "bob-token", map[string]string{"Mcp-Session-Id": "mcp-session-made-up"}, list); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a made-up session: %d", resp.StatusCode)
	}
	if _, err := alice.ListTools(ctx, mcpgo.ListToolsRequest{}); err != nil {
		t.Errorf("alice's session after bob's attempts: %v", err)
	}
	res, err := alice.CallTool(ctx, mcpgo.CallToolRequest{Params: mcpgo.CallToolParams{Name: "list_connections", Arguments: map[string]any{}}})
	if err != nil || res.IsError {
		t.Errorf("alice's call: %v %+v", err, res)
	}
}
