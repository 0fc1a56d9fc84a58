package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/testenv"
)

// jitEnv is a configuration whose PostgreSQL connection mints a role per
// session.
func jitEnv(t *testing.T) (env, testenv.Postgres, string) {
	t.Helper()
	pg := testenv.PG(t)
	db := pg.CreateDatabase(t, pgSetup, pgRows, "CREATE TABLE secrets (id int, value text)", "INSERT INTO secrets VALUES (1, 'x')")
	dir := t.TempDir()
	cfg := fmt.Sprintf(`
store: sqlite://./audit.db
identity:
  local: agent
  allow_anonymous_loopback: true
  users: [{name: agent, groups: [agents]}]
connections:
  - name: pg
    kind: postgres
    address: %s
    database: %s
    sslmode: disable
    credentials: jit
    jit: {ttl: 10m, idle_timeout: 5m}
    admin: {user: %s, password_file: %s}
rules:
  - {name: agents-read, subjects: {groups: [agents]}, effect: allow, tables: {read: [customers]}}
`, pg.Addr, db, pg.User, pg.PasswordFile)
	path := filepath.Join(dir, "warden.yaml")
	os.WriteFile(path, []byte(cfg), 0o644)
	return env{dir: dir, config: path, password: pg.Password}, pg, db
}

func wardenRoles(t *testing.T, pg testenv.Postgres) []string {
	t.Helper()
	c := pg.Connect(t, "postgres")
	rows, err := c.Query(context.Background(), `SELECT rolname FROM pg_roles WHERE rolname ~ '^warden_[a-z0-9]{16}$' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var r string
		rows.Scan(&r)
		out = append(out, r)
	}
	return out
}

// envRoles are the roles this configuration's Warden minted (its leases)
// that still exist: other tests mint roles in the same cluster at the same
// time, so counting every role would be flaky.
func envRoles(t *testing.T, pg testenv.Postgres, e env) []string {
	t.Helper()
	out, err := exec.Command(wardenBin, "leases", "list", "--config", e.config, "--json", "--limit", "1000").Output()
	if err != nil {
		t.Fatalf("leases list: %v", err)
	}
	mine := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var l struct {
			Principal string `json:"principal"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Principal != "" {
			mine[l.Principal] = true
		}
	}
	var roles []string
	for _, r := range wardenRoles(t, pg) {
		if mine[r] {
			roles = append(roles, r)
		}
	}
	return roles
}

func waitEnvRoles(t *testing.T, pg testenv.Postgres, e env, n int, what string) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		roles := envRoles(t, pg, e)
		if len(roles) == n {
			return roles
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: this Warden's roles are %v, want %d", what, roles, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitRoles(t *testing.T, pg testenv.Postgres, want func([]string) bool, what string) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		roles := wardenRoles(t, pg)
		if want(roles) {
			return roles
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: roles are %v", what, roles)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestJITStdioSession: a stdio session gets its own role, which is gone
// once the client closes stdin; the JIT password and the admin password
// reach no log and no file.
func TestJITStdioSession(t *testing.T) {
	e, pg, _ := jitEnv(t)
	c, logs := startStdio(t, e)
	res, text, s := call(t, c, "run_query", map[string]any{"connection": "pg", "sql": "SELECT count(*) FROM customers"})
	if res.IsError {
		t.Fatal(text)
	}
	auditID := s["audit_id"].(string)
	during := waitEnvRoles(t, pg, e, 1, "during the session")
	role := during[0]
	res, text, _ = call(t, c, "run_query", map[string]any{"connection": "pg", "sql": "SELECT 1"})
	if res.IsError || len(envRoles(t, pg, e)) != 1 {
		t.Fatalf("a second call minted again or failed: %s", text)
	}
	c.Close()
	waitRoles(t, pg, func(r []string) bool { return !contains(r, role) }, "after stdin closed")

	out, err := exec.Command(wardenBin, "audit", "show", "--config", e.config, "--json", auditID).Output()
	if err != nil || !strings.Contains(string(out), strings.TrimPrefix(role, "warden_")) {
		t.Errorf("the query's audit event does not name its lease: %v %s", err, out)
	}
	out, err = exec.Command(wardenBin, "leases", "list", "--config", e.config, "--json").Output()
	if err != nil || !strings.Contains(string(out), `"state":"revoked"`) || !strings.Contains(string(out), role) {
		t.Errorf("leases list: %v %s", err, out)
	}
	checkNoSecret(t, e, logs.String())
	for _, s := range []string{logs.String(), string(out)} {
		if strings.Contains(s, "SCRAM-SHA-256$") {
			t.Error("a password verifier reached the logs or the lease list")
		}
	}
}

// TestJITHTTPSessionEnd: closing an MCP session (DELETE, protocol
// revisions with sessions) revokes its role. Revision 2026-07-28 has no
// sessions: there the idle timeout ends it (TestJITIdleTimeout in tools).
func TestJITHTTPSessionEnd(t *testing.T) {
	e, pg, _ := jitEnv(t)
	httpProtocol = "2025-06-18"
	defer func() { httpProtocol = "" }()
	c, _, _ := startHTTP(t, e)
	if res, text, _ := call(t, c, "run_query", map[string]any{"connection": "pg", "sql": "SELECT 1"}); res.IsError {
		t.Fatal(text)
	}
	waitEnvRoles(t, pg, e, 1, "during the session")
	c.Close() // sends DELETE for the session
	waitEnvRoles(t, pg, e, 0, "after the session closed")
}

// TestJITKilledWarden: kill -9 Warden mid-session; the next Warden to
// start revokes the orphaned role within seconds.
func TestJITKilledWarden(t *testing.T) {
	e, pg, _ := jitEnv(t)
	cmd := exec.Command(wardenBin, "serve", "--config", e.config, "--listen", "127.0.0.1:0")
	stdout, _ := cmd.StdoutPipe()
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var url string
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "Warden is serving MCP at "); ok {
			url = u
			break
		}
	}
	body := func(method string, id int, params any) string {
		b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
		return string(b)
	}
	post := func(session, payload string) (string, string) {
		req, _ := httpNewRequest("POST", url, payload)
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
		}
		resp, err := httpDo(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.Header.Get("Mcp-Session-Id"), b.String()
	}
	session, _ := post("", body("initialize", 1, map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "k", "version": "1"}}))
	post(session, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	_, out := post(session, body("tools/call", 2, map[string]any{"name": "run_query", "arguments": map[string]any{"connection": "pg", "sql": "SELECT count(*) FROM customers"}}))
	if !strings.Contains(out, "1500") {
		t.Fatalf("query through the killed-to-be Warden: %s", out)
	}
	waitEnvRoles(t, pg, e, 1, "during the session")
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if r := envRoles(t, pg, e); len(r) != 1 {
		t.Fatalf("roles right after kill -9: %v", r)
	}
	start := time.Now()
	// Any Warden on the same store reaps: here a stdio one.
	c, _ := startStdio(t, e)
	waitEnvRoles(t, pg, e, 0, "after restart")
	t.Logf("orphaned role removed %v after restart", time.Since(start).Round(time.Millisecond))
	c.Close()
	out2, _ := exec.Command(wardenBin, "leases", "list", "--config", e.config, "--state", "active").Output()
	if !strings.Contains(string(out2), "No leases match") {
		t.Errorf("active leases left: %s", out2)
	}
}

func httpNewRequest(method, url, body string) (*http.Request, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	return req, nil
}

func httpDo(req *http.Request) (*http.Response, error) { return http.DefaultClient.Do(req) }

// TestJITSIGTERM: a Warden stopped with SIGTERM revokes its roles before
// it exits.
func TestJITSIGTERM(t *testing.T) {
	e, pg, _ := jitEnv(t)
	cmd := exec.Command(wardenBin, "mcp", "--config", e.config)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	send := func(s string) { stdin.Write([]byte(s + "\n")) }
	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	sc.Scan()
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"run_query","arguments":{"connection":"pg","sql":"SELECT count(*) FROM customers"}}}`)
	sc.Scan()
	if !strings.Contains(sc.Text(), "1500") {
		t.Fatalf("query: %s", sc.Text())
	}
	waitEnvRoles(t, pg, e, 1, "during the session")
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("warden mcp did not exit on SIGTERM")
	}
	// Revoked before exit: no reaper involved.
	if r := envRoles(t, pg, e); len(r) != 0 {
		t.Fatalf("roles left after SIGTERM: %v", r)
	}
}
