package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	pg_query "github.com/pganalyze/pg_query_go/v6"

	pgconnector "github.com/wardenhq/warden/connectors/postgres"
	"github.com/wardenhq/warden/internal/testenv"
	"github.com/wardenhq/warden/policy/sqlclass"
)

// TestReadOnlyWrappingAlone proves the proxy's read-only wrapping holds on
// its own, with the classifier out of the way: every case of the bypass
// corpus is sent straight to PostgreSQL as the proxy sends a read-only
// implicit transaction (set_config('transaction_read_only', 'on', true),
// the statements, Sync), as it sends one on a session read-only by
// default (see defaultReadOnlyRun), and as it sends a read-only statement
// inside a writable transaction (SAVEPOINT, the same set_config, the
// statement, ROLLBACK TO SAVEPOINT), and nothing may change.
func TestReadOnlyWrappingAlone(t *testing.T) {
	pg := testenv.PG(t)
	db := pg.CreateDatabase(t, testenv.BypassFixture...)
	ctx := context.Background()
	side := pg.Connect(t, db)
	c, err := pgconn.Connect(ctx, pg.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	before := testenv.Fingerprint(t, side)
	ran, refused := 0, 0
	for _, cs := range testenv.BypassCorpus(t) {
		name, sql := cs.Name, cs.SQL
		if testenv.ExternalEffect(sql) {
			continue
		}
		stmts, err := pg_query.SplitWithParser(sql, true)
		if err != nil || len(stmts) == 0 {
			continue
		}
		for _, shape := range []string{"implicit", "savepoint", "default", "default-batch", "default-any-tag", "default-batch-any-tag"} {
			var err error
			if strings.HasPrefix(shape, "default") {
				// The fast path: the session's default read-only, the
				// statements each in a batch of its own (extended
				// protocol, Sync after each) or in one (a simple Query).
				err = defaultReadOnlyRun(ctx, c, stmts, !strings.Contains(shape, "batch"), strings.HasSuffix(shape, "any-tag"))
			} else {
				err = wrappedRun(ctx, c, stmts, shape == "savepoint")
			}
			if err == nil {
				ran++
			} else {
				refused++
			}
			if after := testenv.Fingerprint(t, side); after != before {
				t.Fatalf("case %s (%s) changed the database past the proxy's read-only wrapping:\n%s\nbefore: %s\nafter:  %s", name, shape, sql, before, after)
			}
		}
	}
	t.Logf("read-only wrapping alone: %d runs completed without changing data, %d refused by PostgreSQL", ran, refused)
	if ran+refused < 200 {
		t.Errorf("only %d runs", ran+refused)
	}
}

// wrappedRun sends stmts in one batch as the proxy sends a read-only
// implicit transaction (hSetRO first), or, inSavepoint, a read-only
// statement inside a writable transaction. It returns the batch's error.
func wrappedRun(ctx context.Context, c *pgconn.PgConn, stmts []string, inSavepoint bool) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	defer func() { c.Exec(ctx, "RESET ALL").ReadAll() }()
	b := &pgconn.Batch{}
	if inSavepoint {
		b.ExecParams(hBeginRW.sql, nil, nil, nil, nil)
		b.ExecParams(hSavepoint.sql, nil, nil, nil, nil)
	}
	b.ExecParams(hSetRO.sql, nil, nil, nil, nil)
	for _, s := range stmts {
		// Transaction control is carried out by the proxy, never
		// forwarded as the client wrote it.
		if parseTxnUncached(s) != nil {
			continue
		}
		b.ExecParams(s, nil, nil, nil, nil)
	}
	if inSavepoint {
		b.ExecParams(hRollbackS.sql, nil, nil, nil, nil)
		b.ExecParams(hReleaseS.sql, nil, nil, nil, nil)
		b.ExecParams(hCommit.sql, nil, nil, nil, nil)
	}
	_, err := c.ExecBatch(ctx, b).ReadAll()
	if c.TxStatus() != 'I' {
		c.Exec(ctx, "ROLLBACK").ReadAll()
	}
	return err
}

// defaultReadOnlyRun sends stmts as the proxy does on an upstream whose
// default_transaction_read_only it set: in one batch, or each in a batch
// of its own (perSync). A batch is sent bare when sendsBare says so, else
// after hSetRO; anyTag takes every statement for a query, as if the classifier's
// parse disagreed with PostgreSQL's, to show the one-statement condition
// holds without it. It returns the first error.
func defaultReadOnlyRun(ctx context.Context, c *pgconn.PgConn, stmts []string, perSync, anyTag bool) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	defer func() { c.Exec(ctx, "RESET ALL").ReadAll() }()
	if _, err := c.Exec(ctx, "SET default_transaction_read_only = on").ReadAll(); err != nil {
		return err
	}
	var sent []string
	for _, s := range stmts {
		// Transaction control is the proxy's, never forwarded.
		if parseTxnUncached(s) == nil {
			sent = append(sent, s)
		}
	}
	batches := [][]string{sent}
	if perSync {
		batches = nil
		for _, s := range sent {
			batches = append(batches, []string{s})
		}
	}
	var first error
	for _, batch := range batches {
		if len(batch) == 0 {
			continue
		}
		b := &pgconn.Batch{}
		u := &upstream{tx: c.TxStatus(), status: map[string]string{"default_transaction_read_only": c.ParameterStatus("default_transaction_read_only")}}
		if !sendsBare(u, len(batch) == 1, anyTag || snapshotFirst(classified(batch[0]))) {
			b.ExecParams(hSetRO.sql, nil, nil, nil, nil)
		}
		for _, s := range batch {
			b.ExecParams(s, nil, nil, nil, nil)
		}
		if _, err := c.ExecBatch(ctx, b).ReadAll(); err != nil && first == nil {
			first = err
		}
		if c.TxStatus() != 'I' {
			c.Exec(ctx, "ROLLBACK").ReadAll()
		}
	}
	return first
}

// classified is sql as the proxy's classifier sees it (nil when it cannot
// classify it: the proxy would refuse it).
func classified(sql string) *statement {
	f, err := sqlclass.Classify(context.Background(), sql, sqlclass.Options{})
	if err != nil {
		return nil
	}
	return &statement{SQL: sql, Facts: f.Policy(pgconnector.SearchPath)}
}
