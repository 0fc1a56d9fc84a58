package tools_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/wardenhq/warden/tools"
	toolsbuiltin "github.com/wardenhq/warden/tools/builtin"

	"github.com/jackc/pgx/v5/pgxpool"

	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/builtin"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/internal/testenv"
	"github.com/wardenhq/warden/policy"
)

// BenchmarkRunQueryPostgres measures the whole pipeline in process (no
// MCP transport) against a real PostgreSQL, for profiling the hot path.
func BenchmarkRunQueryPostgres(b *testing.B) {
	pg := testenv.PG(b)
	db := pg.CreateDatabase(b,
		`CREATE TABLE bench_rows (id int PRIMARY KEY, name text NOT NULL, email text NOT NULL, amount numeric(12,2) NOT NULL, created timestamptz NOT NULL)`,
		`INSERT INTO bench_rows SELECT g, 'Customer ' || g, 'customer' || g || '@example.com', (g * 7.31)::numeric(12,2), '2026-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, 2000) g`)
	dir := b.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "w.yaml"), []byte(fmt.Sprintf(`
limits: {max_rows: 1000, default_max_rows: 1000}
connections:
  - {name: pg, kind: postgres, address: %q, database: %s, sslmode: disable, admin: {user: %s, password_file: %s}}
rules:
  - {name: r, effect: allow}
`, pg.Addr, db, pg.User, pg.PasswordFile)))
	if err != nil {
		b.Fatal(err)
	}
	engine, _ := policy.Compile(cfg, tools.Names(toolsbuiltin.Tools()))
	store, err := auditsqlite.Open(context.Background(), filepath.Join(dir, "audit.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	conns, err := builtin.Registry().Open(context.Background(), cfg.Connections, connectors.OpenOptions{Logger: slog.New(slog.DiscardHandler), SSHCA: cfg.SSHCA})
	if err != nil {
		b.Fatal(err)
	}
	p, _ := toolsbuiltin.Open(gateway.Options{Connections: conns, Decider: engine, Recorder: store, Limits: cfg.Limits})
	defer p.Gateway().Close()
	direct, err := pgxpool.New(context.Background(), pg.DSN(db))
	if err != nil {
		b.Fatal(err)
	}
	defer direct.Close()
	for _, q := range []struct{ name, sql string }{
		{"1row", "SELECT id, name, email, amount, created FROM bench_rows WHERE id = 42"},
		{"1000rows", "SELECT id, name, email, amount, created FROM bench_rows ORDER BY id LIMIT 1000"},
	} {
		b.Run(q.name+"/pgx-direct", func(b *testing.B) {
			for b.Loop() {
				rows, err := direct.Query(context.Background(), q.sql)
				if err != nil {
					b.Fatal(err)
				}
				for rows.Next() {
					rows.Values()
				}
				rows.Close()
			}
		})
		args, _ := json.Marshal(map[string]any{"connection": "pg", "sql": q.sql})
		b.Run(q.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := p.Call(context.Background(), agent, tools.ToolRunQuery, args)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := json.Marshal(res.Structured); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
