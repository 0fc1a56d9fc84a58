package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// utilityRules admit reads and utility statements (DISCARD among them).
const utilityRules = `
  - name: agents-read-utility
    subjects: {groups: [agents]}
    tools: [run_query]
    statements: [read, utility]
    effect: allow
    read_only: false
`

// TestClientCannotDropTheProxysStatements: the proxy's own prepared
// statements (w_set_ro and the others) must outlive anything a client
// sends, or every statement after it fails with "prepared statement does
// not exist". DEALLOCATE, a session statement, is never admitted; DISCARD
// ALL, admitted by a rule allowing utility statements, cannot run inside
// the transaction the proxy runs every statement in (PostgreSQL's 25001).
// After each, statements — the client's cached prepared ones among them —
// still run.
func TestClientCannotDropTheProxysStatements(t *testing.T) {
	h := newHarness(t, harnessOptions{setup: shopSetup, rules: utilityRules})
	ctx := context.Background()
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
		c := h.connect("alice", mode)
		for _, drop := range []string{"DISCARD ALL", "DEALLOCATE ALL", "DISCARD ALL", "DEALLOCATE w_set_ro"} {
			for i := range 3 {
				var n int
				if err := c.QueryRow(ctx, "SELECT count(*) FROM customers WHERE id > $1", 0).Scan(&n); err != nil || n != 3 {
					t.Fatalf("%v, after %q, query %d: %d, %v", mode, drop, i, n, err)
				}
				if err := c.QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&n); err != nil || n != 3 {
					t.Fatalf("%v, after %q, query %d: %d, %v", mode, drop, i, n, err)
				}
			}
			_, err := c.Exec(ctx, drop)
			if want := map[bool]string{true: "25001", false: "42501"}[strings.HasPrefix(drop, "DISCARD")]; pgCode(err) != want {
				t.Fatalf("%v: %s: %v, want SQLSTATE %s", mode, drop, err, want)
			}
		}
	}
}
