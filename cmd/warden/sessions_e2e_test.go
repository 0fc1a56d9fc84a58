package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
)

// initializeAt initializes c at a protocol revision: one before
// 2026-07-28 is a session (initialize, Mcp-Session-Id over HTTP),
// 2026-07-28 is stateless.
func initializeAt(t *testing.T, c *client.Client, version string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := mcpgo.InitializeRequest{}
	req.Params.ProtocolVersion = version
	req.Params.ClientInfo = mcpgo.Implementation{Name: "warden-e2e", Version: "1"}
	if _, err := c.Initialize(ctx, req); err != nil {
		t.Fatalf("initialize at %s: %v", version, err)
	}
	if got := c.ProtocolVersion(); got != version {
		t.Fatalf("negotiated %s, want %s", got, version)
	}
}

// stdioAt starts warden mcp for config with a client at a protocol revision.
func stdioAt(t *testing.T, config, version string, env ...string) *client.Client {
	t.Helper()
	c, err := client.NewStdioMCPClientWithOptions(wardenBin, append(os.Environ(), env...), []string{"mcp", "--config", config},
		transport.WithCommandStderrWriter(&syncBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	initializeAt(t, c, version)
	return c
}

// httpAt connects a client to url at a protocol revision.
func httpAt(t *testing.T, url, version string, headers map[string]string) *client.Client {
	t.Helper()
	c, err := client.NewStreamableHttpClient(url, transport.WithHTTPHeaders(headers))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	initializeAt(t, c, version)
	return c
}

// sessionsOf runs warden audit list --json and returns the session of
// every event, keyed by audit id.
func sessionsOf(t *testing.T, config string) map[string]string {
	t.Helper()
	out, err := exec.Command(wardenBin, "audit", "list", "--config", config, "--json", "--limit", "500").Output()
	if err != nil {
		t.Fatalf("audit list: %v %s", err, out)
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var ev struct {
			ID      string `json:"id"`
			Session string `json:"session"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		m[ev.ID] = ev.Session
	}
	return m
}

// demoQuery runs a query on the demo connection and returns its audit id.
func demoQuery(t *testing.T, c *client.Client, sql string) string {
	t.Helper()
	res, text, s := call(t, c, "run_query", map[string]any{"connection": "demo", "sql": sql})
	if res.IsError {
		t.Fatalf("%s: %s", sql, text)
	}
	return s["audit_id"].(string)
}

// replay runs warden replay for a session and checks its timeline holds
// the statements, and nothing of other sessions.
func replay(t *testing.T, config, session string, want []string, notWant ...string) {
	t.Helper()
	out, err := exec.Command(wardenBin, "replay", session, "--config", config, "--width", "0").CombinedOutput()
	if err != nil {
		t.Fatalf("replay %s: %v\n%s", session, err, out)
	}
	if !strings.HasPrefix(string(out), "session "+session+": ") || !strings.Contains(string(out), fmt.Sprintf(", %d events from ", len(want))) {
		t.Errorf("replay %s header:\n%s", session, out)
	}
	for _, w := range want {
		if !strings.Contains(string(out), w) {
			t.Errorf("replay %s lacks %q:\n%s", session, w, out)
		}
	}
	for _, w := range notWant {
		if strings.Contains(string(out), w) {
			t.Errorf("replay %s has %q of another session:\n%s", session, w, out)
		}
	}
}

// TestStdioProcessesAreSessions: each warden mcp process is a session of
// its own, replayed on its own, and shown by warden audit list.
func TestStdioProcessesAreSessions(t *testing.T) {
	e := newEnv(t, "")
	var sessions []string
	for i, sql := range []string{"SELECT 1 AS first_process", "SELECT 2 AS second_process"} {
		c := stdioAt(t, e.config, mcpgo.LATEST_PROTOCOL_VERSION)
		id := demoQuery(t, c, sql)
		id2 := demoQuery(t, c, sql+", 'again'")
		c.Close()
		all := sessionsOf(t, e.config)
		s := all[id]
		if !strings.HasPrefix(s, "stdio-") || all[id2] != s {
			t.Fatalf("process %d: sessions %q and %q", i, s, all[id2])
		}
		sessions = append(sessions, s)
	}
	if sessions[0] == sessions[1] {
		t.Fatalf("two stdio processes recorded one session %s", sessions[0])
	}
	replay(t, e.config, sessions[0], []string{"SELECT 1 AS first_process", "SELECT 1 AS first_process, 'again'"}, "second_process")
	replay(t, e.config, sessions[1], []string{"SELECT 2 AS second_process", "SELECT 2 AS second_process, 'again'"}, "first_process")

	out, err := exec.Command(wardenBin, "audit", "list", "--config", e.config).Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(out), "\n")
	if !strings.Contains(lines[0], " SESSION ") {
		t.Errorf("audit list has no SESSION column:\n%s", out)
	}
	for _, s := range sessions {
		if !strings.Contains(string(out), s) {
			t.Errorf("audit list does not show session %s:\n%s", s, out)
		}
	}
}

// TestHTTPSessions: a client of a revision with sessions is recorded under
// its Mcp-Session-Id; a stateless client (2026-07-28, no session header)
// under a Warden session of its identity and client, kept by use and
// ended by --stateless-idle; each is replayed on its own.
func TestHTTPSessions(t *testing.T) {
	e := newEnv(t, "")
	url, logs, _ := serveWarden(t, "--config", e.config, "--listen", "127.0.0.1:0", "--stateless-idle", "2s")

	legacy := httpAt(t, url, mcpgo.ProtocolVersion20250618, nil)
	mcpSession := legacy.GetSessionId()
	if !strings.HasPrefix(mcpSession, "mcp-session-") {
		t.Fatalf("session id %q", mcpSession)
	}
	l1 := demoQuery(t, legacy, "SELECT 'legacy one'")
	l2 := demoQuery(t, legacy, "SELECT 'legacy two'")

	stateless := httpAt(t, url, mcpgo.ProtocolVersion20260728, nil)
	if stateless.GetSessionId() != "" {
		t.Fatalf("a 2026-07-28 client has session %q", stateless.GetSessionId())
	}
	s1 := demoQuery(t, stateless, "SELECT 'stateless one'")
	s2 := demoQuery(t, stateless, "SELECT 'stateless two'")
	time.Sleep(3500 * time.Millisecond) // more than --stateless-idle, unused
	s3 := demoQuery(t, stateless, "SELECT 'stateless after idle'")

	all := sessionsOf(t, e.config)
	if all[l1] != mcpSession || all[l2] != mcpSession {
		t.Errorf("legacy calls recorded under %q and %q, want %s", all[l1], all[l2], mcpSession)
	}
	first := all[s1]
	if !strings.HasPrefix(first, "http-") || all[s2] != first {
		t.Errorf("stateless calls in one use recorded under %q and %q", first, all[s2])
	}
	if all[s3] == first || !strings.HasPrefix(all[s3], "http-") {
		t.Errorf("a stateless call after the idle timeout recorded under %q (before: %q)", all[s3], first)
	}
	replay(t, e.config, mcpSession, []string{"legacy one", "legacy two"}, "stateless")
	replay(t, e.config, first, []string{"stateless one", "stateless two"}, "legacy", "after idle")
	replay(t, e.config, all[s3], []string{"stateless after idle"}, "legacy", "stateless one")
	checkNoSecret(t, e, logs.String())
}
