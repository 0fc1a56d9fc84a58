package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
	"github.com/wardenhq/warden/internal/testenv"
)

// proxyEnv is `warden serve` with the PostgreSQL proxy on, in front of a
// test database, with a masking profile.
type proxyEnv struct {
	config string
	server string // MCP URL, for warden connect
	pid    int
	logs   *syncBuffer
}

// extra is appended to its warden.yaml (top-level sections).
func startProxyServe(t *testing.T, extra ...string) proxyEnv {
	t.Helper()
	return startProxyServeOn(t, "", extra...)
}

// startProxyServeOn is startProxyServe with listen.mcp set to mcpAddr in
// the configuration (none: --listen on a free port).
func startProxyServeOn(t *testing.T, mcpAddr string, extra ...string) proxyEnv {
	t.Helper()
	pg := testenv.PG(t)
	db := pg.CreateDatabase(t,
		"CREATE TABLE people (id int PRIMARY KEY, name text, email text, card text)",
		"INSERT INTO people SELECT g, 'person ' || g, 'p' || g || '@example.com', '4111111111111111' FROM generate_series(1, 50) g")
	dir := t.TempDir()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	pport := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	listenMCP := ""
	if mcpAddr != "" {
		listenMCP = "\n  mcp: " + mcpAddr
	}
	cfg := fmt.Sprintf(`listen:
  postgres: 127.0.0.1:%d%s
store: sqlite://./audit.db
identity:
  local: agent
  allow_anonymous_loopback: true
  users:
    - {name: agent, groups: [agents]}
connections:
  - name: app
    kind: postgres
    address: %s
    database: %s
    sslmode: disable
    admin: {user: %s, password_file: %s}
    credentials: jit
    max_connections: 120   # 50 hostile clients and the rest hold upstreams at once
masking:
  profiles:
    pii:
      columns:
        - {match: "*.people.card", strategy: partial, keep_last: 4}
      detectors: [email]
rules:
  - name: agents-read
    subjects: {groups: [agents]}
    tools: [run_query]
    effect: allow
    masking: pii
`, pport, listenMCP, pg.Addr, db, pg.User, pg.PasswordFile) + strings.Join(extra, "")
	path := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", path}
	if mcpAddr == "" {
		args = append(args, "--listen", "127.0.0.1:0")
	}
	u, logs, cmd := serveWarden(t, args...)
	return proxyEnv{config: path, server: u, pid: cmd.Process.Pid, logs: logs}
}

// connectInfo runs `warden connect` as a user would.
func (e proxyEnv) connectInfo(t *testing.T) map[string]string {
	t.Helper()
	out, err := exec.Command(wardenBin, "connect", "app", "--server", e.server, "--json").Output()
	if err != nil {
		t.Fatalf("warden connect: %v", err)
	}
	var info map[string]any
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for k, v := range info {
		m[k] = fmt.Sprint(v)
	}
	return m
}

// TestConnectUsesTheConfiguration: warden connect --config asks the Warden
// at the configuration's listen.mcp (not the default :8080), and says so.
func TestConnectUsesTheConfiguration(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	e := startProxyServeOn(t, addr)
	cmd := exec.Command(wardenBin, "connect", "app", "--config", e.config, "--json")
	cmd.Env = append(os.Environ(), "WARDEN_SERVER=")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var info map[string]any
	if err != nil || json.Unmarshal(out, &info) != nil || info["connection"] != "app" {
		t.Fatalf("warden connect --config: %v\n%s\n%s", err, out, stderr.String())
	}
	if want := "warden connect: asking the Warden at http://" + addr + "/mcp (listen.mcp in " + e.config + ")\n"; !strings.HasPrefix(stderr.String(), want) {
		t.Errorf("stderr = %q, want it to start with %q", stderr.String(), want)
	}
}

// peakRSS is a process's high-water resident set (VmHWM), in KiB.
func peakRSS(t *testing.T, pid int) int { return procStatus(t, pid, "VmHWM:") }

// procStatus is a size in /proc/PID/status (VmRSS:, VmHWM:, ...), in KiB.
func procStatus(t *testing.T, pid int, field string) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	return 0
}

// TestProxyEndToEnd: warden connect prints a psql command that works; a
// 1,000,000-row result streams through the proxy with masking in bounded
// memory; warden replay prints the session.
func TestProxyEndToEnd(t *testing.T) {
	e := startProxyServe(t)
	info := e.connectInfo(t)
	human, err := exec.Command(wardenBin, "connect", "app", "--server", e.server).Output()
	if err != nil || !strings.Contains(string(human), "psql \"host=") || !strings.Contains(string(human), "postgres://wt_") {
		t.Fatalf("warden connect output: %v\n%s", err, human)
	}
	dsn := fmt.Sprintf("host=%s port=%s dbname=%s user=%s password=%s sslmode=disable", info["host"], info["port"], info["database"], info["user"], info["password"])

	if psql, err := exec.LookPath("psql"); err == nil {
		out, err := exec.Command(psql, dsn, "-X", "-A", "-t", "-c", "SELECT name, email, card FROM people WHERE id = 7").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "person 7|") || strings.Contains(string(out), "p7@example.com") || strings.Contains(string(out), "4111111111111111") {
			t.Fatalf("psql through the proxy: %v\n%s", err, out)
		}
	}

	ctx := context.Background()
	c, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	before := peakRSS(t, e.pid)
	start := time.Now()
	rr := c.ExecParams(ctx, "SELECT g AS id, 'user' || g || '@example.com' AS email, md5(g::text) AS note FROM generate_series(1, 1000000) g", nil, nil, nil, nil)
	rows, leaked := 0, 0
	for rr.NextRow() {
		rows++
		if strings.Contains(string(rr.Values()[1]), "@example.com") {
			leaked++
		}
	}
	if _, err := rr.Close(); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	after := peakRSS(t, e.pid)
	t.Logf("1,000,000 rows with masking through the proxy in %s (%.0f rows/s); Warden's peak RSS %d MiB before, %d MiB after",
		elapsed.Round(time.Millisecond), float64(rows)/elapsed.Seconds(), before/1024, after/1024)
	if rows != 1000000 || leaked != 0 {
		t.Fatalf("rows %d, unmasked e-mails %d", rows, leaked)
	}
	if after > 400*1024 {
		t.Fatalf("Warden's peak RSS reached %d MiB streaming the result", after/1024)
	}
	// Quick statements, as pgbench sends them: the audit store keeps those
	// it commits together as runs, which replay reads like the others.
	const quick = 300
	for i := range quick {
		if _, err := c.Exec(ctx, fmt.Sprintf("SELECT %d AS quick", i)).ReadAll(); err != nil {
			t.Fatal(err)
		}
	}
	c.Close(ctx)

	// The session in the audit trail, and replayed.
	time.Sleep(300 * time.Millisecond)
	out, err := exec.Command(wardenBin, "audit", "list", "--config", e.config, "--json", "--limit", "1000").Output()
	if err != nil {
		t.Fatal(err)
	}
	session := ""
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var ev struct {
			Session, Transport, Statement string
		}
		json.Unmarshal([]byte(line), &ev)
		if ev.Transport == "postgres-proxy" && strings.Contains(ev.Statement, "generate_series") {
			session = ev.Session
		}
	}
	if session == "" {
		t.Fatalf("no proxy event for the big query:\n%s", out)
	}
	replay, err := exec.Command(wardenBin, "replay", "--config", e.config, session).CombinedOutput()
	if err != nil {
		t.Fatalf("warden replay: %v\n%s", err, replay)
	}
	for _, want := range []string{"session " + session, "proxy.connect", "SELECT g AS id", "allow (agents-read)", "1000000", "email=", "proxy.disconnect"} {
		if !strings.Contains(string(replay), want) {
			t.Errorf("replay lacks %q:\n%s", want, replay)
		}
	}
	for i := range quick {
		if !strings.Contains(string(replay), fmt.Sprintf("SELECT %d AS quick", i)) {
			t.Fatalf("replay lacks quick statement %d:\n%s", i, replay)
		}
	}
	store, err := auditsqlite.Open(ctx, filepath.Join(filepath.Dir(e.config), "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var inRuns int
	err = store.DB().QueryRow("SELECT coalesce(sum(json_array_length(body)), 0) FROM event_runs WHERE session = ?", session).Scan(&inRuns)
	store.Close()
	if err != nil || inRuns == 0 {
		t.Fatalf("no statement of the session stored in a run (%v)", err)
	}
	t.Logf("%d of the session's %d quick statements stored in runs", inRuns, quick)
	t.Logf("warden replay:\n%s", replay)
	if strings.Contains(e.logs.String(), info["password"]) {
		t.Fatal("the token appears in Warden's logs")
	}
}
