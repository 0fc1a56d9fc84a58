package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/builtin"
	"github.com/wardenhq/warden/internal/testenv"
	"github.com/wardenhq/warden/policy"
)

func TestZZBreakdown(t *testing.T) {
	pg := testenv.PG(t)
	db := pg.CreateDatabase(t, `CREATE TABLE x (id int, name text)`, `INSERT INTO x SELECT g, 'n' || g FROM generate_series(1,100) g`)
	dir := t.TempDir()
	cfg, _ := config.Parse(filepath.Join(dir, "w.yaml"), []byte(fmt.Sprintf(`
connections:
  - {name: pg, kind: postgres, address: %q, database: %s, sslmode: disable, admin: {user: %s, password_file: %s}}
rules:
  - {name: r, effect: allow}
`, pg.Addr, db, pg.User, pg.PasswordFile)))
	engine, _ := policy.Compile(cfg, Names())
	store, _ := audit.Open(context.Background(), filepath.Join(dir, "audit.db"), nil)
	defer store.Close()
	conns, _ := builtin.Registry().Open(context.Background(), cfg.Connections, slog.New(slog.DiscardHandler))
	p, _ := New(Options{Connections: conns, Decider: engine, Recorder: store, Limits: cfg.Limits})
	ctx := context.Background()
	var tA, tG, tQ, tC, tJ, tAll []time.Duration
	for range 1000 {
		s0 := time.Now()
		o := p.newOp(agent, ToolRunQuery, "pg", nil, "SELECT * FROM x WHERE id = 4")
		o.authorize(ctx, "")
		s1 := time.Now()
		o.gate(ctx)
		s2 := time.Now()
		rows, err := o.conn.(connectors.SQL).Query(ctx, connectors.QueryRequest{SQL: "SELECT * FROM x WHERE id = 4", ReadOnly: true, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		s3 := time.Now()
		res, _ := p.collect(ctx, agent, "pg", rows, 200)
		o.succeed(ctx)
		s4 := time.Now()
		json.Marshal(res)
		renderQuery(res)
		s5 := time.Now()
		tA = append(tA, s1.Sub(s0))
		tG = append(tG, s2.Sub(s1))
		tQ = append(tQ, s3.Sub(s2))
		tC = append(tC, s4.Sub(s3))
		tJ = append(tJ, s5.Sub(s4))
		tAll = append(tAll, s5.Sub(s0))
	}
	m := func(ds []time.Duration) time.Duration {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[len(ds)/2]
	}
	fmt.Println("authorize", m(tA), "gate", m(tG), "query", m(tQ), "collect+finish", m(tC), "json+render", m(tJ), "all", m(tAll))
}
