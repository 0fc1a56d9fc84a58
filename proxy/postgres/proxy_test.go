package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/wardenhq/warden/internal/testenv"
)

var shopSetup = []string{
	"CREATE TABLE customers (id int PRIMARY KEY, name text, email text, card_number text, note text)",
	`INSERT INTO customers VALUES
	  (1, 'Ada', 'ada@example.com', '4111111111111111', 'vip'),
	  (2, 'Bob', 'bob@example.com', '5500005555555559', 'call bob@example.com back'),
	  (3, 'Cy', 'cy@example.com', '340000000000009', NULL)`,
	"CREATE TABLE orders (id int PRIMARY KEY, customer int, amount numeric)",
	"INSERT INTO orders SELECT g, 1 + g % 3, g * 1.5 FROM generate_series(1, 100) g",
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// TestPgxExtendedProtocol: pgx's default mode prepares each statement once
// (its statement cache) and then binds and executes it; named and unnamed
// statements, parameters, binary results, transactions.
func TestPgxExtendedProtocol(t *testing.T) {
	h := newHarness(t, harnessOptions{setup: shopSetup})
	ctx := context.Background()
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeCacheDescribe,
		pgx.QueryExecModeDescribeExec, pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol} {
		t.Run(mode.String(), func(t *testing.T) {
			c := h.connect("alice", mode)
			for i := 0; i < 3; i++ {
				var n int
				var total float64
				if err := c.QueryRow(ctx, "SELECT count(*), sum(amount)::float8 FROM orders WHERE customer = $1", 2).Scan(&n, &total); err != nil {
					t.Fatalf("query %d: %v", i, err)
				}
				if n != 34 {
					t.Fatalf("count = %d, want 34", n)
				}
			}
			rows, err := c.Query(ctx, "SELECT id, name FROM customers ORDER BY id")
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for rows.Next() {
				var id int
				var name string
				if err := rows.Scan(&id, &name); err != nil {
					t.Fatal(err)
				}
				names = append(names, name)
			}
			if rows.Err() != nil || strings.Join(names, ",") != "Ada,Bob,Cy" {
				t.Fatalf("names = %v, err %v", names, rows.Err())
			}
			// A transaction: reads in it see one snapshot; COMMIT ends it.
			tx, err := c.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var a, b int
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&a); err != nil {
				t.Fatal(err)
			}
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&b); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if a != 100 || b != 3 {
				t.Fatalf("counts %d %d", a, b)
			}
		})
	}
}

// TestDeniedThenGood: a refused statement gets SQLSTATE 42501 with the
// reason, and the same connection goes on working — in the simple and the
// extended protocol, inside and outside a transaction.
func TestDeniedThenGood(t *testing.T) {
	h := newHarness(t, harnessOptions{setup: shopSetup})
	ctx := context.Background()
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
		t.Run(mode.String(), func(t *testing.T) {
			c := h.connect("alice", mode)
			_, err := c.Exec(ctx, "DELETE FROM orders WHERE id = $1", 1)
			if pgCode(err) != "42501" || !strings.Contains(err.Error(), "write") {
				t.Fatalf("DELETE: got %v, want SQLSTATE 42501 naming the write", err)
			}
			var n int
			if err := c.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil || n != 100 {
				t.Fatalf("after a denial: %d, %v", n, err)
			}
			// In a transaction, a denial fails the transaction, as any error does.
			tx, err := c.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_, err = tx.Exec(ctx, "UPDATE orders SET amount = 0")
			if pgCode(err) != "42501" {
				t.Fatalf("UPDATE in a transaction: %v", err)
			}
			err = tx.QueryRow(ctx, "SELECT 1").Scan(&n)
			if pgCode(err) != "25P02" {
				t.Fatalf("after a denial in a transaction: %v, want 25P02", err)
			}
			tx.Rollback(ctx)
			if err := c.QueryRow(ctx, "SELECT count(*) FROM orders WHERE amount > 0").Scan(&n); err != nil || n != 100 {
				t.Fatalf("after the rolled-back transaction: %d, %v", n, err)
			}
		})
	}
}

// TestPsql: psql speaks the simple protocol; several statements in one
// string, a refusal in the middle, transaction blocks, \copy out.
func TestPsql(t *testing.T) {
	psql := pgTool(t, "psql")
	h := newHarness(t, harnessOptions{setup: shopSetup})
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, psql, append([]string{h.dsn("alice"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=0"}, args...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("-c", "SELECT name FROM customers ORDER BY id", "-c", "DELETE FROM customers", "-c", "SELECT count(*) FROM customers")
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	for _, want := range []string{"Ada\nBob\nCy", "ERROR:  refused by policy", "\n3\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("psql output lacks %q:\n%s", want, out)
		}
	}
	out, err = run("-c", "BEGIN; SELECT count(*) FROM orders; SELECT max(id) FROM orders; COMMIT;")
	if err != nil || !strings.Contains(out, "100\n100") {
		t.Fatalf("transaction block: %v\n%s", err, out)
	}
	out, _ = run("-c", "SELECT 1; DELETE FROM orders; SELECT 2")
	if !strings.Contains(out, "1\n") || strings.Contains(out, "\n2\n") || !strings.Contains(out, "42501") && !strings.Contains(out, "refused") {
		t.Fatalf("multi-statement query with a refusal in the middle: %s", out)
	}
	// COPY TO STDOUT is a utility statement for the classifier: refused
	// by this policy, cleanly.
	out, _ = run("-c", `\copy (SELECT id, name FROM customers ORDER BY id) TO STDOUT`, "-c", "SELECT 'still here'")
	if !strings.Contains(out, "COPY") || !strings.Contains(out, "still here") {
		t.Fatalf("\\copy out: %s", out)
	}
	// COMMIT inside a string cannot end the read-only transaction.
	out, _ = run("-c", "COMMIT; DELETE FROM orders")
	var n int
	h.admin().QueryRow(context.Background(), "SELECT count(*) FROM orders").Scan(&n)
	if n != 100 {
		t.Fatalf("COMMIT; DELETE deleted rows (%d left): %s", n, out)
	}
}

// TestPgbench: pgbench's select-only script through the proxy, in the
// simple and prepared protocols, several clients; no transaction fails.
func TestPgbench(t *testing.T) {
	pgbench := pgTool(t, "pgbench")
	h := newHarness(t, harnessOptions{})
	host, port, _ := strings.Cut(h.pg.Addr, ":")
	init := exec.Command(pgbench, "-i", "-s", "1", "-q", "-h", host, "-p", port, "-U", h.pg.User, h.db)
	init.Env = append(init.Environ(), "PGPASSWORD="+h.pg.Password)
	if out, err := init.CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	i := h.login("alice")
	for _, mode := range []string{"simple", "extended", "prepared"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(pgbench, "-n", "-S", "-T", "2", "-c", "4", "-j", "2", "-M", mode, "-h", i.Host, "-p", i.Port, "-U", i.User, i.Database)
			cmd.Env = append(cmd.Environ(), "PGPASSWORD="+i.Password, "PGSSLMODE=disable")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("pgbench through the proxy: %v\n%s", err, out)
			}
			s := string(out)
			if !strings.Contains(s, "number of failed transactions: 0") || !strings.Contains(s, "tps = ") {
				t.Fatalf("pgbench:\n%s", s)
			}
			for _, line := range strings.Split(s, "\n") {
				if strings.HasPrefix(line, "tps") || strings.Contains(line, "latency average") {
					t.Log(line)
				}
			}
		})
	}
}

// TestPortalsAcrossSyncs: inside a transaction block a named portal lives
// across Syncs and is fetched a few rows at a time (Execute with a row
// limit, PortalSuspended), as JDBC's fetch size does; each fetch goes
// through Flush-free Syncs on the same upstream portal.
func TestPortalsAcrossSyncs(t *testing.T) {
	h := newHarness(t, harnessOptions{setup: shopSetup})
	hc := h.wire("alice")
	fe := hc.Frontend
	hc.Conn.SetDeadline(time.Now().Add(20 * time.Second))
	// roundTrip sends msgs and returns the types and data rows received up
	// to ReadyForQuery.
	roundTrip := func(msgs ...pgproto3.FrontendMessage) (kinds []string, rows []string, status byte) {
		for _, m := range msgs {
			fe.Send(m)
		}
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		for {
			msg, err := fe.Receive()
			if err != nil {
				t.Fatal(err)
			}
			kinds = append(kinds, strings.TrimPrefix(fmt.Sprintf("%T", msg), "*pgproto3."))
			switch m := msg.(type) {
			case *pgproto3.DataRow:
				rows = append(rows, string(m.Values[0]))
			case *pgproto3.ErrorResponse:
				t.Logf("error: %s", m.Message)
			case *pgproto3.ReadyForQuery:
				return kinds, rows, m.TxStatus
			}
		}
	}
	_, _, st := roundTrip(&pgproto3.Query{String: "BEGIN"})
	if st != 'T' {
		t.Fatalf("BEGIN: status %c", st)
	}
	kinds, rows, st := roundTrip(
		&pgproto3.Parse{Name: "s1", Query: "SELECT id FROM orders WHERE id <= $1 ORDER BY id"},
		&pgproto3.Bind{DestinationPortal: "p1", PreparedStatement: "s1", Parameters: [][]byte{[]byte("5")}},
		&pgproto3.Execute{Portal: "p1", MaxRows: 2},
		&pgproto3.Sync{})
	if strings.Join(rows, ",") != "1,2" || kinds[len(kinds)-2] != "PortalSuspended" || st != 'T' {
		t.Fatalf("first fetch: %v %v %c", kinds, rows, st)
	}
	_, rows, _ = roundTrip(&pgproto3.Execute{Portal: "p1", MaxRows: 2}, &pgproto3.Sync{})
	if strings.Join(rows, ",") != "3,4" {
		t.Fatalf("second fetch: %v", rows)
	}
	kinds, rows, _ = roundTrip(&pgproto3.Execute{Portal: "p1", MaxRows: 2}, &pgproto3.Sync{})
	if strings.Join(rows, ",") != "5" || !strings.Contains(strings.Join(kinds, ","), "CommandComplete") {
		t.Fatalf("last fetch: %v %v", kinds, rows)
	}
	kinds, _, _ = roundTrip(&pgproto3.Describe{ObjectType: 'S', Name: "s1"}, &pgproto3.Close{ObjectType: 'S', Name: "s1"}, &pgproto3.Sync{})
	if strings.Join(kinds, ",") != "ParameterDescription,RowDescription,CloseComplete,ReadyForQuery" {
		t.Fatalf("describe, close: %v", kinds)
	}
	_, _, st = roundTrip(&pgproto3.Query{String: "COMMIT"})
	if st != 'I' {
		t.Fatalf("COMMIT: status %c", st)
	}
	// Errors: an unknown statement, then the connection goes on.
	kinds, _, st = roundTrip(&pgproto3.Bind{PreparedStatement: "nope"}, &pgproto3.Execute{}, &pgproto3.Sync{})
	if kinds[0] != "ErrorResponse" || st != 'I' || len(kinds) != 2 {
		t.Fatalf("unknown statement: %v", kinds)
	}
	_, rows, _ = roundTrip(&pgproto3.Query{String: "SELECT 7"})
	if len(rows) != 1 || rows[0] != "7" {
		t.Fatalf("after errors: %v", rows)
	}
}

// TestFlush: results come back at Flush, without ReadyForQuery; after an
// error, messages are discarded until Sync, which ends the implicit
// transaction on the upstream too.
func TestFlush(t *testing.T) {
	h := newHarness(t, harnessOptions{setup: shopSetup})
	hc := h.wire("alice")
	fe := hc.Frontend
	hc.Conn.SetDeadline(time.Now().Add(20 * time.Second))
	send := func(msgs ...pgproto3.FrontendMessage) {
		for _, m := range msgs {
			fe.Send(m)
		}
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	recvUntil := func(last string) []string {
		var kinds []string
		for {
			msg, err := fe.Receive()
			if err != nil {
				t.Fatal(err)
			}
			k := strings.TrimPrefix(fmt.Sprintf("%T", msg), "*pgproto3.")
			kinds = append(kinds, k)
			if k == last {
				return kinds
			}
		}
	}
	send(&pgproto3.Parse{Query: "SELECT count(*) FROM orders"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Flush{})
	if got := strings.Join(recvUntil("CommandComplete"), ","); got != "ParseComplete,BindComplete,DataRow,CommandComplete" {
		t.Fatalf("at Flush: %s", got)
	}
	send(&pgproto3.Parse{Query: "DELETE FROM orders"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Flush{})
	if got := strings.Join(recvUntil("ErrorResponse"), ","); got != "ParseComplete,ErrorResponse" {
		t.Fatalf("refusal at Flush: %s", got)
	}
	send(&pgproto3.Parse{Query: "SELECT 1"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{})
	if got := strings.Join(recvUntil("ReadyForQuery"), ","); got != "ReadyForQuery" {
		t.Fatalf("after an error, until Sync: %s", got)
	}
	send(&pgproto3.Query{String: "SELECT 2"})
	if got := strings.Join(recvUntil("ReadyForQuery"), ","); got != "RowDescription,DataRow,CommandComplete,ReadyForQuery" {
		t.Fatalf("then: %s", got)
	}
}

// pgTool finds a PostgreSQL client program: on PATH, or next to the test
// server's binaries (scripts/pg.sh sets WARDEN_TEST_PG_BIN).
func pgTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if dir := os.Getenv("WARDEN_TEST_PG_BIN"); dir != "" {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if testenv.Required() {
		t.Fatalf("%s is required but not installed (apt-get install postgresql-client)", name)
	}
	t.Skipf("%s not installed (apt-get install postgresql-client)", name)
	return ""
}

// TestReadOnlyDefault: Warden sets default_transaction_read_only on the
// upstream session, so that a query opening an implicit read-only
// transaction needs no statement of Warden's before it. The client is
// told the session's own value; and when code the classifier cannot see
// (a view calling set_config) turns the default off, reads still run
// read-only, made so statement by statement, and a view that writes is
// still stopped by the read-only transaction.
func TestReadOnlyDefault(t *testing.T) {
	h := newHarness(t, harnessOptions{setup: append(slices.Clone(shopSetup),
		`CREATE FUNCTION flip() RETURNS text LANGUAGE sql VOLATILE AS $$SELECT set_config('default_transaction_read_only', 'off', false)$$`,
		`CREATE VIEW flipper AS SELECT flip() AS v`,
		`CREATE FUNCTION wipe() RETURNS int LANGUAGE sql VOLATILE AS 'DELETE FROM orders RETURNING 1'`,
		`CREATE VIEW wiper AS SELECT wipe() AS v`,
	)})
	ctx := context.Background()
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
		t.Run(mode.String(), func(t *testing.T) {
			c := h.connect("alice", mode)
			if got := c.PgConn().ParameterStatus("default_transaction_read_only"); got != "off" {
				t.Fatalf("client told default_transaction_read_only = %q, want the session's own off", got)
			}
			readOnly := func(when string) {
				t.Helper()
				var ro string
				if err := c.QueryRow(ctx, "SELECT current_setting('transaction_read_only')").Scan(&ro); err != nil || ro != "on" {
					t.Fatalf("%s: a read ran with transaction_read_only = %q (%v)", when, ro, err)
				}
				var v int
				if err := c.QueryRow(ctx, "SELECT v FROM wiper").Scan(&v); pgCode(err) != "25006" {
					t.Fatalf("%s: a view deleting rows got %v, want 25006 (read-only transaction)", when, err)
				}
			}
			readOnly("fresh session")
			readOnly("again")
			var v string
			if err := c.QueryRow(ctx, "SELECT v FROM flipper").Scan(&v); err != nil {
				t.Fatal(err)
			}
			if got := c.PgConn().ParameterStatus("default_transaction_read_only"); got != "off" {
				t.Fatalf("after the view turned the default off the client was told %q", got)
			}
			readOnly("default turned off")
			readOnly("default still off")
			var n int
			if err := c.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil || n != 100 {
				t.Fatalf("orders: %d, %v", n, err)
			}
		})
	}
}
