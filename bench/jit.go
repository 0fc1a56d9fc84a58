package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"

	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/builtin"
	"github.com/wardenhq/warden/credentials"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/tools"
	toolsbuiltin "github.com/wardenhq/warden/tools/builtin"
)

// jitTable measures just-in-time credentials on the local PostgreSQL: mint
// and revoke of a role, and run_query's first call in a session (which
// mints) against a warm call (which reuses the role).
func jitTable(w io.Writer, o options, db string, n int) error {
	dir, err := os.MkdirTemp("", "warden-bench-jit")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg, err := config.Parse(filepath.Join(dir, "w.yaml"), []byte(fmt.Sprintf(`
connections:
  - {name: pg, kind: postgres, address: %q, database: %s, sslmode: disable, credentials: jit, admin: {user: %s, password_file: %s}}
rules:
  - {name: r, effect: allow, tables: {read: [bench_rows]}}
`, o.addr, db, o.user, o.passwordFile)))
	if err != nil {
		return err
	}
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	conns, err := builtin.Registry().Open(ctx, cfg.Connections, connectors.OpenOptions{Logger: logger, SSHCA: cfg.SSHCA})
	if err != nil {
		return err
	}
	cr := conns["pg"].(connectors.Credentialer)
	var mints, revokes []time.Duration
	for i := range n {
		lease := fmt.Sprintf("bench%08d%d", time.Now().UnixNano()%1e8, i)
		start := time.Now()
		resp, err := cr.Mint(ctx, connectors.MintRequest{Lease: lease, TTL: time.Hour, ConnectionLimit: 4,
			Grants: connectors.SQLGrants{ReadOnly: true, Read: []string{"bench_rows"}}})
		if err != nil {
			return err
		}
		mints = append(mints, time.Since(start))
		start = time.Now()
		if err := cr.Revoke(ctx, connectors.RevokeRequest{Lease: lease, Principal: resp.Credential.Password.User}); err != nil {
			return err
		}
		revokes = append(revokes, time.Since(start))
	}

	store, err := auditsqlite.Open(ctx, filepath.Join(dir, "audit.db"), nil)
	if err != nil {
		return err
	}
	defer store.Close()
	engine, err := policy.Compile(cfg, tools.Names(toolsbuiltin.Tools()))
	if err != nil {
		return err
	}
	creds := credentials.New(store, conns, cfg.Connections, logger)
	if err := creds.Start(ctx); err != nil {
		return err
	}
	p, err := toolsbuiltin.Open(gateway.Options{Connections: conns, Decider: engine, Minter: creds, Recorder: store, Limits: cfg.Limits})
	if err != nil {
		return err
	}
	defer p.Gateway().Close()
	args, _ := json.Marshal(map[string]any{"connection": "pg", "sql": "SELECT id, name FROM bench_rows WHERE id = 42"})
	var first, warm []time.Duration
	for i := range n {
		caller := gateway.Caller{Principal: identity.Principal{Subject: "bench"}, Transport: "bench", Session: fmt.Sprintf("s%d", i)}
		start := time.Now()
		if _, err := p.Call(ctx, caller, tools.ToolRunQuery, args); err != nil {
			return err
		}
		first = append(first, time.Since(start))
		for range 5 {
			start = time.Now()
			if _, err := p.Call(ctx, caller, tools.ToolRunQuery, args); err != nil {
				return err
			}
			warm = append(warm, time.Since(start))
		}
		p.EndSession(ctx, caller.Session)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "just-in-time credentials\tmedian ms\tp99 ms\t")
	for _, r := range []struct {
		name string
		ds   []time.Duration
	}{{"mint a role (CREATE ROLE + grants)", mints}, {"revoke a role (terminate, drop)", revokes},
		{"run_query, first call of a session (mints)", first}, {"run_query, warm call (reuses the role)", warm}} {
		sort.Slice(r.ds, func(i, j int) bool { return r.ds[i] < r.ds[j] })
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t\n", r.name, ms(r.ds[len(r.ds)/2]), ms(r.ds[len(r.ds)*99/100]))
	}
	return tw.Flush()
}
