package postgres_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wardenhq/warden/connectors"
)

// bypassFixture creates every table, sequence, view and function the
// read-only bypass corpus names, with rows, so that its statements reach
// execution instead of failing on a missing object. The functions are
// VOLATILE and write, as an attacker's would.
var bypassFixture = func() []string {
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

// externalEffects are corpus cases that reach outside the database
// (programs, other backends, server files, the WAL, other servers). A
// read-only transaction does not stop them; the classifier does, and a
// just-in-time role without superuser rights does. They are not run here.
var externalEffects = []string{"program", "terminate", "cancel_backend", "promote", "switch_wal", "reload_conf",
	"rotate_logfile", "replication_slot", "lo_export", "pg_file_write", "dblink", "pg_sleep", "lo_import"}

// TestReadOnlyWallAlone runs the classifier's bypass corpus straight at
// PostgreSQL, with the classifier out of the way, as read-only requests,
// and proves that the read-only transaction on its own changes no data.
func TestReadOnlyWallAlone(t *testing.T) {
	corpus, err := os.ReadFile("../../policy/sqlclass/testdata/bypass.txt")
	if err != nil {
		t.Fatal(err)
	}
	f, p := fixture(t, nil, bypassFixture...)
	db := fixtureDatabase(t, f.Conn)
	side := p.Connect(t, db)
	before := fingerprint(t, side)
	ran, refused, skipped := 0, 0, 0
	for _, rec := range strings.Split(string(corpus), "\n=== ")[1:] {
		name, body, _ := strings.Cut(rec, "\n")
		i := strings.LastIndex(body, "\n--- ")
		if i < 0 {
			continue
		}
		sql := body[:i]
		if containsAny(strings.ToLower(sql), externalEffects) {
			skipped++
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		rows, err := f.Conn.Query(ctx, connectors.QueryRequest{SQL: sql, ReadOnly: true, Timeout: 2 * time.Second})
		if err == nil {
			for rows.Next() {
			}
			err = rows.Close()
		}
		cancel()
		if err == nil {
			ran++
		} else {
			refused++
		}
		if after := fingerprint(t, side); after != before {
			t.Fatalf("case %s changed the database with only the read-only wall:\n%s\nbefore: %s\nafter:  %s", name, sql, before, after)
		}
	}
	t.Logf("read-only wall alone: %d cases ran to completion without changing data, %d were refused by PostgreSQL, %d with external effects left to the classifier and the JIT role", ran, refused, skipped)
	if ran+refused < 100 {
		t.Errorf("only %d corpus cases were exercised", ran+refused)
	}
}

func containsAny(s string, subs []string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// fixtureDatabase recovers the database name from the connector's info.
func fixtureDatabase(t *testing.T, f interface{ Info() connectors.Info }) string {
	t.Helper()
	target := f.Info().Target
	return target[strings.LastIndex(target, "/")+1:]
}

// fingerprint summarises everything a write could change: every user
// table's rows, sequences, large objects, functions, roles, schemas.
func fingerprint(t *testing.T, c *pgx.Conn) string {
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
