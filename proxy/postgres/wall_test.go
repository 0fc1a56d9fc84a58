package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/wardenhq/warden/internal/testenv"
	"github.com/wardenhq/warden/policy"
)

// wallRules admit every read, several to a call, in a read-only
// transaction, and let the same agents write (so that BEGIN opens a
// writable transaction, in which a read runs inside the proxy's read-only
// savepoint). With a classifier that calls everything a read, only the
// read-only transaction stands between a write and the data.
const wallRules = `
  - name: agents-read
    subjects: {groups: [agents]}
    tools: [run_query]
    effect: allow
    read_only: true
    multi_statement: true
  - name: agents-write
    subjects: {groups: [agents]}
    tools: [run_query]
    statements: [write]
    effect: allow
    read_only: false
`

// everythingReads is a classifier that lies: every statement is a plain
// read (a SELECT, with tagSelect) touching nothing, whatever it does. Only
// transaction control keeps its kind, because the proxy carries that out
// itself instead of forwarding it, and the statement split (the parts'
// offsets) is the real one, as the proxy needs it to run the parts. What
// the real classifier cannot parse is split by PostgreSQL's scanner.
type everythingReads struct {
	real      policy.Classifier
	tagSelect bool
}

func (c *everythingReads) Namespace() string { return c.real.Namespace() }

func (c *everythingReads) Classify(ctx context.Context, req policy.ClassifyRequest) (policy.Facts, error) {
	real, err := c.real.Classify(ctx, req)
	parts := real.Parts
	if err != nil {
		parts = scannerParts(req.Statement)
		if len(parts) == 0 {
			return policy.Facts{}, err
		}
	}
	out := policy.Facts{Kinds: []string{policy.KindRead}, ReadOnly: true}
	for _, p := range parts {
		if p.Kind == policy.KindTransaction {
			out.Parts = append(out.Parts, p)
			out.Kinds = []string{policy.KindRead, policy.KindTransaction}
			out.ReadOnly = false
			continue
		}
		tag := p.Tag
		if c.tagSelect || tag == "" {
			tag = "SELECT"
		}
		out.Parts = append(out.Parts, policy.Part{Kind: policy.KindRead, Kinds: []string{policy.KindRead}, Tag: tag, Offset: p.Offset, Length: p.Length})
	}
	return out, nil
}

// scannerParts splits sql into its statements with PostgreSQL's scanner.
func scannerParts(sql string) []policy.Part {
	stmts, err := pg_query.SplitWithScanner(sql, true)
	if err != nil {
		return nil
	}
	var parts []policy.Part
	from := 0
	for _, s := range stmts {
		i := strings.Index(sql[from:], s)
		if i < 0 {
			return nil
		}
		parts = append(parts, policy.Part{Offset: from + i, Length: len(s)})
		from += i + len(s)
	}
	return parts
}

// TestReadOnlyWrappingAlone proves that the proxy's read-only wrapping
// holds on its own. The real proxy serves the bypass corpus with the
// classifier replaced by one that calls every statement a read, over a
// static credential with every right on the data (so the just-in-time
// role's grants are out of the way too), and every case is sent in each
// way a client can send it: as one simple Query, as an extended-protocol
// batch (one Sync), one statement per Sync, and inside a writable
// transaction that the client commits. Nothing may change, and each case
// must have reached PostgreSQL (it ran, or PostgreSQL refused it): a case
// the proxy refused before sending would prove nothing.
func TestReadOnlyWrappingAlone(t *testing.T) {
	for _, tagSelect := range []bool{false, true} {
		name := "real-tags"
		if tagSelect {
			name = "every-tag-select"
		}
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{setup: testenv.BypassFixture, credentials: "static", rules: wallRules,
				classifier: func(real policy.Classifier) policy.Classifier {
					return &everythingReads{real: real, tagSelect: tagSelect}
				}})
			side := h.pg.Connect(t, h.db)
			before := testenv.Fingerprint(t, side)
			ctx := context.Background()
			dsn := h.dsn("alice")
			reached := map[string]int{}
			cases := 0
			for _, cs := range testenv.BypassCorpus(t) {
				if testenv.ExternalEffect(cs.SQL) {
					continue
				}
				stmts := scannerParts(cs.SQL)
				if len(stmts) == 0 {
					continue
				}
				cases++
				control := hasControl(t, cs.SQL)
				// A connection of its own: a case may leave its session
				// unusable (DEALLOCATE ALL, run as a read, drops the
				// proxy's own prepared statements, and every statement
				// after it fails), which must not hide the next case.
				c, err := pgconn.Connect(ctx, dsn)
				if err != nil {
					t.Fatal(err)
				}
				for _, shape := range []string{"query", "batch", "per-sync", "in-transaction"} {
					err := sendShape(ctx, c, cs.SQL, stmts, shape)
					if c.IsClosed() {
						t.Fatalf("case %s (%s): the proxy closed the connection: %v", cs.Name, shape, err)
					}
					if after := testenv.Fingerprint(t, side); after != before {
						t.Fatalf("case %s (%s) changed the database past the read-only wrapping:\n%s\nbefore: %s\nafter:  %s", cs.Name, shape, cs.SQL, before, after)
					}
					code := "ran"
					if err != nil {
						var pe *pgconn.PgError
						if !errors.As(err, &pe) {
							t.Fatalf("case %s (%s): %v", cs.Name, shape, err)
						}
						proxys := strings.Contains(pe.Message, "Warden") || strings.Contains(pe.Message, "rule ")
						switch {
						case strings.Contains(pe.Message, "is not supported through Warden"):
							// A protocol feature the proxy does not
							// carry (COPY FROM STDIN), refused by its
							// tag whatever the classifier says.
							reached["proxy: unsupported feature"]++
							continue
						case proxys && control:
							// Transaction control is the proxy's to
							// carry out or refuse, not a read.
							reached["proxy: transaction control"]++
							continue
						case proxys:
							t.Fatalf("case %s (%s) was refused by the proxy, not by PostgreSQL, so the wall was not tested: %s\n%s", cs.Name, shape, pe.Message, cs.SQL)
						}
						code = pe.Code
					}
					reached[code]++
				}
				c.Close(ctx)
			}
			t.Logf("%d cases × 4 shapes, outcomes by SQLSTATE (25006 is the read-only transaction's refusal): %v", cases, reached)
			if cases < 100 {
				t.Fatalf("only %d corpus cases ran", cases)
			}
			if reached["25006"] == 0 {
				t.Fatal("no case was refused by the read-only transaction: the wrapping was not exercised")
			}
		})
	}
}

// hasControl reports whether sql holds transaction control (as the real
// classifier sees it, which the liar keeps).
func hasControl(t *testing.T, sql string) bool {
	for _, p := range scannerParts(sql) {
		tree, err := pg_query.Parse(sql[p.Offset : p.Offset+p.Length])
		if err != nil || len(tree.GetStmts()) != 1 {
			continue
		}
		if tree.GetStmts()[0].GetStmt().GetTransactionStmt() != nil {
			return true
		}
	}
	return false
}

// sendShape sends a corpus case through the proxy as shape says, and
// returns the first error PostgreSQL (or the proxy) answered with. It
// leaves the connection idle, outside any transaction.
func sendShape(ctx context.Context, c *pgconn.PgConn, sql string, parts []policy.Part, shape string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	defer func() {
		if c.TxStatus() != 'I' {
			c.Exec(ctx, "ROLLBACK").ReadAll()
		}
		c.Exec(ctx, "RESET ALL").ReadAll()
	}()
	text := func(p policy.Part) string { return sql[p.Offset : p.Offset+p.Length] }
	switch shape {
	case "query":
		_, err := c.Exec(ctx, sql).ReadAll()
		return err
	case "batch":
		b := &pgconn.Batch{}
		for _, p := range parts {
			b.ExecParams(text(p), nil, nil, nil, nil)
		}
		_, err := c.ExecBatch(ctx, b).ReadAll()
		return err
	case "per-sync":
		var first error
		for _, p := range parts {
			if _, err := c.ExecParams(ctx, text(p), nil, nil, nil, nil).Close(); err != nil && first == nil {
				first = err
			}
		}
		return first
	case "in-transaction":
		if _, err := c.Exec(ctx, "BEGIN").ReadAll(); err != nil {
			return err
		}
		_, err := c.Exec(ctx, sql).ReadAll()
		if _, cerr := c.Exec(ctx, "COMMIT").ReadAll(); err == nil {
			err = cerr
		}
		return err
	}
	panic("unknown shape " + shape)
}
