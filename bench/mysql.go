package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/go-sql-driver/mysql"
	"github.com/mark3labs/mcp-go/client"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
)

var (
	mysqlOnly = flag.Bool("mysql", false, "run only the MySQL/MariaDB run_query benchmark: Warden over MCP (stdio, HTTP) against go-sql-driver direct and the MCP peer @bytebase/dbhub (-mysql-peer), on the test MariaDB (WARDEN_TEST_MYSQL_*)")
	mysqlPeer = flag.String("mysql-peer", "", "entry point (dist/index.js) of @bytebase/dbhub; empty skips the peer")
)

// mysqlServer is the MariaDB the benchmark runs on (scripts/mariadb.sh).
type mysqlServer struct {
	addr, user, password, passwordFile string
}

const mysqlBenchDB = "warden_bench"

func runMySQLBench(o options) error {
	m := mysqlServer{addr: os.Getenv("WARDEN_TEST_MYSQL_ADDR"), user: os.Getenv("WARDEN_TEST_MYSQL_USER"), passwordFile: os.Getenv("WARDEN_TEST_MYSQL_PASSWORD_FILE")}
	if m.addr == "" || m.user == "" || m.passwordFile == "" {
		return fmt.Errorf("no test MariaDB: start one with scripts/mariadb.sh start and source the env file it prints")
	}
	pw, err := os.ReadFile(m.passwordFile)
	if err != nil {
		return fmt.Errorf("read the MariaDB password: %w", err)
	}
	m.password = strings.TrimSpace(string(pw))
	ctx := context.Background()
	if err := setupMySQLDatabase(ctx, m); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "warden-bench-mysql")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := fmt.Sprintf(`store: sqlite://./audit.db
identity:
  local: bench
  allow_anonymous_loopback: true
  users: [{name: bench, groups: [agents]}]
limits: {max_rows: 1000, default_max_rows: 1000}
connections:
  - name: my
    kind: mysql
    address: %s
    database: %s
    sslmode: disable
    credentials: jit                 # the recommended setup: a user per session
    admin: {user: %s, password_file: %s}
rules:
  - {name: agents-read, subjects: {groups: [agents]}, effect: allow, tools: [run_query, describe_schema]}
`, m.addr, mysqlBenchDB, m.user, m.passwordFile)
	path := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return err
	}
	o.connection = "my"
	targets := []target{mysqlDirectTarget(m), wardenStdioTarget(o, path), wardenHTTPTarget(o, path)}
	if *mysqlPeer != "" {
		targets = append(targets, dbhubTarget(m, dir))
	}
	queries := []struct{ name, sql string }{
		{"1 row", "SELECT id, name, email, amount, created FROM bench_rows WHERE id = 42"},
		{"1,000 rows", "SELECT id, name, email, amount, created FROM bench_rows ORDER BY id LIMIT 1000"},
	}
	var results []result
	for _, q := range queries {
		for _, n := range o.clients {
			for _, t := range targets {
				fmt.Fprintf(os.Stderr, "bench: mysql %-10s %-24s %2d client(s) ...", q.name, t.name, n)
				r := measure(ctx, o, t, q.sql, n)
				r.Query = q.name
				fmt.Fprintf(os.Stderr, " %d calls, median %.3f ms\n", r.Calls, r.MedianMs)
				results = append(results, r)
			}
		}
	}
	fmt.Println("== run_query on MariaDB: Warden vs go-sql-driver direct vs peer dbhub (median and p99 latency per call, calls/s, CPU per call of the serving process and of the client)")
	printTableAgainst(os.Stdout, results, "mysql direct")
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		return os.WriteFile(o.jsonOut, b, 0o644)
	}
	return nil
}

func (m mysqlServer) dsn(db string) string {
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr, c.DBName = m.user, m.password, "tcp", m.addr, db
	return c.FormatDSN()
}

func setupMySQLDatabase(ctx context.Context, m mysqlServer) error {
	server, err := sql.Open("mysql", m.dsn(""))
	if err != nil {
		return err
	}
	defer server.Close()
	if _, err := server.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+mysqlBenchDB); err != nil {
		return fmt.Errorf("mysql bench setup: %w", err)
	}
	db, err := sql.Open("mysql", m.dsn(mysqlBenchDB))
	if err != nil {
		return err
	}
	defer db.Close()
	for _, s := range []string{
		"CREATE TABLE IF NOT EXISTS " + mysqlBenchDB + ".bench_rows (id int PRIMARY KEY, name varchar(64) NOT NULL, email varchar(128) NOT NULL, amount decimal(12,2) NOT NULL, created datetime NOT NULL)",
		"INSERT IGNORE INTO " + mysqlBenchDB + ".bench_rows SELECT seq, concat('Customer ', seq), concat('customer', seq, '@example.com'), seq * 7.31, '2026-01-01' + INTERVAL seq MINUTE FROM seq_1_to_10000",
		"ANALYZE TABLE " + mysqlBenchDB + ".bench_rows",
	} {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("mysql bench setup: %w", err)
		}
	}
	return nil
}

// mysqlDirectTarget is the baseline: the same query with go-sql-driver,
// every row scanned.
func mysqlDirectTarget(m mysqlServer) target {
	return target{name: "mysql direct", open: func(ctx context.Context, clients int, query string) ([]caller, func(), error) {
		db, err := sql.Open("mysql", m.dsn(mysqlBenchDB))
		if err != nil {
			return nil, nil, err
		}
		db.SetMaxOpenConns(max(clients, 4))
		db.SetMaxIdleConns(max(clients, 4))
		call := func(ctx context.Context) error {
			rows, err := db.QueryContext(ctx, query)
			if err != nil {
				return err
			}
			cols, _ := rows.Columns()
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			for rows.Next() {
				if err := rows.Scan(ptrs...); err != nil {
					rows.Close()
					return err
				}
			}
			rows.Close()
			return rows.Err()
		}
		return repeat(call, clients), func() { db.Close() }, nil
	}}
}

// dbhubTarget drives the MCP peer @bytebase/dbhub (stdio) on the same
// database, its execute_sql tool read-only with the same row limit: no
// policy, masking, audit or per-session credentials.
func dbhubTarget(m mysqlServer, dir string) target {
	var pid atomic.Int64
	return target{name: "peer dbhub stdio", serverCPU: childCPU(&pid), open: func(ctx context.Context, clients int, query string) ([]caller, func(), error) {
		toml := filepath.Join(dir, "dbhub.toml")
		conf := fmt.Sprintf("[[sources]]\nid = \"bench\"\ndsn = %q\n\n[[tools]]\nname = \"execute_sql\"\nsource = \"bench\"\nreadonly = true\nmax_rows = 1000\n",
			fmt.Sprintf("mariadb://%s:%s@%s/%s?sslmode=disable", m.user, m.password, m.addr, mysqlBenchDB))
		if err := os.WriteFile(toml, []byte(conf), 0o600); err != nil {
			return nil, nil, err
		}
		c, err := client.NewStdioMCPClientWithOptions("node", os.Environ(), []string{*mysqlPeer, "--transport", "stdio", "--config", toml})
		if err != nil {
			return nil, nil, err
		}
		pid.Store(int64(childPID("node")))
		if err := initialize(ctx, c); err != nil {
			c.Close()
			return nil, nil, err
		}
		tools, err := c.ListTools(ctx, mcpgo.ListToolsRequest{})
		if err != nil {
			c.Close()
			return nil, nil, err
		}
		name := ""
		for _, t := range tools.Tools {
			if strings.HasPrefix(t.Name, "execute_sql") {
				name = t.Name
			}
		}
		if name == "" {
			c.Close()
			return nil, nil, fmt.Errorf("dbhub offers no execute_sql tool (%d tools)", len(tools.Tools))
		}
		return repeat(toolCaller(c, name, map[string]any{"sql": query}), clients), func() { c.Close() }, nil
	}}
}
