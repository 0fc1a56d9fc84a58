package postgres_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/jackc/pgx/v5"
)

// BenchmarkProxy runs pgbench's select-only statement through the proxy
// from 8 clients, with the benchmark's configuration: a read-only rule
// with table scopes, a masking profile with a column rule and detectors,
// a just-in-time role per client, the audit trail. It is the in-process
// twin of `make bench`'s pgbench run, for profiling the proxy
// (go test -bench Proxy -cpuprofile).
func BenchmarkProxy(b *testing.B) {
	h := newHarness(b, harnessOptions{
		setup: []string{
			"CREATE TABLE pgbench_accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84))",
			"INSERT INTO pgbench_accounts SELECT g, 1, g % 1000, '' FROM generate_series(1, 10000) g",
		},
		rules: `
  - name: bench-read
    subjects: {groups: [agents]}
    tools: [run_query]
    effect: allow
    read_only: true
    tables: {read: ["public.pgbench_*"]}
    masking: pii
`,
		masking: `
  profiles:
    pii:
      columns:
        - {match: "*.pgbench_accounts.filler", strategy: redact}
      detectors: [card, email, ssn, secrets]
`,
	})
	for _, mode := range []struct {
		name string
		mode pgx.QueryExecMode
	}{{"simple", pgx.QueryExecModeSimpleProtocol}, {"prepared", pgx.QueryExecModeCacheStatement}} {
		b.Run(mode.name, func(b *testing.B) {
			conns := make(chan *pgx.Conn, 8)
			for range 8 {
				conns <- h.connect("alice", mode.mode)
			}
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c := <-conns
				ctx := context.Background()
				var bal int
				for pb.Next() {
					if err := c.QueryRow(ctx, "SELECT abalance FROM pgbench_accounts WHERE aid = $1", rand.IntN(10000)+1).Scan(&bal); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
