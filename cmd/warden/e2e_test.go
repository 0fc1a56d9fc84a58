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
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/wardenhq/warden/internal/demo"
	"github.com/wardenhq/warden/internal/testenv"
)

// wardenBin is the binary under test, built once by TestMain.
var wardenBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "warden-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	wardenBin = filepath.Join(dir, "warden")
	out, err := exec.Command("go", "build", "-o", wardenBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build warden: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one end-to-end setup: a PostgreSQL database, the demo SQLite
// database, and a configuration governing both.
type env struct {
	dir      string
	config   string
	password string // the PostgreSQL admin password: must never leak
}

const pgSetup = `CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text, balance numeric(10,2), tags jsonb, active boolean, created timestamptz)`
const pgRows = `INSERT INTO customers SELECT g, 'customer ' || g, 'c' || g || '@example.com', g * 1.5, '{"tier": "gold"}', g % 2 = 0, '2026-01-01T00:00:00Z' FROM generate_series(1, 1500) g`

func newEnv(t *testing.T, extraRules string) env {
	t.Helper()
	pg := testenv.PG(t)
	db := pg.CreateDatabase(t, pgSetup, pgRows)
	dir := t.TempDir()
	if _, err := demo.CreateDatabase(context.Background(), filepath.Join(dir, "demo.db")); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
store: sqlite://./audit.db
identity:
  local: agent
  allow_anonymous_loopback: true
  users:
    - {name: agent, groups: [agents]}
limits:
  max_sql_bytes: 4096
connections:
  - name: pg
    kind: postgres
    address: %s
    database: %s
    sslmode: disable
    labels: {env: test}
    admin: {user: %s, password_file: %s}
  - name: demo
    kind: sqlite
    path: ./demo.db
  - name: pg-slow
    kind: postgres
    address: %[1]s
    database: %[2]s
    sslmode: disable
    labels: {env: slow}
    admin: {user: %[3]s, password_file: %[4]s}
  - name: down
    kind: postgres
    address: 127.0.0.1:1
    database: nothing
    admin: {user: %[3]s, password_file: %[4]s}
rules:
  - name: agents-read
    subjects: {groups: [agents]}
    connections: {names: [pg, demo, down]}
    tools: [describe_schema, run_query]
    effect: allow
    max_rows: 1000
  - name: slow-pg
    subjects: {groups: [agents]}
    connections: {labels: {env: slow}}
    tools: [run_query]
    effect: allow
    timeout: 300ms
%[5]s`, pg.Addr, db, pg.User, pg.PasswordFile, extraRules)
	path := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return env{dir: dir, config: path, password: pg.Password}
}

// syncBuffer collects a subprocess's stderr.
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

func startStdio(t *testing.T, e env) (*client.Client, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	c, err := client.NewStdioMCPClientWithOptions(wardenBin, os.Environ(), []string{"mcp", "--config", e.config},
		transport.WithCommandStderrWriter(logs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	initialize(t, c)
	return c, logs
}

// serveWarden runs `warden serve` with args until the test ends (SIGINT,
// then kill) and returns the MCP URL it prints, its logs and the process.
func serveWarden(t *testing.T, args ...string) (string, *syncBuffer, *exec.Cmd) {
	t.Helper()
	logs := &syncBuffer{}
	cmd := exec.Command(wardenBin, append([]string{"serve"}, args...)...)
	cmd.Stderr = logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	})
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "Warden is serving MCP at "); ok {
				urlc <- u
			}
		}
	}()
	select {
	case url := <-urlc:
		return url, logs, cmd
	case <-time.After(30 * time.Second):
		t.Fatalf("warden serve did not start; logs:\n%s", logs)
	}
	return "", nil, nil
}

func startHTTP(t *testing.T, e env) (*client.Client, *syncBuffer, string) {
	t.Helper()
	url, logs, _ := serveWarden(t, "--config", e.config, "--listen", "127.0.0.1:0")
	c, err := client.NewStreamableHttpClient(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	initialize(t, c)
	return c, logs, url
}

// httpProtocol, when set, is the protocol revision e2e clients ask for.
var httpProtocol string

func initialize(t *testing.T, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := mcpgo.InitializeRequest{}
	req.Params.ProtocolVersion = mcpgo.LATEST_PROTOCOL_VERSION
	if httpProtocol != "" {
		req.Params.ProtocolVersion = httpProtocol
	}
	req.Params.ClientInfo = mcpgo.Implementation{Name: "warden-e2e", Version: "1"}
	if _, err := c.Initialize(ctx, req); err != nil {
		t.Fatalf("initialize: %v", err)
	}
}

// call invokes a tool and returns its result, its text and its structured
// content decoded into a map.
func call(t *testing.T, c *client.Client, tool string, args any) (*mcpgo.CallToolResult, string, map[string]any) {
	t.Helper()
	req := mcpgo.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = args
	return callRequest(t, c, req, 60*time.Second)
}

// callRequest sends a prepared tool call and decodes the result.
func callRequest(t *testing.T, c *client.Client, req mcpgo.CallToolRequest, timeout time.Duration) (*mcpgo.CallToolResult, string, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res, err := c.CallTool(ctx, req)
	if err != nil {
		t.Fatalf("%s: protocol error: %v", req.Params.Name, err)
	}
	var text strings.Builder
	for _, ct := range res.Content {
		if tc, ok := ct.(mcpgo.TextContent); ok {
			text.WriteString(tc.Text)
		}
	}
	var structured map[string]any
	if res.StructuredContent != nil {
		b, _ := json.Marshal(res.StructuredContent)
		json.Unmarshal(b, &structured)
	} else if len(res.RawStructuredContent) > 0 {
		json.Unmarshal(res.RawStructuredContent, &structured)
	}
	return res, text.String(), structured
}

func TestStdio(t *testing.T) {
	e := newEnv(t, "")
	c, logs := startStdio(t, e)
	exercise(t, c, e)
	c.Close()
	checkAudit(t, e, "stdio")
	checkNoSecret(t, e, logs.String())
	// allow_anonymous_loopback is about HTTP clients: a stdio Warden does
	// not warn of it.
	if strings.Contains(logs.String(), "allow_anonymous_loopback") {
		t.Errorf("warden mcp warns of an HTTP setting:\n%s", logs)
	}
}

func TestHTTP(t *testing.T) {
	e := newEnv(t, "")
	c, logs, _ := startHTTP(t, e)
	exercise(t, c, e)
	checkAudit(t, e, "http")
	checkNoSecret(t, e, logs.String())
	if !strings.Contains(logs.String(), "identity.allow_anonymous_loopback is on") {
		t.Errorf("warden serve does not warn that loopback clients act as the local identity:\n%s", logs)
	}
}

// exercise drives every tool through a real MCP client, the same way over
// either transport.
func exercise(t *testing.T, c *client.Client, e env) {
	t.Run("tools/list", func(t *testing.T) {
		res, err := c.ListTools(context.Background(), mcpgo.ListToolsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]mcpgo.Tool{}
		for _, tl := range res.Tools {
			byName[tl.Name] = tl
		}
		for _, name := range []string{"list_connections", "describe_schema", "run_query"} {
			tl, ok := byName[name]
			if !ok {
				t.Fatalf("tool %s missing", name)
			}
			// Policy here never allows writes, so every tool is read-only.
			if tl.Annotations.ReadOnlyHint == nil || !*tl.Annotations.ReadOnlyHint {
				t.Errorf("%s: readOnlyHint should be true", name)
			}
			if tl.Annotations.DestructiveHint == nil || *tl.Annotations.DestructiveHint {
				t.Errorf("%s: destructiveHint should be false", name)
			}
		}
	})

	t.Run("list_connections", func(t *testing.T) {
		res, text, s := call(t, c, "list_connections", map[string]any{})
		if res.IsError {
			t.Fatal(text)
		}
		conns := s["connections"].([]any)
		if len(conns) != 4 {
			t.Fatalf("connections = %v", conns)
		}
		first := conns[0].(map[string]any)
		if first["name"] != "demo" || first["kind"] != "sqlite" {
			t.Errorf("first connection = %v", first)
		}
		if !strings.Contains(text, "run_query: allow, read-only, up to 1000 rows") {
			t.Errorf("text = %s", text)
		}
	})

	t.Run("describe_schema", func(t *testing.T) {
		res, text, s := call(t, c, "describe_schema", map[string]any{"connection": "pg"})
		if res.IsError {
			t.Fatal(text)
		}
		tables := s["tables"].([]any)
		if len(tables) != 1 || tables[0].(map[string]any)["name"] != "customers" {
			t.Fatalf("tables = %v", tables)
		}
		cols := tables[0].(map[string]any)["columns"].([]any)
		if len(cols) != 7 || cols[3].(map[string]any)["type"] != "numeric(10,2)" {
			t.Errorf("columns = %v", cols)
		}
		_, text, s = call(t, c, "describe_schema", map[string]any{"connection": "demo", "table": "orders"})
		if tables := s["tables"].([]any); len(tables) != 1 || !strings.Contains(text, "customer_id") {
			t.Errorf("demo orders: %s", text)
		}
	})

	t.Run("run_query postgres", func(t *testing.T) {
		res, text, s := call(t, c, "run_query", map[string]any{"connection": "pg",
			"sql": "SELECT id, name, balance, tags, active FROM customers WHERE id <= 3 ORDER BY id", "justification": "e2e"})
		if res.IsError {
			t.Fatal(text)
		}
		if s["row_count"].(float64) != 3 || s["truncated"].(bool) || !s["read_only"].(bool) {
			t.Errorf("result = %v", s)
		}
		rows := s["rows"].([]any)
		r0 := rows[0].([]any)
		if r0[0].(float64) != 1 || r0[1] != "customer 1" || r0[2].(float64) != 1.5 || r0[3].(map[string]any)["tier"] != "gold" || r0[4] != false {
			t.Errorf("row 0 = %v", r0)
		}
		cols := s["columns"].([]any)
		if cols[2].(map[string]any)["type"] != "numeric" {
			t.Errorf("columns = %v", cols)
		}
		if _, ok := s["elapsed_ms"].(float64); !ok {
			t.Error("elapsed_ms missing")
		}
		if !strings.Contains(text, "customer 1") || !strings.Contains(text, "(3 rows)") {
			t.Errorf("text rendering:\n%s", text)
		}
	})

	t.Run("run_query truncates at max_rows", func(t *testing.T) {
		_, text, s := call(t, c, "run_query", map[string]any{"connection": "pg", "sql": "SELECT * FROM customers ORDER BY id", "max_rows": 10})
		if s["row_count"].(float64) != 10 || !s["truncated"].(bool) {
			t.Errorf("result = %v", s["row_count"])
		}
		if !strings.Contains(text, "truncated at max_rows=10") {
			t.Errorf("text: %s", text)
		}
		// Asking for more than policy allows is capped, not refused.
		_, _, s = call(t, c, "run_query", map[string]any{"connection": "pg", "sql": "SELECT * FROM customers", "max_rows": 5000})
		if s["row_count"].(float64) != 1000 || s["max_rows"].(float64) != 1000 || !s["truncated"].(bool) {
			t.Errorf("capped result: rows %v max %v", s["row_count"], s["max_rows"])
		}
	})

	t.Run("run_query sqlite", func(t *testing.T) {
		res, text, s := call(t, c, "run_query", map[string]any{"connection": "demo",
			"sql": "SELECT country, count(*) AS n FROM customers GROUP BY country ORDER BY n DESC"})
		if res.IsError {
			t.Fatal(text)
		}
		if s["row_count"].(float64) < 5 {
			t.Errorf("result = %v", s)
		}
	})

	refusals := []struct {
		name string
		tool string
		args map[string]any
		want []string
	}{
		{"write on postgres", "run_query", map[string]any{"connection": "pg", "sql": "DELETE FROM customers"}, []string{"denied:", `rule "agents-read" admits only read statements; this DELETE is a write`}},
		{"write on sqlite", "run_query", map[string]any{"connection": "demo", "sql": "DELETE FROM orders"}, []string{"denied:", "admits only read statements"}},
		{"ddl on postgres", "run_query", map[string]any{"connection": "pg", "sql": "DROP TABLE customers"}, []string{"denied:", "this DROP TABLE is DDL"}},
		{"hidden write", "run_query", map[string]any{"connection": "pg", "sql": "WITH d AS (DELETE FROM customers RETURNING *) SELECT count(*) FROM d"}, []string{"denied:", "data-modifying"}},
		{"two statements", "run_query", map[string]any{"connection": "pg", "sql": "SELECT 1; SELECT 2"}, []string{"denied:", "2 statements"}},
		{"transaction control", "run_query", map[string]any{"connection": "pg", "sql": "COMMIT"}, []string{"denied:", "transaction control"}},
		{"unparseable", "run_query", map[string]any{"connection": "pg", "sql": "SELEC 1"}, []string{"invalid_argument:", "syntax error", "cannot parse SQL"}},
		{"unknown connection", "run_query", map[string]any{"connection": "nope", "sql": "SELECT 1"}, []string{"not_found:", `no connection named "nope"`, "list_connections"}},
		{"missing connection", "run_query", map[string]any{"sql": "SELECT 1"}, []string{"invalid_argument:", `"connection" is required`}},
		{"unknown argument", "run_query", map[string]any{"connection": "pg", "sql": "SELECT 1", "database": "x"}, []string{"invalid_argument:", `unknown argument "database"`}},
		{"wrong type", "run_query", map[string]any{"connection": "pg", "sql": "SELECT 1", "max_rows": "ten"}, []string{"invalid_argument:", `"max_rows" must be an integer`}},
		{"empty sql", "run_query", map[string]any{"connection": "pg", "sql": "  "}, []string{"invalid_argument:", `"sql" is empty`}},
		{"huge sql", "run_query", map[string]any{"connection": "pg", "sql": "SELECT '" + strings.Repeat("x", 5000) + "'"}, []string{"invalid_argument:", "over this Warden's limit of 4096 bytes"}},
		{"zero max_rows", "run_query", map[string]any{"connection": "pg", "sql": "SELECT 1", "max_rows": 0}, []string{"must be at least 1"}},
		{"target error", "run_query", map[string]any{"connection": "pg", "sql": "SELECT no_such_column FROM customers"}, []string{"target_error:", "does not exist", "42703"}},
		{"slow statement", "run_query", map[string]any{"connection": "pg-slow", "sql": "SELECT count(*) FROM generate_series(1, 1000000000)"}, []string{"timeout:", "longer than its time limit"}},
		{"tool not granted", "describe_schema", map[string]any{"connection": "pg-slow"}, []string{"denied:", "no rule allows agent to use describe_schema"}},
		{"target down", "run_query", map[string]any{"connection": "down", "sql": "SELECT 1"}, []string{"unavailable:", "Try again later"}},
		{"no rule for connection", "run_query", map[string]any{"connection": "pg", "sql": "SELECT 1"}, nil}, // placeholder, replaced below
	}
	refusals = refusals[:len(refusals)-1]
	for _, r := range refusals {
		t.Run("refuses "+r.name, func(t *testing.T) {
			res, text, _ := call(t, c, r.tool, r.args)
			if !res.IsError {
				t.Fatalf("expected a tool error, got %s", text)
			}
			for _, w := range r.want {
				if !strings.Contains(text, w) {
					t.Errorf("error text does not contain %q:\n%s", w, text)
				}
			}
			if !strings.Contains(text, "Audit event: ") {
				t.Errorf("a refusal names its audit event:\n%s", text)
			}
		})
	}

	t.Run("unknown tool", func(t *testing.T) {
		// The protocol error of MCP 2025-11-25 for an unknown tool,
		// naming the tools there are; over HTTP not a 400, which the
		// client would report as a failure of the transport.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := c.CallTool(ctx, mcpgo.CallToolRequest{Params: mcpgo.CallToolParams{Name: "run_querry", Arguments: map[string]any{"sql": "SELECT 1"}}})
		if err == nil || !strings.Contains(err.Error(), `Unknown tool: "run_querry". The tools are: list_connections, describe_schema, run_query`) ||
			strings.Contains(err.Error(), "status 400") {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("data unchanged after refused writes", func(t *testing.T) {
		_, _, s := call(t, c, "run_query", map[string]any{"connection": "pg", "sql": "SELECT count(*) FROM customers"})
		if n := s["rows"].([]any)[0].([]any)[0].(float64); n != 1500 {
			t.Errorf("customers = %v, want 1500", n)
		}
		_, _, s = call(t, c, "run_query", map[string]any{"connection": "demo", "sql": "SELECT count(*) FROM orders"})
		if n := s["rows"].([]any)[0].([]any)[0].(float64); n != demo.Orders {
			t.Errorf("orders = %v, want %d", n, demo.Orders)
		}
	})
}

// checkAudit reads the trail back through the CLI, as an operator would.
func checkAudit(t *testing.T, e env, transport string) {
	t.Helper()
	out, err := exec.Command(wardenBin, "audit", "list", "--config", e.config, "--json", "--limit", "1000").Output()
	if err != nil {
		t.Fatalf("audit list: %v", err)
	}
	counts := map[string]int{}
	var n int
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	var deleteEvent string
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		n++
		counts[ev["status"].(string)]++
		if ev["transport"] != transport || ev["identity"] != "agent" {
			t.Errorf("event %v: wrong transport or identity", ev)
		}
		if ev["statement"] == "DELETE FROM customers" {
			deleteEvent = ev["id"].(string)
			if ev["status"] != "denied" || ev["decision"] != "deny" || ev["rule"] != "agents-read" {
				t.Errorf("refused write event = %v", ev)
			}
		}
	}
	if n < 20 || counts["ok"] < 8 || counts["invalid"] < 5 || counts["failed"] < 3 || counts["denied"] < 7 || counts["running"] != 0 {
		t.Errorf("audit: %d events, by status %v", n, counts)
	}
	if deleteEvent == "" {
		t.Fatal("no audit event for the refused DELETE")
	}
	show, err := exec.Command(wardenBin, "audit", "show", "--config", e.config, deleteEvent).Output()
	if err != nil || !strings.Contains(string(show), "DELETE FROM customers") || !strings.Contains(string(show), "admits only read statements") {
		t.Errorf("audit show: %v\n%s", err, show)
	}
	text, err := exec.Command(wardenBin, "audit", "list", "--config", e.config, "--connection", "demo").Output()
	if err != nil || !strings.Contains(string(text), "DELETE FROM orders") || strings.Contains(string(text), "DELETE FROM customers") {
		t.Errorf("audit list --connection demo: %v\n%s", err, text)
	}
}

// checkNoSecret proves the admin password reached no log, no audit record
// and no file Warden wrote.
func checkNoSecret(t *testing.T, e env, logs string) {
	t.Helper()
	if strings.Contains(logs, e.password) {
		t.Error("the admin password appears in Warden's logs")
	}
	filepath.Walk(e.dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(path)
		if bytes.Contains(b, []byte(e.password)) {
			t.Errorf("the admin password appears in %s", path)
		}
		return nil
	})
}

// TestHTTPRefusesUnidentified: without allow_anonymous_loopback (and no
// identity provider), every HTTP request is refused with 401.
func TestHTTPRefusesUnidentified(t *testing.T) {
	e := newEnv(t, "")
	b, _ := os.ReadFile(e.config)
	os.WriteFile(e.config, bytes.Replace(b, []byte("allow_anonymous_loopback: true"), []byte("allow_anonymous_loopback: false"), 1), 0o644)
	cmd := exec.Command(wardenBin, "serve", "--config", e.config, "--listen", "127.0.0.1:0")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	sc := bufio.NewScanner(stdout)
	var url string
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "Warden is serving MCP at "); ok {
			url = u
			break
		}
	}
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("status %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	c, err := client.NewStreamableHttpClient(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Start(context.Background())
	req2 := mcpgo.InitializeRequest{}
	req2.Params.ProtocolVersion = mcpgo.LATEST_PROTOCOL_VERSION
	if _, err := c.Initialize(context.Background(), req2); err == nil {
		t.Fatal("an unidentified MCP client was let in")
	}
}

// TestDemo: the demo sets itself up idempotently, its configuration checks,
// and it serves the demo connection read-only.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	for i := range 2 {
		out, err := exec.Command(wardenBin, "demo", "--dir", dir, "--setup-only").CombinedOutput()
		if err != nil {
			t.Fatalf("demo setup: %v\n%s", err, out)
		}
		want := "Created "
		if i == 1 {
			want = "Using existing "
		}
		if !strings.Contains(string(out), want) {
			t.Errorf("run %d: %s", i, out)
		}
	}
	cfg := filepath.Join(dir, "warden.yaml")
	out, err := exec.Command(wardenBin, "config", "check", "--config", cfg, "--json").Output()
	var report struct {
		OK          bool `json:"ok"`
		Connections int  `json:"connections"`
	}
	if err != nil || json.Unmarshal(out, &report) != nil || !report.OK || report.Connections != 1 {
		t.Fatalf("config check: %v %s", err, out)
	}
	c, _ := startStdio(t, env{config: cfg, dir: dir})
	res, text, s := call(t, c, "run_query", map[string]any{"connection": "demo", "sql": "SELECT name, email, card_number, ssn FROM customers LIMIT 3"})
	if res.IsError || s["row_count"].(float64) != 3 {
		t.Fatalf("demo query: %s", text)
	}
	// The agent's rule masks e-mails, card numbers and SSNs by column
	// rule, in the rows and in the text; names pass.
	for _, row := range s["rows"].([]any) {
		cells := row.([]any)
		name, email, card, ssn := cells[0].(string), cells[1].(string), cells[2].(string), cells[3].(string)
		if strings.Contains(name, "*") || email != "[REDACTED:email]" || strings.Trim(card[:len(card)-4], "*-") != "" || ssn != "[REDACTED:ssn]" {
			t.Errorf("demo row not masked as configured: %v", cells)
		}
	}
	if m, _ := s["masked"].(map[string]any); m["column:main.customers.email"] != float64(3) || m["column:main.customers.card_number"] != float64(3) || m["column:main.customers.ssn"] != float64(3) {
		t.Errorf("masked counts = %v", s["masked"])
	}
	if strings.Contains(text, "@example") {
		t.Errorf("the text result holds an e-mail address: %s", text)
	}
	res, text, _ = call(t, c, "run_query", map[string]any{"connection": "demo", "sql": "UPDATE customers SET name = 'x'"})
	if !res.IsError || !strings.Contains(text, "admits only read statements") {
		t.Fatalf("demo write: %s", text)
	}
}

// TestConfigCheckErrors: a broken file is reported with positions and a
// non-zero exit.
func TestConfigCheckErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(path, []byte("connections:\n  - name: a\n    kind: oracle\nrulez: []\n"), 0o644)
	cmd := exec.Command(wardenBin, "config", "check", "--config", path)
	out, err := cmd.Output()
	if err == nil || cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("exit %v", err)
	}
	for _, w := range []string{path + `:3:11: connections[0].kind: expected postgres, mysql, sqlite, ssh or kubernetes, got "oracle"`, path + `:4:1: unknown key "rulez"`} {
		if !strings.Contains(string(out), w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if !strings.Contains(string(out), "errors") {
		t.Errorf("no summary: %s", out)
	}
}

// TestConfigCheckEveryProblem: a type error does not hide the rest. config
// check and policy check report every problem (type, validation and policy
// errors, a rule's unknown connection and its unknown tool both), in line
// order, --json as objects with file, line, column, key and message, and
// count what was read; serve and mcp print the same list and start nothing.
func TestConfigCheckEveryProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.yaml")
	os.WriteFile(path, []byte(`limits:
  statement_timeout: 10
connections:
  - {name: demo, kind: sqlite, path: demo.db}
  - {name: other, kind: sqlite, path: other.db, max_conns: lots}
rules:
  - name: r
    effect: allow
    connections: {names: [nope]}
    tools: [run_querry]
`), 0o644)
	type problem struct {
		File    string `json:"file"`
		Line    int    `json:"line"`
		Column  int    `json:"column"`
		Key     string `json:"key"`
		Message string `json:"message"`
	}
	want := []problem{
		{path, 2, 22, "limits.statement_timeout", "limits.statement_timeout: expected a duration such as 10s or 2m; got 10 (add a unit)"},
		{path, 5, 60, "connections[1].max_conns", `connections[1].max_conns: expected a whole number such as 100; got "lots"`},
		{path, 9, 27, "rules[0].connections.names[0]", `rules[0].connections.names: no connection named "nope"`},
		{path, 10, 13, "rules[0].tools[0]", `rules[0].tools: unknown tool "run_querry"`},
	}
	for _, command := range []string{"config", "policy"} {
		cmd := exec.Command(wardenBin, command, "check", "--config", path, "--json")
		out, _ := cmd.Output()
		var r struct {
			OK          bool      `json:"ok"`
			Errors      []problem `json:"errors"`
			Connections *int      `json:"connections"`
			Rules       int       `json:"rules"`
		}
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("%s check --json: %v\n%s", command, err, out)
		}
		if cmd.ProcessState.ExitCode() != 1 || r.OK || r.Rules != 1 || (command == "config" && (r.Connections == nil || *r.Connections != 2)) {
			t.Errorf("%s check: exit %d, %s", command, cmd.ProcessState.ExitCode(), out)
		}
		if len(r.Errors) != len(want) {
			t.Fatalf("%s check: %d errors, want %d:\n%s", command, len(r.Errors), len(want), out)
		}
		for i, w := range want {
			g := r.Errors[i]
			if g.File != w.File || g.Line != w.Line || g.Column != w.Column || g.Key != w.Key || !strings.HasPrefix(g.Message, w.Message) {
				t.Errorf("%s check: error %d = %+v, want %+v", command, i, g, w)
			}
		}
	}
	for _, args := range [][]string{{"config", "check"}, {"serve", "--listen", "127.0.0.1:0"}, {"mcp"}} {
		cmd := exec.Command(wardenBin, append(args, "--config", path)...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Run()
		text := stdout.String() + stderr.String()
		if cmd.ProcessState.ExitCode() != 1 {
			t.Errorf("%v: exit %d\n%s", args, cmd.ProcessState.ExitCode(), text)
		}
		for _, w := range want {
			if line := fmt.Sprintf("error: %s:%d:%d: %s", w.File, w.Line, w.Column, w.Message); !strings.Contains(text, line) {
				t.Errorf("%v: output lacks %q:\n%s", args, line, text)
			}
		}
		if !strings.Contains(text, "4 errors") {
			t.Errorf("%v: no count of the errors:\n%s", args, text)
		}
	}
}

// TestPolicyCommands: explain, test and check, as an operator runs them.
func TestPolicyCommands(t *testing.T) {
	cfg := "../../policy/testdata/warden.yaml"
	out, err := exec.Command(wardenBin, "policy", "explain", "--config", cfg, "--as", "alice", "--connection", "prod",
		"--sql", "SELECT * FROM finance.ledger", "--json").Output()
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	var ex struct {
		Decision   string `json:"decision"`
		Rule       string `json:"rule"`
		Reason     string `json:"reason"`
		Statements []struct {
			Kinds      []string `json:"kinds"`
			TablesRead []string `json:"tables_read"`
		} `json:"statements"`
		Rules []struct {
			Rule    string `json:"rule"`
			Matched bool   `json:"matched"`
		} `json:"rules"`
	}
	if err := json.Unmarshal(out, &ex); err != nil {
		t.Fatal(err)
	}
	if ex.Decision != "deny" || ex.Rule != "agents-read-prod" || !strings.Contains(ex.Reason, "finance.ledger") ||
		len(ex.Statements) != 1 || ex.Statements[0].TablesRead[0] != "finance.ledger" || len(ex.Rules) != 12 {
		t.Errorf("explain = %+v", ex)
	}
	text, _ := exec.Command(wardenBin, "policy", "explain", "--config", cfg, "--as", "bob", "--connection", "prod", "--sql", "SELECT * FROM finance.ledger").Output()
	if !strings.Contains(string(text), "decision: ALLOW") || !strings.Contains(string(text), "analysts-read-finance") {
		t.Errorf("explain text:\n%s", text)
	}

	out, err = exec.Command(wardenBin, "policy", "explain", "--config", cfg, "--as", "alice", "--connection", "web",
		"--command", "sudo -u root systemctl status nginx", "--json").Output()
	var cmdEx struct {
		Decision   string `json:"decision"`
		Statements []struct {
			Tag  string   `json:"tag"`
			Args []string `json:"args"`
			Via  []string `json:"via"`
		} `json:"statements"`
	}
	if err != nil || json.Unmarshal(out, &cmdEx) != nil || cmdEx.Decision != "deny" || len(cmdEx.Statements) != 1 ||
		cmdEx.Statements[0].Tag != "systemctl" || strings.Join(cmdEx.Statements[0].Args, " ") != "status nginx" ||
		strings.Join(cmdEx.Statements[0].Via, ",") != "sudo -u root" {
		t.Errorf("explain --command: %v\n%s", err, out)
	}

	out, err = exec.Command(wardenBin, "policy", "test", "--config", cfg, "../../policy/testdata/decisions.yaml").Output()
	if err != nil || !strings.Contains(string(out), "41 passed, 0 failed") {
		t.Errorf("policy test: %v\n%s", err, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("tests:\n  - {name: wrong, as: alice, connection: prod, sql: 'DELETE FROM orders', expect: allow}\n"), 0o644)
	cmd := exec.Command(wardenBin, "policy", "test", "--config", cfg, bad)
	out, _ = cmd.Output()
	if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "FAIL") || !strings.Contains(string(out), "decision is deny, expected allow") {
		t.Errorf("failing policy test: exit %d\n%s", cmd.ProcessState.ExitCode(), out)
	}

	out, err = exec.Command(wardenBin, "policy", "check", "--config", cfg, "--json").Output()
	var chk struct {
		OK    bool `json:"ok"`
		Rules int  `json:"rules"`
	}
	if err != nil || json.Unmarshal(out, &chk) != nil || !chk.OK || chk.Rules != 12 {
		t.Errorf("policy check: %v %s", err, out)
	}
	broken := filepath.Join(t.TempDir(), "w.yaml")
	os.WriteFile(broken, []byte("rules:\n  - name: r\n    effect: allow\n    when: \"statement.kindz\"\n"), 0o644)
	cmd = exec.Command(wardenBin, "policy", "check", "--config", broken)
	out, _ = cmd.Output()
	if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), broken+":4:") || !strings.Contains(string(out), "kindz") {
		t.Errorf("policy check of a bad condition: exit %d\n%s", cmd.ProcessState.ExitCode(), out)
	}
}
