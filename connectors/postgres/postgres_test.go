package postgres_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/connectortest"
	"github.com/wardenhq/warden/connectors/postgres"
	"github.com/wardenhq/warden/internal/testenv"
)

// connection is the configuration of a connector to database db of the
// test server, authenticating with the admin password file.
func connection(p testenv.Postgres, db string) config.Connection {
	return config.Connection{
		Name:     "t",
		Kind:     config.KindPostgres,
		Address:  p.Addr,
		Database: db,
		SSLMode:  "disable",
		Admin:    config.Admin{User: p.User, SecretRef: config.SecretRef{File: p.PasswordFile}},
	}
}

// open opens a connector and closes it when the test ends.
func open(t *testing.T, cfg config.Connection, logger *slog.Logger) connectors.SQL {
	t.Helper()
	c, err := postgres.Open(t.Context(), cfg, logger)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(connectors.SQL)
}

// sideRows reads a table through the admin connection side, not the connector.
func sideRows(side *pgx.Conn) func(t testing.TB, table string) ([]string, bool) {
	return func(t testing.TB, table string) ([]string, bool) {
		t.Helper()
		ctx := context.Background()
		var exists bool
		if err := side.QueryRow(ctx, "SELECT to_regclass($1::text) IS NOT NULL", table).Scan(&exists); err != nil {
			t.Fatalf("side channel: %v", err)
		}
		if !exists {
			return nil, false
		}
		rows, err := side.Query(ctx, "SELECT * FROM "+pgx.Identifier{table}.Sanitize()+" ORDER BY 1")
		if err != nil {
			t.Fatalf("side channel: %v", err)
		}
		defer rows.Close()
		out := []string{}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatalf("side channel: %v", err)
			}
			out = append(out, fmt.Sprint(vals...))
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("side channel: %v", err)
		}
		return out, true
	}
}

// fixture creates a fresh database with the contract fixture plus extra
// setup, and opens a connector to it configured by tweak.
func fixture(t *testing.T, tweak func(*config.Connection), extra ...string) (connectortest.Fixture, testenv.Postgres) {
	t.Helper()
	p := testenv.PG(t)
	db := p.CreateDatabase(t, append(connectortest.SetupSQL("numeric"), extra...)...)
	side := p.Connect(t, db)
	cfg := connection(p, db)
	if tweak != nil {
		tweak(&cfg)
	}
	return connectortest.Fixture{Conn: open(t, cfg, slog.New(slog.DiscardHandler)), Rows: sideRows(side)}, p
}

func TestContract(t *testing.T) {
	connectortest.RunSQL(t, connectortest.Harness{
		Open: func(t *testing.T) connectortest.Fixture {
			f, _ := fixture(t, nil)
			return f
		},
		BigSQL:      "SELECT g, 'row ' || g AS label FROM generate_series(1, 1000000) g",
		SlowSQL:     "SELECT pg_sleep(2)",
		SlowTimeout: 200 * time.Millisecond,
	})
}

func TestTypes(t *testing.T) {
	f, _ := fixture(t, nil, "CREATE TYPE mood AS ENUM ('sad', 'happy')")
	type col struct {
		expr, typ string
		want      any
	}
	cols := []col{
		{"true", "boolean", true},
		{"false", "boolean", false},
		{"1::int2", "smallint", int64(1)},
		{"-2::int4", "integer", int64(-2)},
		{"9223372036854775807::int8", "bigint", int64(math.MaxInt64)},
		{"1.5::float4", "real", 1.5},
		{"2.25::float8", "double precision", 2.25},
		{"'NaN'::float8", "double precision", "NaN"},
		{"'Infinity'::float8", "double precision", "Infinity"},
		{"'-Infinity'::float4", "real", "-Infinity"},
		{"12.345::numeric", "numeric", json.Number("12.345")},
		{"123456789012345678901234567890.123456789::numeric", "numeric", json.Number("123456789012345678901234567890.123456789")},
		{"'NaN'::numeric", "numeric", "NaN"},
		{`'{"a": [1, 2]}'::json`, "json", json.RawMessage(`{"a": [1, 2]}`)},
		{`'{"b":2,"a":1}'::jsonb`, "jsonb", json.RawMessage(`{"a": 1, "b": 2}`)},
		{"'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid", "uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
		{`'\x0102ff'::bytea`, "bytea", `\x0102ff`},
		{"ARRAY[1, 2, 3]", "integer[]", "{1,2,3}"},
		{"ARRAY['a', 'b c']", "text[]", `{a,"b c"}`},
		{"NULL::text", "text", nil},
		{"NULL::int4", "integer", nil},
		{"NULL::jsonb", "jsonb", nil},
		{"'héllo'::text", "text", "héllo"},
		{"'happy'::mood", "mood", "happy"},
		{"ARRAY['sad', 'happy']::mood[]", "mood[]", "{sad,happy}"},
	}
	exprs := make([]string, len(cols))
	for i, c := range cols {
		exprs[i] = fmt.Sprintf("%s AS c%d", c.expr, i)
	}
	exprs = append(exprs, "'2024-01-02 03:04:05+00'::timestamptz AS ts")
	res := connectortest.MustRun(t, f.Conn, connectortest.ReadOnly("SELECT "+strings.Join(exprs, ", ")))
	if len(res.Rows) != 1 || len(res.Columns) != len(cols)+1 {
		t.Fatalf("got %d rows of %d columns", len(res.Rows), len(res.Columns))
	}
	row := res.Rows[0]
	for i, c := range cols {
		if got := res.Columns[i].Type; got != c.typ {
			t.Errorf("%s: type %q, want %q", c.expr, got, c.typ)
		}
		if !reflect.DeepEqual(row[i], c.want) {
			t.Errorf("%s: value %#v (%T), want %#v (%T)", c.expr, row[i], row[i], c.want, c.want)
		}
	}
	// timestamptz is text in the session's time zone: check the instant.
	ts := len(cols)
	if got := res.Columns[ts].Type; got != "timestamp with time zone" {
		t.Errorf("timestamptz: type %q", got)
	}
	s, _ := row[ts].(string)
	var at time.Time
	var err error
	for _, layout := range []string{"2006-01-02 15:04:05-07", "2006-01-02 15:04:05-07:00"} {
		if at, err = time.Parse(layout, s); err == nil {
			break
		}
	}
	if want := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC); err != nil || !at.Equal(want) {
		t.Errorf("timestamptz: %#v parses to %v (%v), want %v", row[ts], at, err, want)
	}
	// Every value must survive JSON encoding, which is how results leave.
	if _, err := json.Marshal(row); err != nil {
		t.Errorf("row does not encode as JSON: %v", err)
	}
}

func TestMultiStatementRefused(t *testing.T) {
	f, _ := fixture(t, nil)
	before, _ := f.Rows(t, "items")
	for _, tc := range []struct {
		name, sql string
		readOnly  bool
	}{
		{"two selects", "SELECT 1; SELECT 2", true},
		{"select then delete, read-write", "SELECT 1; DELETE FROM items", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := connectortest.ReadWrite(tc.sql)
			req.ReadOnly = tc.readOnly
			_, err := connectortest.Run(t.Context(), f.Conn, req)
			var te *connectors.TargetError
			if !errors.As(err, &te) {
				t.Fatalf("err = %v, want the server's refusal as a TargetError", err)
			}
			if after, _ := f.Rows(t, "items"); !reflect.DeepEqual(after, before) {
				t.Errorf("items changed: %q -> %q", before, after)
			}
		})
	}
}

// TestReadOnlyTricks tries to escape a read-only decision from inside the
// transaction or across calls. The connector has one connection, so every
// call of a case runs in the same session.
func TestReadOnlyTricks(t *testing.T) {
	f, _ := fixture(t, func(c *config.Connection) { c.MaxConnections = 1 })
	before, _ := f.Rows(t, "items")
	const insert = "INSERT INTO items (id, name) VALUES (4, 'durian')"
	for _, tc := range []struct {
		name string
		// Calls run in order, each a read-only request; only the last
		// must fail, with ErrReadOnly when lastReadOnly is set.
		calls        []string
		lastReadOnly bool
	}{
		// Alone in its call, it can do nothing: the next statement is
		// the ROLLBACK that ends the transaction.
		{"set transaction read write", []string{"SET TRANSACTION READ WRITE"}, false},
		{"set transaction read write, then insert", []string{"SET TRANSACTION READ WRITE", insert}, true},
		{"set_config transaction_read_only", []string{"SELECT set_config('transaction_read_only', 'off', true)"}, false},
		{"data-modifying CTE", []string{"WITH d AS (DELETE FROM items RETURNING *) SELECT * FROM d"}, true},
		{"set_config default_transaction_read_only, then insert", []string{"SELECT set_config('default_transaction_read_only', 'off', false)", insert}, true},
		{"session characteristics, then insert", []string{"SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", insert}, true},
		{"commit, then insert", []string{"COMMIT", insert}, true},
		{"begin read write, then insert", []string{"BEGIN READ WRITE", insert}, true},
		{"commit and chain, then insert", []string{"COMMIT AND CHAIN", insert}, true},
		{"DO block", []string{"DO $$BEGIN DELETE FROM items; END$$"}, true},
		{"EXPLAIN ANALYZE", []string{"EXPLAIN ANALYZE DELETE FROM items"}, true},
		// The prepared statement does not even outlive its call.
		{"prepare, then execute", []string{"PREPARE warden_p AS DELETE FROM items", "EXECUTE warden_p"}, false},
		{"COPY FROM STDIN", []string{"COPY items FROM STDIN"}, true},
		{"create temp table", []string{"CREATE TEMP TABLE items (id integer)"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			for _, sql := range tc.calls {
				_, err = connectortest.Run(t.Context(), f.Conn, connectortest.ReadOnly(sql))
			}
			last := tc.calls[len(tc.calls)-1]
			switch {
			case tc.lastReadOnly && !errors.Is(err, connectors.ErrReadOnly):
				t.Errorf("%q: err = %v, want ErrReadOnly", last, err)
			case err == nil && last != "SET TRANSACTION READ WRITE":
				t.Errorf("%q: no error", last)
			}
			if after, ok := f.Rows(t, "items"); !ok || !reflect.DeepEqual(after, before) {
				t.Errorf("items changed: %q -> %q", before, after)
			}
			// The session is still read-only for the next decision.
			if _, err := connectortest.Run(t.Context(), f.Conn, connectortest.ReadOnly(insert)); !errors.Is(err, connectors.ErrReadOnly) {
				t.Errorf("a later read-only INSERT: err = %v, want ErrReadOnly", err)
			}
		})
	}
	connectortest.AssertItemsCount(t, f.Conn, 3)
}

// TestReadWriteEarlyCloseCommits: a read-write statement whose result is
// closed early still commits what it wrote (here through a function called
// once per row), and Close says so truthfully.
func TestReadWriteEarlyCloseCommits(t *testing.T) {
	f, _ := fixture(t, nil,
		"CREATE TABLE log (n integer)",
		"CREATE FUNCTION note_row(i integer) RETURNS integer LANGUAGE sql VOLATILE AS 'INSERT INTO log VALUES (i) RETURNING n'")
	rs, err := f.Conn.Query(t.Context(), connectortest.ReadWrite("SELECT note_row(g) FROM generate_series(1, 100000) g"))
	if err != nil {
		t.Fatal(err)
	}
	if !rs.Next() {
		t.Fatalf("no first row: %v", rs.Err())
	}
	closeErr := rs.Close()
	rows, _ := f.Rows(t, "log")
	switch {
	case closeErr == nil && len(rows) != 100000:
		t.Errorf("Close reported success but %d of 100000 rows were written", len(rows))
	case closeErr != nil && len(rows) != 0:
		t.Errorf("Close reported %v but %d rows were written", closeErr, len(rows))
	case closeErr != nil:
		t.Errorf("early Close of a read-write statement: %v", closeErr)
	}
}

// TestCopyFromStdinDoesNotHang: the server waits for COPY data that never
// comes, and statement_timeout does not fire while it waits; the call must
// end by itself all the same, and leave the connector usable.
func TestCopyFromStdinDoesNotHang(t *testing.T) {
	f, _ := fixture(t, nil)
	// Only stops a hang; the connector must not need it.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	req := connectors.QueryRequest{SQL: "COPY items FROM STDIN", Timeout: 200 * time.Millisecond}
	if _, err := connectortest.Run(ctx, f.Conn, req); err == nil || ctx.Err() != nil {
		t.Errorf("err = %v (context: %v), want an error before the context ends", err, ctx.Err())
	}
	connectortest.AssertItemsCount(t, f.Conn, 3)
}

func assertNoSecret(t *testing.T, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("%s contains a password: %q", what, text)
		}
	}
}

func TestUnavailable(t *testing.T) {
	p := testenv.PG(t)
	var logs bytes.Buffer
	cfg := connection(p, "postgres")
	cfg.Address = "127.0.0.1:1"
	// Open must not connect: Warden starts while a target is down.
	c := open(t, cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	// Generous: a refused connection fails at once; this only stops a hang.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	errs := map[string]error{"Ping": c.Ping(ctx)}
	_, errs["Query"] = c.Query(ctx, connectortest.ReadOnly("SELECT 1"))
	_, errs["Describe"] = c.Describe(ctx, connectors.DescribeRequest{})
	for op, err := range errs {
		if !errors.Is(err, connectors.ErrUnavailable) {
			t.Errorf("%s: err = %v, want ErrUnavailable", op, err)
		}
		if err != nil {
			assertNoSecret(t, op+" error", err.Error(), p.Password)
		}
	}
	assertNoSecret(t, "log", logs.String(), p.Password)
}

func TestWrongPassword(t *testing.T) {
	p := testenv.PG(t)
	wrong := "not-the-password-" + fmt.Sprint(time.Now().UnixNano())
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte(wrong+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cfg := connection(p, "postgres")
	cfg.Admin.SecretRef = config.SecretRef{File: file}
	c := open(t, cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	errs := map[string]error{"Ping": c.Ping(ctx)}
	_, errs["Query"] = c.Query(ctx, connectortest.ReadOnly("SELECT 1"))
	for op, err := range errs {
		if err == nil {
			t.Errorf("%s with a wrong password succeeded", op)
			continue
		}
		assertNoSecret(t, op+" error", err.Error(), wrong, p.Password)
	}
	assertNoSecret(t, "log", logs.String(), wrong, p.Password)
}

func TestMissingPasswordEnv(t *testing.T) {
	const name = "WARDEN_TEST_PG_MISSING_PASSWORD"
	t.Setenv(name, "") // restored after the test; empty counts as missing
	os.Unsetenv(name)
	cfg := config.Connection{
		Name: "t", Kind: config.KindPostgres, Address: "127.0.0.1:1", Database: "db", SSLMode: "disable",
		Admin: config.Admin{User: "u", SecretRef: config.SecretRef{Env: name}},
	}
	c, err := postgres.Open(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		c.Close()
		t.Fatal("Open succeeded without the password")
	}
	if !strings.Contains(err.Error(), name) || !errors.Is(err, config.ErrSecretMissing) {
		t.Errorf("err = %v, want ErrSecretMissing naming %s", err, name)
	}
}

// TestSessionDoesNotCarryOver: nothing one call leaves in its session (a
// search_path, a role, a prepared statement, an advisory lock, a temporary
// table) is seen by the next call on the same pooled connection.
func TestSessionDoesNotCarryOver(t *testing.T) {
	f, _ := fixture(t, func(c *config.Connection) { c.MaxConnections = 1 })
	ctx := t.Context()
	for _, sql := range []string{
		"SELECT set_config('search_path', 'nowhere', false)",
		"SELECT set_config('application_name', 'leaked', false)",
		"SELECT pg_advisory_lock(4242)",
		"PREPARE warden_left AS SELECT 1",
		"CREATE TEMP TABLE warden_tmp (id int)",
	} {
		if _, err := connectortest.Run(ctx, f.Conn, connectortest.ReadWrite(sql)); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if _, err := connectortest.Run(ctx, f.Conn, connectortest.ReadOnly("SELECT pg_advisory_lock_shared(4243)")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ sql, want string }{
		{"SELECT count(*) FROM items", "3"},
		// Warden pins the search path in every transaction it opens.
		{"SELECT current_setting('search_path')", "public"},
		{"SELECT current_setting('application_name')", "warden"},
		// Only Warden's own cached statements remain.
		{"SELECT count(*) FROM pg_prepared_statements WHERE name NOT LIKE 'warden\\_s%'", "0"},
		{"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()", "0"},
		{"SELECT count(*) FROM pg_class WHERE relname = 'warden_tmp'", "0"},
	} {
		rows, err := connectortest.Run(ctx, f.Conn, connectortest.ReadOnly(tc.sql))
		if err != nil {
			t.Fatalf("%s: %v", tc.sql, err)
		}
		if got := fmt.Sprint(rows.Rows[0][0]); got != tc.want {
			t.Errorf("%s = %s, want %s", tc.sql, got, tc.want)
		}
	}
}
