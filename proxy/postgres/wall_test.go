package postgres

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/wardenhq/warden/internal/testenv"
)

// externalEffects are corpus cases that reach outside the database; a
// read-only transaction does not stop them (the classifier and the
// non-superuser JIT role do). They are not run here.
var externalEffects = []string{"program", "terminate", "cancel_backend", "promote", "switch_wal", "reload_conf",
	"rotate_logfile", "replication_slot", "lo_export", "pg_file_write", "dblink", "pg_sleep", "lo_import"}

// TestReadOnlyWrappingAlone proves the proxy's read-only wrapping holds on
// its own, with the classifier out of the way: every case of the bypass
// corpus is sent straight to PostgreSQL as the proxy sends a read-only
// implicit transaction (set_config('transaction_read_only', 'on', true),
// the statements, Sync)
// and as it sends a read-only statement inside a writable transaction
// (SAVEPOINT, the same set_config, the statement, ROLLBACK TO
// SAVEPOINT), and nothing may change.
func TestReadOnlyWrappingAlone(t *testing.T) {
	corpus, err := os.ReadFile("../../policy/sqlclass/testdata/bypass.txt")
	if err != nil {
		t.Fatal(err)
	}
	pg := testenv.PG(t)
	db := pg.CreateDatabase(t, wallFixture...)
	ctx := context.Background()
	side := pg.Connect(t, db)
	c, err := pgconn.Connect(ctx, pg.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	before := wallFingerprint(t, side)
	ran, refused := 0, 0
	for _, rec := range strings.Split(string(corpus), "\n=== ")[1:] {
		name, body, _ := strings.Cut(rec, "\n")
		i := strings.LastIndex(body, "\n--- ")
		if i < 0 {
			continue
		}
		sql := body[:i]
		low := strings.ToLower(sql)
		skip := false
		for _, x := range externalEffects {
			skip = skip || strings.Contains(low, x)
		}
		if skip {
			continue
		}
		stmts, err := pg_query.SplitWithParser(sql, true)
		if err != nil || len(stmts) == 0 {
			continue
		}
		for _, shape := range []string{"implicit", "savepoint"} {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			b := &pgconn.Batch{}
			if shape == "savepoint" {
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
			if shape == "savepoint" {
				b.ExecParams(hRollbackS.sql, nil, nil, nil, nil)
				b.ExecParams(hReleaseS.sql, nil, nil, nil, nil)
				b.ExecParams(hCommit.sql, nil, nil, nil, nil)
			}
			_, err := c.ExecBatch(cctx, b).ReadAll()
			if c.TxStatus() != 'I' {
				c.Exec(cctx, "ROLLBACK").ReadAll()
			}
			c.Exec(cctx, "RESET ALL").ReadAll()
			cancel()
			if err == nil {
				ran++
			} else {
				refused++
			}
			if after := wallFingerprint(t, side); after != before {
				t.Fatalf("case %s (%s) changed the database past the proxy's read-only wrapping:\n%s\nbefore: %s\nafter:  %s", name, shape, sql, before, after)
			}
		}
	}
	t.Logf("read-only wrapping alone: %d runs completed without changing data, %d refused by PostgreSQL", ran, refused)
	if ran+refused < 200 {
		t.Errorf("only %d runs", ran+refused)
	}
}

var wallFixture = func() []string {
	var s []string
	for _, t := range []string{"a", "accounts", "audit_log", "b", "backup", "jobs", "log", "secrets", "t", "t2", "u", "users", "x"} {
		s = append(s,
			"CREATE TABLE "+t+" (id int PRIMARY KEY, name text, balance numeric DEFAULT 0, email text, password text, status text, v int, data text)",
			"INSERT INTO "+t+" (id, name, balance, email, password, status, v, data) SELECT g, 'n' || g, g * 10, 'e' || g || '@example.com', 'pw' || g, 'active', g, 'd' FROM generate_series(1, 3) g")
	}
	return append(s,
		"CREATE SEQUENCE s",
		"CREATE MATERIALIZED VIEW mv AS SELECT id FROM users",
		"CREATE SCHEMA myschema", "CREATE SCHEMA admin", "CREATE SCHEMA audit",
		"CREATE FUNCTION do_evil() RETURNS int LANGUAGE sql VOLATILE AS 'DELETE FROM users RETURNING 1'",
		"CREATE FUNCTION myschema.do_evil() RETURNS int LANGUAGE sql VOLATILE AS 'DELETE FROM users RETURNING 1'",
		"CREATE FUNCTION evil_method(users) RETURNS int LANGUAGE sql VOLATILE AS 'DELETE FROM accounts RETURNING 1'",
		"CREATE FUNCTION audit.touch() RETURNS int LANGUAGE sql VOLATILE AS 'INSERT INTO audit_log (id) VALUES (99) RETURNING 1'",
		`CREATE FUNCTION "Lower"(text) RETURNS text LANGUAGE sql VOLATILE AS 'DELETE FROM users; SELECT $1'`,
		"CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE sql VOLATILE AS 'DELETE FROM secrets; SELECT $1'",
		"CREATE PROCEDURE p() LANGUAGE sql AS 'DELETE FROM users'",
		"CREATE PROCEDURE admin.rotate_keys(int) LANGUAGE sql AS 'UPDATE secrets SET password = NULL'",
	)
}()

func wallFingerprint(t *testing.T, c *pgx.Conn) string {
	t.Helper()
	var fp string
	err := c.QueryRow(context.Background(), `
SELECT concat_ws(' | ',
  (SELECT string_agg(format('%s=%s', c.relname, (xpath('/row/c/text()', query_to_xml(format('SELECT md5(coalesce(string_agg(t::text, '','' ORDER BY t::text), '''')) AS c FROM %I.%I t', n.nspname, c.relname), false, true, '')))[1]::text), ',' ORDER BY c.relname)
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'),
  (SELECT 'seq=' || last_value || is_called FROM s),
  (SELECT 'lo=' || count(*) FROM pg_largeobject_metadata),
  (SELECT 'proc=' || count(*) FROM pg_proc),
  (SELECT 'class=' || count(*) FROM pg_class),
  (SELECT 'roles=' || count(*) FROM pg_roles WHERE rolname NOT LIKE 'warden\_%'),
  (SELECT 'ns=' || count(*) FROM pg_namespace))`).Scan(&fp)
	if err != nil {
		t.Fatalf("fingerprint: %v", err)
	}
	return fp
}
