package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"

	"github.com/wardenhq/warden/internal/testenv"
)

// mysqlEnv is a configuration with a MariaDB connection whose credentials
// are minted per session, and a masking profile for its customers.
func mysqlEnv(t *testing.T) (env, testenv.MySQLServer) {
	t.Helper()
	m := testenv.MySQL(t)
	db := m.CreateDatabase(t,
		"CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text, ssn varchar(11))",
		"INSERT INTO customers SELECT seq, CONCAT('customer ', seq), CONCAT('c', seq, '@example.com'), CONCAT('219-09-', LPAD(seq, 4, '0')) FROM seq_1_to_1500",
		"CREATE TABLE secrets (id int, value text)", "INSERT INTO secrets VALUES (1, 'x')")
	dir := t.TempDir()
	cfg := fmt.Sprintf(`
store: sqlite://./audit.db
identity:
  local: agent
  allow_anonymous_loopback: true
  users: [{name: agent, groups: [agents]}]
connections:
  - name: shop
    kind: mysql
    address: %s
    database: %s
    sslmode: disable
    credentials: jit
    jit: {ttl: 10m, idle_timeout: 5m}
    admin: {user: %s, password_file: %s}
rules:
  - {name: agents-read, subjects: {groups: [agents]}, effect: allow, read_only: true, tables: {read: [customers]}}
`, m.Addr, db, m.User, m.PasswordFile)
	path := filepath.Join(dir, "warden.yaml")
	os.WriteFile(path, []byte(cfg), 0o644)
	return env{dir: dir, config: path, password: m.Password}, m
}

// mysqlUsers are the users this configuration's Warden minted (its
// leases) that still exist on the server.
func mysqlUsers(t *testing.T, m testenv.MySQLServer, e env) []string {
	t.Helper()
	leases := map[string]bool{}
	for _, r := range envLeasePrincipals(t, e) {
		leases[r] = true
	}
	rs, err := m.Connect(t, "").Query("SELECT DISTINCT User FROM mysql.user WHERE User LIKE 'warden\\_%'")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var u string
		rs.Scan(&u)
		if leases[u] {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out
}

func waitMySQLUsers(t *testing.T, m testenv.MySQLServer, e env, n int, what string) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		users := mysqlUsers(t, m, e)
		if len(users) == n {
			return users
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: this Warden's users are %v, want %d", what, users, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// envLeasePrincipals are the principals of every lease of e's store.
func envLeasePrincipals(t *testing.T, e env) []string {
	t.Helper()
	out, err := exec.Command(wardenBin, "leases", "list", "--config", e.config, "--json", "--limit", "1000").Output()
	if err != nil {
		t.Fatalf("leases list: %v", err)
	}
	var ps []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if i := strings.Index(line, `"principal":"`); i >= 0 {
			rest := line[i+len(`"principal":"`):]
			ps = append(ps, rest[:strings.IndexByte(rest, '"')])
		}
	}
	return ps
}

// TestMySQLRunQuery: run_query over MCP reaches MariaDB as a user minted
// for the session, within the rule's scope; the user is gone once the
// session ends; no secret reaches a log or a file.
func TestMySQLRunQuery(t *testing.T) {
	e, m := mysqlEnv(t)
	c, logs := startStdio(t, e)
	res, text, s := call(t, c, "run_query", map[string]any{"connection": "shop", "sql": "SELECT count(*) AS n FROM customers"})
	if res.IsError || !strings.Contains(text, "1500") {
		t.Fatalf("run_query: %s", text)
	}
	if s["read_only"] != true {
		t.Errorf("result %v, want read_only", s)
	}
	users := waitMySQLUsers(t, m, e, 1, "during the session")
	res, text, _ = call(t, c, "run_query", map[string]any{"connection": "shop", "sql": "SELECT value FROM secrets"})
	if !res.IsError || !strings.Contains(text, "secrets") {
		t.Errorf("a table outside the rule's scope: %s", text)
	}
	res, text, _ = call(t, c, "run_query", map[string]any{"connection": "shop", "sql": "DELETE FROM customers"})
	if !res.IsError {
		t.Errorf("a write under a read-only rule: %s", text)
	}
	res, text, _ = call(t, c, "describe_schema", map[string]any{"connection": "shop"})
	if res.IsError || !strings.Contains(text, "customers") || strings.Contains(text, "secrets") {
		t.Errorf("describe_schema: %s", text)
	}
	if got := mysqlUsers(t, m, e); !slices.Equal(got, users) {
		t.Errorf("later calls minted again: %v, then %v", users, got)
	}
	c.Close()
	waitMySQLUsers(t, m, e, 0, "after stdin closed")
	checkNoSecret(t, e, logs.String())
}

// TestMySQLKilledWarden: kill -9 Warden mid-session; the next Warden to
// start on the same store drops the orphaned user.
func TestMySQLKilledWarden(t *testing.T) {
	e, m := mysqlEnv(t)
	url, _, cmd := serveWarden(t, "--config", e.config, "--listen", "127.0.0.1:0")
	c, err := client.NewStreamableHttpClient(url)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	initialize(t, c)
	if res, text, _ := call(t, c, "run_query", map[string]any{"connection": "shop", "sql": "SELECT count(*) FROM customers"}); res.IsError {
		t.Fatal(text)
	}
	waitMySQLUsers(t, m, e, 1, "during the session")
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if u := mysqlUsers(t, m, e); len(u) != 1 {
		t.Fatalf("users right after kill -9: %v", u)
	}
	start := time.Now()
	s, _ := startStdio(t, e)
	waitMySQLUsers(t, m, e, 0, "after restart")
	t.Logf("orphaned user dropped %v after restart", time.Since(start).Round(time.Millisecond))
	s.Close()
}
