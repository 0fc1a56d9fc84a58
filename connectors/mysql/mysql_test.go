package mysql_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/connectortest"
	"github.com/wardenhq/warden/connectors/mysql"
	"github.com/wardenhq/warden/internal/testenv"
	"github.com/wardenhq/warden/policy"
)

// connection is the configuration of a connector to database db of the
// test server, authenticating with the admin password file.
func connection(m testenv.MySQLServer, db string) config.Connection {
	return config.Connection{
		Name:                "t",
		Kind:                config.KindMySQL,
		Address:             m.Addr,
		Database:            db,
		SSLMode:             "disable",
		Admin:               config.Admin{User: m.User, SecretRef: config.SecretRef{File: m.PasswordFile}},
		ReservedConnections: 2,
		JIT:                 config.JIT{ConnectionLimit: 4},
	}
}

// open opens a connector and closes it when the test ends.
func open(t *testing.T, cfg config.Connection, logger *slog.Logger) *mysql.MySQL {
	t.Helper()
	c, err := mysql.Open(t.Context(), cfg, logger)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*mysql.MySQL)
}

// sideRows reads a table through an admin connection of the test's own,
// not the connector.
func sideRows(side *sql.DB) func(t testing.TB, table string) ([]string, bool) {
	return func(t testing.TB, table string) ([]string, bool) {
		t.Helper()
		ctx := context.Background()
		var n int
		if err := side.QueryRowContext(ctx, "SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", table).Scan(&n); err != nil {
			t.Fatalf("side channel: %v", err)
		}
		if n == 0 {
			return nil, false
		}
		rs, err := side.QueryContext(ctx, "SELECT * FROM `"+table+"` ORDER BY 1")
		if err != nil {
			t.Fatalf("side channel: %v", err)
		}
		defer rs.Close()
		cols, _ := rs.Columns()
		out := []string{}
		for rs.Next() {
			vals := make([]sql.RawBytes, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				t.Fatalf("side channel: %v", err)
			}
			var b strings.Builder
			for _, v := range vals {
				fmt.Fprintf(&b, "%q ", v)
			}
			out = append(out, b.String())
		}
		if err := rs.Err(); err != nil {
			t.Fatalf("side channel: %v", err)
		}
		return out, true
	}
}

// env is a fresh database with the contract fixture and a connector to it.
type env struct {
	srv  testenv.MySQLServer
	db   string
	side *sql.DB
	conn *mysql.MySQL
	cfg  config.Connection
}

// fixture creates a fresh database with the contract fixture plus extra
// setup, and opens a connector to it configured by tweak.
func fixture(t *testing.T, tweak func(*config.Connection), extra ...string) env {
	t.Helper()
	m := testenv.MySQL(t)
	db := m.CreateDatabase(t, append(connectortest.SetupSQL("double"), extra...)...)
	cfg := connection(m, db)
	if tweak != nil {
		tweak(&cfg)
	}
	return env{srv: m, db: db, side: m.Connect(t, db), conn: open(t, cfg, slog.New(slog.DiscardHandler)), cfg: cfg}
}

func (e env) fixture() connectortest.Fixture {
	return connectortest.Fixture{Conn: e.conn, Rows: sideRows(e.side)}
}

func TestContract(t *testing.T) {
	connectortest.RunSQL(t, connectortest.Harness{
		Open:        func(t *testing.T) connectortest.Fixture { return fixture(t, nil).fixture() },
		BigSQL:      "SELECT seq, CONCAT('row ', seq) AS label FROM seq_1_to_1000000",
		SlowSQL:     "SELECT SLEEP(2)",
		SlowTimeout: 200 * time.Millisecond,
	})
}

func TestTypes(t *testing.T) {
	e := fixture(t, nil, "CREATE TABLE typed (b BIT(3), j JSON, e ENUM('sad','happy'), bin VARBINARY(4), txt VARBINARY(8), u BIGINT UNSIGNED, f FLOAT, d DECIMAL(40,9))",
		"INSERT INTO typed VALUES (b'101', '{\"a\": [1, 2]}', 'happy', 0x0102ff00, 'plain', 18446744073709551615, 0.1, 123456789012345678901234567890.123456789)")
	type col struct {
		expr, typ string
		want      any
	}
	cols := []col{
		{"1", "int", int64(1)},
		{"CAST(-2 AS SIGNED)", "int", int64(-2)},
		{"9223372036854775807", "bigint", int64(math.MaxInt64)},
		{"u", "bigint unsigned", json.Number("18446744073709551615")},
		{"f", "float", 0.1},
		{"CAST(2.25 AS DOUBLE)", "double", 2.25},
		{"12.345", "decimal", json.Number("12.345")},
		{"d", "decimal", json.Number("123456789012345678901234567890.123456789")},
		{"b", "bit", int64(5)},
		{"e", "enum", "happy"},
		{"bin", "varbinary", "0x0102ff00"},
		{"txt", "varbinary", "plain"},
		{"'héllo'", "varchar", "héllo"},
		{"NULL", "null", nil},
		{"CAST(NULL AS SIGNED)", "int", nil},
		{"DATE '2024-01-02'", "date", "2024-01-02"},
		{"TIMESTAMP '2024-01-02 03:04:05'", "datetime", "2024-01-02 03:04:05"},
		// MariaDB's JSON is LONGTEXT with a check: text to the client.
		{"j", "text", `{"a": [1, 2]}`},
	}
	exprs := make([]string, len(cols))
	for i, c := range cols {
		exprs[i] = fmt.Sprintf("%s AS c%d", c.expr, i)
	}
	res := connectortest.MustRun(t, e.conn, connectortest.ReadOnly("SELECT "+strings.Join(exprs, ", ")+" FROM typed"))
	if len(res.Rows) != 1 || len(res.Columns) != len(cols) {
		t.Fatalf("got %d rows of %d columns", len(res.Rows), len(res.Columns))
	}
	for i, c := range cols {
		if got := res.Columns[i].Type; got != c.typ {
			t.Errorf("%s: type %q, want %q", c.expr, got, c.typ)
		}
		if got := res.Rows[0][i]; !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: value %#v (%T), want %#v (%T)", c.expr, got, got, c.want, c.want)
		}
	}
	if _, err := json.Marshal(res.Rows[0]); err != nil {
		t.Errorf("row does not encode as JSON: %v", err)
	}
}

// TestOneStatement: a string of several statements is refused by the
// server (the client's multi-statement flag is off), and nothing of it
// runs.
func TestOneStatement(t *testing.T) {
	e := fixture(t, nil)
	f := e.fixture()
	before, _ := f.Rows(t, "items")
	for _, readOnly := range []bool{true, false} {
		req := connectortest.ReadWrite("SELECT 1; DELETE FROM items")
		req.ReadOnly = readOnly
		_, err := connectortest.Run(t.Context(), e.conn, req)
		var te *connectors.TargetError
		if !errors.As(err, &te) || !strings.Contains(te.Message, "error 1064") {
			t.Fatalf("read-only %v: err = %v, want the server's syntax error", readOnly, err)
		}
		if after, _ := f.Rows(t, "items"); !reflect.DeepEqual(after, before) {
			t.Fatalf("read-only %v: items changed: %q", readOnly, after)
		}
	}
}

// TestDDLInReadOnly: a statement that implicitly commits ends START
// TRANSACTION READ ONLY; the session's access mode refuses it all the same.
func TestDDLInReadOnly(t *testing.T) {
	e := fixture(t, nil)
	for _, sql := range []string{
		"CREATE TABLE made (x int)",
		"CREATE TEMPORARY TABLE made (x int)",
		"CREATE DATABASE warden_made",
		"RENAME TABLE items TO made",
		"TRUNCATE TABLE items",
		"CREATE USER warden_made",
	} {
		_, err := connectortest.Run(t.Context(), e.conn, connectortest.ReadOnly(sql))
		if !errors.Is(err, connectors.ErrReadOnly) {
			t.Errorf("%q read-only: err = %v, want ErrReadOnly", sql, err)
		}
	}
	var n int
	if err := e.side.QueryRow("SELECT (SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'warden_made') + (SELECT count(*) FROM mysql.user WHERE User = 'warden_made') + (SELECT count(*) FROM information_schema.TABLES WHERE TABLE_NAME = 'made')").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d objects were made in read-only calls", n)
	}
	connectortest.AssertItemsCount(t, e.conn, 3)
}

// TestSessionStateDoesNotLeak: a statement that changes its session (a
// variable, sql_mode, a user variable) leaves a connection that is never
// reused.
func TestSessionStateDoesNotLeak(t *testing.T) {
	e := fixture(t, nil)
	for _, set := range []string{"SET SESSION sql_mode = 'ANSI_QUOTES'", "SET @x = 42", "SET NAMES latin1"} {
		connectortest.MustRun(t, e.conn, connectortest.ReadOnly(set))
		for range 8 {
			res := connectortest.MustRun(t, e.conn, connectortest.ReadOnly("SELECT @@sql_mode, @x, @@character_set_client"))
			if got := res.Rows[0]; got[0] != mysql.SQLMode || got[1] != nil || got[2] != "utf8mb4" {
				t.Fatalf("after %q, a later call's session has %#v", set, got)
			}
		}
	}
}

// TestWriteTag: a statement without a result set reports what it changed.
func TestWriteTag(t *testing.T) {
	e := fixture(t, nil)
	for _, tc := range []struct{ sql, tag string }{
		{"UPDATE items SET note = 'x' WHERE id < 3", "UPDATE 2"},
		{"INSERT INTO items (id, name) VALUES (7, 'fig'), (8, 'kiwi')", "INSERT 2"},
		{"DELETE FROM items WHERE id > 6", "DELETE 2"},
		{"CREATE TABLE other (x int)", "CREATE TABLE"},
	} {
		res := connectortest.MustRun(t, e.conn, connectortest.ReadWrite(tc.sql))
		if res.Tag != tc.tag || len(res.Columns) != 0 {
			t.Errorf("%q: tag %q, %d columns; want %q", tc.sql, res.Tag, len(res.Columns), tc.tag)
		}
	}
}

// TestLoadDataRefused: the classifier refuses LOAD DATA whatever a rule
// says, and the driver would not send a file of Warden's host if a
// statement got through: the server's request is answered with an error.
func TestLoadDataRefused(t *testing.T) {
	e := fixture(t, nil)
	for _, sql := range []string{
		"LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE items",
		"LOAD DATA INFILE '/etc/passwd' INTO TABLE items",
	} {
		_, err := e.conn.Classifier().Classify(t.Context(), policy.ClassifyRequest{Statement: sql})
		if !errors.Is(err, policy.ErrNotUnderstood) || !strings.Contains(err.Error(), "LOAD DATA") {
			t.Errorf("%q: classifier err = %v, want a refusal naming LOAD DATA", sql, err)
		}
	}
	e.side.Exec("CREATE TABLE lines (line text)")
	_, err := connectortest.Run(t.Context(), e.conn, connectortest.ReadWrite("LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE lines"))
	if err == nil {
		t.Fatal("LOAD DATA LOCAL ran")
	}
	var n int
	e.side.QueryRow("SELECT count(*) FROM lines").Scan(&n)
	if n != 0 {
		t.Fatalf("LOAD DATA LOCAL read %d lines of Warden's /etc/passwd", n)
	}
}

// TestTimeoutKinds: a statement past its limit fails with
// ErrTimeout, whatever kind it is, and the next call is fine.
func TestTimeoutKinds(t *testing.T) {
	e := fixture(t, nil)
	for _, tc := range []struct {
		sql      string
		readOnly bool
	}{
		{"SELECT count(*) FROM seq_1_to_100000 a, seq_1_to_100000 b WHERE a.seq * b.seq = 7", true},
		{"UPDATE items SET note = SLEEP(2) WHERE id = 1", false},
	} {
		req := connectors.QueryRequest{SQL: tc.sql, ReadOnly: tc.readOnly, Timeout: 200 * time.Millisecond}
		if _, err := connectortest.Run(t.Context(), e.conn, req); !errors.Is(err, connectors.ErrTimeout) {
			t.Errorf("%q: err = %v, want ErrTimeout", tc.sql, err)
		}
		connectortest.AssertItemsCount(t, e.conn, 3)
	}
}

// TestSecretsNeverShown: a wrong password fails with the server's
// refusal, and neither the error nor the driver's log holds it.
func TestSecretsNeverShown(t *testing.T) {
	m := testenv.MySQL(t)
	const secret = "not-the-password-0123456789"
	t.Setenv("WARDEN_TEST_WRONG_PW", secret)
	cfg := connection(m, "mysql")
	cfg.Admin.SecretRef = config.SecretRef{Env: "WARDEN_TEST_WRONG_PW"}
	var logs bytes.Buffer
	c := open(t, cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	err := c.Ping(t.Context())
	var te *connectors.TargetError
	if !errors.As(err, &te) || !strings.Contains(te.Message, "error 1045") {
		t.Fatalf("Ping with a wrong password: %v, want access denied", err)
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
		t.Fatalf("the password appears in the error or the log: %v\n%s", err, logs.String())
	}
}
