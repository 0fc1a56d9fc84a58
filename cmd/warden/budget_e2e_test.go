package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mark3labs/mcp-go/client"
	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/wardenhq/warden/internal/testenv"
)

// TestConnectionBudget: 200 MCP clients with sessions (a just-in-time
// role each) and 20 wire-proxy clients against a PostgreSQL that allows
// 20 connections. No client ever sees the server's "too many clients";
// Warden's backends never exceed its budget (a quarter of what the server
// allows) plus its reserve; every client is served; and when Warden stops
// with the budget full, every role is revoked (through the reserve).
func TestConnectionBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("a load test")
	}
	pg := testenv.StartPG(t, 20)
	db := pg.CreateDatabase(t, "CREATE TABLE t (id int PRIMARY KEY, v text)", "INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 100) g")
	const budget, reserve = (20 - 3) / 4, 2 // superuser_reserved_connections is 3

	dir := t.TempDir()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	pport := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := fmt.Sprintf(`listen:
  postgres: 127.0.0.1:%d
store: sqlite://./audit.db
identity:
  local: agent
  allow_anonymous_loopback: true
  users:
    - {name: agent, groups: [agents]}
connections:
  - name: corpus
    kind: postgres
    address: %s
    database: %s
    sslmode: disable
    admin: {user: %s, password_file: %s}
    credentials: jit
rules:
  - {name: agents-read, subjects: {groups: [agents]}, tools: [run_query], effect: allow}
`, pport, pg.Addr, db, pg.User, pg.PasswordFile)
	path := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	url, logs, serve := serveWarden(t, "--config", path, "--listen", "127.0.0.1:0")

	// Warden's backends on the database, sampled as the load runs.
	const activity = `SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND datname = current_database() AND pid <> pg_backend_pid()`
	watch := pg.Connect(t, db)
	var peak atomic.Int64
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			var n int64
			if err := watch.QueryRow(context.Background(), activity).Scan(&n); err == nil && n > peak.Load() {
				peak.Store(n)
				if n > budget+reserve {
					rows, _ := watch.Query(context.Background(), `SELECT usename || ' ' || coalesce(application_name, '') || ' ' || coalesce(state, '') FROM pg_stat_activity WHERE backend_type = 'client backend' AND datname = current_database() AND pid <> pg_backend_pid()`)
					who, _ := pgx.CollectRows(rows, pgx.RowTo[string])
					t.Logf("%d backends: %q", n, who)
				}
			}
			select {
			case <-stopWatch:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	var ok, budgetRefused, serverRefused, other atomic.Int64
	var stopping atomic.Bool // errors after Warden is told to stop are the shutdown's
	var otherMu sync.Mutex
	var otherErrs []string
	classify := func(text string) {
		if stopping.Load() {
			return
		}
		switch {
		case strings.Contains(text, "connection budget of"):
			budgetRefused.Add(1)
		case strings.Contains(text, "53300") || strings.Contains(text, "too many clients") || strings.Contains(text, "remaining connection slots"):
			if strings.Contains(text, "Warden") {
				budgetRefused.Add(1) // the proxy's own 53300
			} else {
				serverRefused.Add(1)
			}
		default:
			other.Add(1)
			otherMu.Lock()
			if len(otherErrs) < 5 {
				otherErrs = append(otherErrs, text)
			}
			otherMu.Unlock()
		}
	}

	const mcpClients, proxyClients = 200, 20
	load, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	served := make([]atomic.Int64, mcpClients)
	clients := make([]*client.Client, mcpClients)
	for i := range clients {
		clients[i] = httpAt(t, url, "2025-06-18", nil)
	}
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for load.Err() == nil {
				req := mcpgo.CallToolRequest{}
				req.Params.Name = "run_query"
				req.Params.Arguments = map[string]any{"connection": "corpus", "sql": fmt.Sprintf("SELECT v FROM t WHERE id = %d", i%100+1)}
				ctx, cancel := context.WithTimeout(load, 60*time.Second)
				res, err := c.CallTool(ctx, req)
				cancel()
				switch {
				case load.Err() != nil:
				case err != nil:
					classify(err.Error())
				case res.IsError:
					classify(resultText(res))
				default:
					ok.Add(1)
					served[i].Add(1)
				}
			}
		}()
	}
	out, err := exec.Command(wardenBin, "connect", "corpus", "--server", url, "--json").Output()
	if err != nil {
		t.Fatalf("warden connect: %v", err)
	}
	var info struct{ DSN string }
	json.Unmarshal(out, &info)
	var proxyServed atomic.Int64
	for range proxyClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for load.Err() == nil {
				ctx, cancel := context.WithTimeout(load, 60*time.Second)
				conn, err := pgx.Connect(ctx, info.DSN)
				if err != nil {
					if load.Err() == nil {
						classify(err.Error())
					}
					cancel()
					continue
				}
				for range 5 {
					var v string
					if err := conn.QueryRow(ctx, "SELECT v FROM t WHERE id = 7").Scan(&v); err != nil {
						if load.Err() == nil {
							classify(err.Error())
						}
						break
					}
					proxyServed.Add(1)
				}
				conn.Close(context.Background())
				cancel()
			}
		}()
	}

	time.Sleep(10 * time.Second)
	// Stop Warden with the budget full: its shutdown revokes every role
	// through the reserve.
	stopping.Store(true)
	stopAt := time.Now()
	serve.Process.Signal(os.Interrupt)
	exited := make(chan struct{})
	go func() { serve.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(90 * time.Second):
		t.Fatalf("warden did not stop; logs:\n%s", logs)
	}
	t.Logf("warden stopped, revoking every role, in %s", time.Since(stopAt).Round(time.Millisecond))
	stopLoad()
	wg.Wait()
	close(stopWatch)
	<-watched

	var unserved int
	for i := range served {
		if served[i].Load() == 0 {
			unserved++
		}
	}
	t.Logf("calls ok %d (proxy statements %d), refused by the budget %d, by the server %d, other errors %d; peak backends %d (budget %d + reserve %d)",
		ok.Load(), proxyServed.Load(), budgetRefused.Load(), serverRefused.Load(), other.Load(), peak.Load(), budget, reserve)
	if serverRefused.Load() != 0 {
		t.Errorf("%d calls saw the server's too-many-clients error", serverRefused.Load())
	}
	if p := peak.Load(); p > budget+reserve {
		t.Errorf("peak backends %d, over the budget %d plus the reserve %d", p, budget, reserve)
	}
	if unserved > 0 {
		t.Errorf("%d of %d MCP clients were never served", unserved, mcpClients)
	}
	if proxyServed.Load() == 0 {
		t.Error("no proxy client was served")
	}
	if other.Load() > 0 {
		t.Errorf("%d other errors, e.g. %q", other.Load(), otherErrs)
	}
	var roles, backends int
	if err := watch.QueryRow(context.Background(), "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'warden\\_%'").Scan(&roles); err != nil {
		t.Fatal(err)
	}
	watch.QueryRow(context.Background(), activity).Scan(&backends)
	if roles != 0 || backends != 0 {
		t.Errorf("after Warden stopped: %d roles and %d backends left", roles, backends)
	}
}

func resultText(res *mcpgo.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(mcpgo.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}
