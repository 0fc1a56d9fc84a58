package testenv

import (
	"context"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// BypassFixture creates every table, sequence, view and function the SQL
// classifier's read-only bypass corpus names, with rows, so that its
// statements reach execution instead of failing on a missing object. The
// functions are VOLATILE and write, as an attacker's would.
var BypassFixture = func() []string {
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

// BypassCorpus reads policy/sqlclass/testdata/bypass.txt, the read-only
// bypass corpus every wall is tested against.
func BypassCorpus(t testing.TB) []CorpusCase {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	return LoadCorpus(t, filepath.Join(filepath.Dir(here), "..", "..", "policy", "sqlclass", "testdata", "bypass.txt"))
}

// externalEffects name what corpus cases reach outside the database with:
// programs, other backends, server files, the WAL, other servers.
var externalEffects = []string{"program", "terminate", "cancel_backend", "promote", "switch_wal", "reload_conf",
	"rotate_logfile", "replication_slot", "lo_export", "pg_file_write", "dblink", "pg_sleep", "lo_import"}

// ExternalEffect reports whether a corpus case reaches outside the
// database. A read-only transaction does not stop such a case (the
// classifier does, and a just-in-time role without superuser rights), so
// the tests of the transaction alone do not run it.
func ExternalEffect(sql string) bool {
	low := strings.ToLower(sql)
	for _, x := range externalEffects {
		if strings.Contains(low, x) {
			return true
		}
	}
	return false
}

// Fingerprint summarises everything a write could change in the current
// database: every user table's rows, the sequence s, large objects,
// functions, relations, non-Warden roles and schemas.
func Fingerprint(t testing.TB, c *pgx.Conn) string {
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
