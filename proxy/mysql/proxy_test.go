package mysql_test

import (
	"context"
	"database/sql"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

var itemsSetup = []string{
	"CREATE TABLE items (id int PRIMARY KEY, name varchar(40), price decimal(8,2), qty bigint unsigned, ratio double, made datetime, day date, data blob, doc json)",
	"INSERT INTO items VALUES (1, 'one', 1.50, 18446744073709551615, 0.25, '2024-01-02 03:04:05', '2024-01-02', x'00ff', '{\"a\": 1}'), (2, 'two', 2.25, 7, -1.5, NULL, NULL, NULL, NULL)",
}

// TestDriverTextAndBinary reads every kind of column through the proxy in
// the text protocol (a query) and the binary protocol (a server-side
// prepared statement: interpolateParams=false), and the two agree.
func TestDriverTextAndBinary(t *testing.T) {
	h := newHarness(t, harnessOptions{setup: itemsSetup})
	db := h.open("alice")
	ctx := context.Background()
	type row struct {
		id          int
		name, price string
		qty         uint64
		ratio       float64
		made, day   sql.NullString
		data        []byte
		doc         sql.NullString
	}
	read := func(q string, args ...any) []row {
		t.Helper()
		rs, err := db.QueryContext(ctx, q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rs.Close()
		var out []row
		for rs.Next() {
			var r row
			if err := rs.Scan(&r.id, &r.name, &r.price, &r.qty, &r.ratio, &r.made, &r.day, &r.data, &r.doc); err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		if err := rs.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	text := read("SELECT * FROM items ORDER BY id")
	binary := read("SELECT * FROM items WHERE id >= ? ORDER BY id", 0)
	if len(text) != 2 || len(binary) != 2 {
		t.Fatalf("rows: text %d, binary %d", len(text), len(binary))
	}
	for i := range text {
		a, b := text[i], binary[i]
		if a.id != b.id || a.name != b.name || a.price != b.price || a.qty != b.qty || a.ratio != b.ratio ||
			a.made != b.made || a.day != b.day || string(a.data) != string(b.data) || a.doc != b.doc {
			t.Errorf("row %d differs:\ntext   %+v\nbinary %+v", i, a, b)
		}
	}
	if r := text[0]; r.qty != 18446744073709551615 || r.made.String != "2024-01-02 03:04:05" || string(r.data) != "\x00\xff" || r.price != "1.50" {
		t.Errorf("row 1 = %+v", r)
	}
	// A prepared statement used several times, with a string parameter
	// that needs escaping.
	st, err := db.PrepareContext(ctx, "SELECT name FROM items WHERE name = ? OR id = ?")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, c := range []struct {
		name string
		id   int
		want string
	}{{"two", 0, "two"}, {"x' OR '1'='1", 1, "one"}, {`\' OR 1=1 -- `, 2, "two"}} {
		var got string
		if err := st.QueryRowContext(ctx, c.name, c.id).Scan(&got); err != nil || got != c.want {
			t.Errorf("prepared(%q, %d) = %q, %v; want %q", c.name, c.id, got, err, c.want)
		}
	}
}

// mysqlErr returns err's server error number.
func mysqlErr(t *testing.T, err error) *mysql.MySQLError {
	t.Helper()
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		t.Fatalf("want a MySQL error, got %v", err)
	}
	return me
}

// TestRefusalsKeepTheConnection: every refusal is a MySQL error the
// client shows, and the same connection goes on working after it.
func TestRefusalsKeepTheConnection(t *testing.T) {
	h := newHarness(t, harnessOptions{setup: itemsSetup})
	db := h.open("alice")
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var id1 int
	conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id1)
	cases := []struct {
		sql  string
		num  uint16
		want string
	}{
		{"DELETE FROM items", 1142, "refused by policy"},
		{"SELECT 1; SELECT 2", 1235, "one statement per query"},
		{"USE mysql", 1044, "qualify table names"},
		{"SET @x = (SELECT name FROM items LIMIT 1)", 1227, "session state"},
		{"SET SESSION tx_read_only = 0", 1227, "session state"},
		{"SET sql_mode = 'NO_BACKSLASH_ESCAPES'", 1227, "session state"},
		{"START TRANSACTION", 1235, "autocommit"},
		{"SET TRANSACTION READ WRITE", 1235, "transaction control"},
		{"LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE items", 1142, "LOAD DATA"},
		{"SELEC oops", 1064, ""},
		{"PREPARE s FROM 'SELECT 1'", 1235, "prepared statements"},
		{"CALL p()", 1235, "CALL"},
		{"KILL QUERY 999999", 1094, "Unknown thread id"},
	}
	for _, c := range cases {
		_, err := conn.ExecContext(ctx, c.sql)
		if err == nil {
			t.Errorf("%s: ran", c.sql)
			continue
		}
		me := mysqlErr(t, err)
		if me.Number != c.num || !strings.Contains(me.Message, c.want) {
			t.Errorf("%s: error %d %q; want %d containing %q", c.sql, me.Number, me.Message, c.num, c.want)
		}
		var n int
		if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM items").Scan(&n); err != nil || n != 2 {
			t.Fatalf("after %q the connection no longer works: %d, %v", c.sql, n, err)
		}
	}
	var id2 int
	conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id2)
	if id1 == 0 || id1 != id2 {
		t.Errorf("the upstream session changed: %d then %d", id1, id2)
	}
	// Accepted locally: the connection's own database, COMMIT, SET NAMES.
	for _, q := range []string{"USE " + h.db, "COMMIT", "ROLLBACK", "SET NAMES utf8mb4"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	// A transaction through the driver is refused, clearly.
	conn.Close()
	if _, err := db.BeginTx(ctx, nil); err == nil {
		t.Error("BEGIN through the proxy")
	}
	// Every refusal is in the audit trail.
	denied := 0
	for _, ev := range h.events() {
		if ev.Status == "denied" || ev.Status == "invalid" {
			denied++
		}
	}
	if denied < len(cases) {
		t.Errorf("%d refusals recorded, want %d at least", denied, len(cases))
	}
}

// TestMariaDBClient drives the mariadb command-line client through the
// proxy: queries, a refusal with --force, and its error text.
func TestMariaDBClient(t *testing.T) {
	bin, err := exec.LookPath("mariadb")
	if err != nil {
		t.Skip("no mariadb client: apt-get install mariadb-client")
	}
	h := newHarness(t, harnessOptions{setup: itemsSetup})
	i := h.login("alice")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--no-defaults", "-h", i.Host, "-P", i.Port, "--skip-ssl", "-u", i.Login, "-p"+i.Password, h.db,
		"--batch", "--force")
	// From standard input the client sends each statement on its own (with
	// -e it sends the text whole, which the proxy refuses as several).
	cmd.Stdin = strings.NewReader("SELECT name FROM items ORDER BY id;\nDELETE FROM items;\nSELECT count(*) AS n FROM items;\n")
	out, err := cmd.CombinedOutput()
	got := string(out)
	if !strings.Contains(got, "name\none\ntwo\n") || !strings.Contains(got, "n\n2\n") {
		t.Errorf("mariadb output:\n%s", got)
		for _, ev := range h.events() {
			t.Logf("%s %s %s", ev.Tool, ev.Status, ev.Arguments)
		}
	}
	if !strings.Contains(got, "ERROR 1142") || !strings.Contains(got, "refused by policy") {
		t.Errorf("the refusal is not shown:\n%s", got)
	}
	_ = err // with --force the client exits 0 after an error
	// A wrong token is refused with MySQL's access-denied error.
	cmd = exec.CommandContext(ctx, bin, "--no-defaults", "-h", i.Host, "-P", i.Port, "--skip-ssl", "-u", i.Login, "-pwrong", h.db, "-e", "SELECT 1")
	out, _ = cmd.CombinedOutput()
	if !strings.Contains(string(out), "ERROR 1045") {
		t.Errorf("a wrong token:\n%s", out)
	}
}

// TestLoginDeniedByPolicy: an identity no rule admits to the connection
// cannot log in, and is told why.
func TestLoginDeniedByPolicy(t *testing.T) {
	h := newHarness(t, harnessOptions{setup: itemsSetup})
	err := h.open("bob").Ping()
	me := mysqlErr(t, err)
	if me.Number != 1044 || !strings.Contains(me.Message, "refused by policy") {
		t.Fatalf("bob's login: %d %q", me.Number, me.Message)
	}
}
