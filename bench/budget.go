package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
)

// budgetClients is the load of the connection-budget benchmark: MCP
// clients with sessions, each a just-in-time role of its own.
const budgetClients = 200

// runBudgetBench measures Warden's connection budget: budgetClients
// session-ful MCP clients against a PostgreSQL of its own that allows 20
// connections, with the budget off (max_connections above what the
// server allows: Warden before budgets) and on (the default, a quarter
// of the server's allowance), in one run. It prints calls/s, p50, p99,
// the failed calls and the peak of Warden's backends.
func runBudgetBench(o options) error {
	dir, err := os.MkdirTemp("", "warden-bench-budget-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755) // PostgreSQL runs as postgres
	port, err := freePort()
	if err != nil {
		return err
	}
	env := append(os.Environ(), "WARDEN_TEST_DIR="+dir, fmt.Sprintf("WARDEN_TEST_PG_PORT=%d", port), "WARDEN_TEST_PG_MAX_CONNECTIONS=20")
	start := exec.Command("scripts/pg.sh", "start")
	start.Env, start.Stderr = env, os.Stderr
	if out, err := start.Output(); err != nil {
		return fmt.Errorf("start a PostgreSQL allowing 20 connections: %v %s", err, out)
	}
	defer func() {
		stop := exec.Command("scripts/pg.sh", "stop")
		stop.Env = env
		stop.Run()
	}()
	small := o
	small.addr = fmt.Sprintf("127.0.0.1:%d", port)
	small.user = "wardenadmin"
	small.passwordFile = filepath.Join(dir, "pg", "pw")
	if err := loadPassword(&small); err != nil {
		return err
	}
	ctx := context.Background()
	db, err := setupDatabase(ctx, small)
	if err != nil {
		return err
	}
	host, p, _ := net.SplitHostPort(small.addr)
	watch, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=%s sslmode=disable", host, p, small.user, small.password, db))
	if err != nil {
		return err
	}
	defer watch.Close(ctx)

	fmt.Printf("== connection budget: %d MCP sessions (a role each) on a PostgreSQL allowing 20 connections, %s\n", budgetClients, o.duration)
	fmt.Printf("%-34s %10s %9s %9s %8s %14s\n", "warden", "calls/s", "p50 ms", "p99 ms", "failed", "peak backends")
	for _, mode := range []struct{ name, setting string }{
		{"budget off (max_connections: 1000)", "max_connections: 1000"},
		{"budget on (default: 4 + 2 reserve)", ""},
	} {
		cfgDir := filepath.Join(dir, strings.Fields(mode.name)[1])
		os.MkdirAll(cfgDir, 0o755)
		cfg := fmt.Sprintf(`store: sqlite://./audit.db
identity:
  local: bench
  allow_anonymous_loopback: true
  users: [{name: bench, groups: [agents]}]
connections:
  - name: pg
    kind: postgres
    address: %s
    database: %s
    sslmode: disable
    credentials: jit
    %s
    admin: {user: %s, password_file: %s}
rules:
  - {name: agents-read, subjects: {groups: [agents]}, effect: allow, tools: [run_query]}
`, small.addr, db, mode.setting, small.user, small.passwordFile)
		path := filepath.Join(cfgDir, "warden.yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			return err
		}
		var peak atomic.Int64
		done := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for {
				var n int64
				if watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n) == nil && n > peak.Load() {
					peak.Store(n)
				}
				select {
				case <-done:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
		r := measure(ctx, small, wardenHTTPTargetAt(small, path, mcpgo.ProtocolVersion20250618), "SELECT name FROM bench_rows WHERE id = 42", budgetClients)
		close(done)
		<-sampled
		fmt.Printf("%-34s %10.0f %9.2f %9.2f %8d %14d\n", mode.name, r.PerSecond, r.MedianMs, r.P99Ms, r.Errors, peak.Load())
		if r.Note != "" {
			fmt.Printf("    %.160s\n", strings.ReplaceAll(r.Note, "\n", " "))
		}
	}
	return nil
}
