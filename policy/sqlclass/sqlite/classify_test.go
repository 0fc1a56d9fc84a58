package sqlite_test

import (
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/policy/sqlclass"
	sqliteclass "github.com/wardenhq/warden/policy/sqlclass/sqlite"
)

// fixture is a database with a view, an index, a trigger and a virtual
// table, as a target would have them.
var fixture = []string{
	"CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, ssn TEXT, email TEXT, created_at TEXT)",
	"CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers, total REAL, status TEXT)",
	"CREATE TABLE audit_log (id INTEGER PRIMARY KEY, note TEXT)",
	"CREATE TABLE \"Mixed Case\" (x)",
	"CREATE INDEX customers_ssn ON customers (ssn)",
	"CREATE VIEW contacts AS SELECT id, name, email FROM customers",
	"CREATE TRIGGER orders_audit AFTER DELETE ON orders BEGIN INSERT INTO audit_log (note) VALUES ('deleted ' || old.id); END",
}

func newDatabase(t testing.TB) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "target.db")
	db, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range fixture {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return file
}

func newClassifier(t testing.TB) *sqliteclass.Classifier {
	t.Helper()
	c := sqliteclass.NewCompiler(newDatabase(t))
	t.Cleanup(func() { c.Close() })
	return sqliteclass.NewClassifier(c)
}

type want struct {
	kinds   []string
	read    []string
	written []string
	funcs   []string
	tag     string
	reason  string // in some part's reasons
}

func TestClassify(t *testing.T) {
	cl := newClassifier(t)
	for _, tc := range []struct {
		name, sql string
		want      want
	}{
		{"select", "SELECT id, name FROM customers WHERE id = 1", want{kinds: []string{"read"}, read: []string{"customers"}, tag: "SELECT"}},
		{"count star reads the table", "SELECT count(*) FROM orders", want{kinds: []string{"read"}, read: []string{"orders"}, funcs: []string{"count"}}},
		{"no table", "SELECT 1 + 1", want{kinds: []string{"read"}}},
		{"view and what it reads", "SELECT email FROM contacts", want{kinds: []string{"read"}, read: []string{"contacts", "customers"}}},
		{"cte name is not a table", "WITH c AS (SELECT id FROM orders) SELECT * FROM c", want{kinds: []string{"read"}, read: []string{"orders"}}},
		{"recursive cte", "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3) SELECT i FROM n", want{kinds: []string{"read"}}},
		{"window function", "SELECT id, row_number() OVER (PARTITION BY status ORDER BY total DESC) FROM orders", want{kinds: []string{"read"}, read: []string{"orders"}, funcs: []string{"row_number"}}},
		{"json operators", "SELECT email -> '$.a', email ->> '$.b' FROM customers", want{kinds: []string{"read"}, read: []string{"customers"}, funcs: []string{"->", "->>"}}},
		{"double-quoted name", `SELECT x FROM "Mixed Case"`, want{kinds: []string{"read"}, read: []string{`"mixed case"`}}},
		{"schema table", "SELECT name FROM sqlite_schema", want{kinds: []string{"read"}, read: []string{"sqlite_schema"}}},
		{"pragma table_info", "PRAGMA table_info(customers)", want{kinds: []string{"read"}, read: []string{"customers"}, tag: "PRAGMA"}},
		{"pragma table_info quoted, qualified", "PRAGMA main.table_info('orders')", want{kinds: []string{"read"}, read: []string{"orders"}}},
		{"pragma index_list", "PRAGMA index_list(customers)", want{kinds: []string{"read"}, read: []string{"customers"}}},
		{"pragma index_info reads the indexed table", "PRAGMA index_info(customers_ssn)", want{kinds: []string{"read"}, read: []string{"customers"}}},
		{"pragma foreign_key_list", "PRAGMA foreign_key_list(orders)", want{kinds: []string{"read"}, read: []string{"orders"}}},
		{"pragma table_list", "PRAGMA table_list", want{kinds: []string{"read"}, read: []string{"sqlite_schema"}}},
		{"pragma getter", "PRAGMA user_version", want{kinds: []string{"read"}}},
		{"pragma function", "SELECT name FROM pragma_table_info('customers')", want{kinds: []string{"read"}, read: []string{"pragma_table_info"}}},
		{"insert", "INSERT INTO orders (customer_id, total) VALUES (1, 2.5)", want{kinds: []string{"write"}, written: []string{"orders"}, tag: "INSERT"}},
		{"upsert returning", "INSERT INTO orders (id, total) VALUES (1, 2) ON CONFLICT (id) DO UPDATE SET total = excluded.total RETURNING id",
			want{kinds: []string{"read", "write"}, read: []string{"orders"}, written: []string{"orders"}}},
		{"update", "UPDATE customers SET name = 'x' WHERE id = 1", want{kinds: []string{"read", "write"}, read: []string{"customers"}, written: []string{"customers"}, tag: "UPDATE"}},
		{"delete fires a trigger", "DELETE FROM orders", want{kinds: []string{"read", "write"}, read: []string{"orders"}, written: []string{"audit_log", "orders"},
			tag: "DELETE", reason: "INSERT into audit_log (by trigger or view orders_audit)"}},
		{"delete in a cte", "WITH x AS (SELECT 1) DELETE FROM audit_log WHERE id IN (SELECT * FROM x)", want{kinds: []string{"read", "write"}, written: []string{"audit_log"}}},
		{"create table", "CREATE TABLE t (id INTEGER)", want{kinds: []string{"ddl"}, written: []string{"t"}, tag: "CREATE TABLE", reason: "CREATE TABLE t"}},
		{"create temp table", "CREATE TEMP TABLE t (id INTEGER)", want{kinds: []string{"ddl"}, written: []string{"temp.t"}, reason: "CREATE TEMP TABLE t"}},
		{"drop index", "DROP INDEX customers_ssn", want{kinds: []string{"ddl"}, written: []string{"customers"}, tag: "DROP INDEX"}},
		{"alter table", "ALTER TABLE orders ADD COLUMN note TEXT", want{kinds: []string{"ddl"}, written: []string{"orders"}, tag: "ALTER TABLE"}},
		{"begin", "BEGIN", want{kinds: []string{"transaction"}, tag: "BEGIN"}},
		{"savepoint", "SAVEPOINT a", want{kinds: []string{"transaction"}, tag: "SAVEPOINT"}},
		{"begin immediate", "BEGIN IMMEDIATE", want{kinds: []string{"transaction", "write"}, reason: "SQLite reports that the statement changes the database"}},
		{"vacuum", "VACUUM", want{kinds: []string{"write", "utility"}, tag: "VACUUM"}},
		{"reindex", "REINDEX customers", want{kinds: []string{"utility"}}},
		{"analyze creates its statistics table", "ANALYZE", want{kinds: []string{"utility", "ddl"}, written: []string{"sqlite_stat1"}}},
		{"explain of a write is a read", "EXPLAIN DELETE FROM orders", want{kinds: []string{"read"}, read: []string{"audit_log", "orders"}, tag: "EXPLAIN"}},
		{"explain query plan", "EXPLAIN QUERY PLAN SELECT * FROM orders", want{kinds: []string{"read"}, read: []string{"orders"}}},
		{"load_extension", "SELECT load_extension('/tmp/x.so')", want{kinds: []string{"read", "write", "utility"}, reason: "function load_extension loads code"}},
		{"raw pages", "SELECT data FROM sqlite_dbpage", want{kinds: []string{"read", "utility"}, read: []string{"sqlite_dbpage"}}},
		{"two statements", "SELECT 1; DELETE FROM audit_log", want{kinds: []string{"read", "write"}, written: []string{"audit_log"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := cl.Classify(t.Context(), policy.ClassifyRequest{Statement: tc.sql})
			if err != nil {
				t.Fatalf("Classify: %v", err)
			}
			check(t, f, tc.want)
		})
	}
}

func check(t *testing.T, f policy.Facts, w want) {
	t.Helper()
	if !slices.Equal(f.Kinds, w.kinds) {
		t.Errorf("kinds = %v, want %v", f.Kinds, w.kinds)
	}
	if got := texts(f.Read); !subset(w.read, got) || len(w.read) == 0 && len(got) > 0 && !slices.Contains(w.kinds, "ddl") && !slices.Contains(w.kinds, "write") {
		t.Errorf("read = %v, want %v", got, w.read)
	}
	if got := texts(f.Written); !subset(w.written, got) {
		t.Errorf("written = %v, want %v", got, w.written)
	}
	if !subset(w.funcs, f.Functions) {
		t.Errorf("functions = %v, want %v", f.Functions, w.funcs)
	}
	if w.tag != "" && (len(f.Parts) == 0 || f.Parts[0].Tag != w.tag) {
		t.Errorf("parts = %+v, want tag %s", f.Parts, w.tag)
	}
	if w.reason != "" && !slices.ContainsFunc(f.Parts, func(p policy.Part) bool { return slices.Contains(p.Reasons, w.reason) }) {
		t.Errorf("parts = %+v, want the reason %q", f.Parts, w.reason)
	}
	if f.ReadOnly != slices.Equal(w.kinds, []string{"read"}) {
		t.Errorf("read-only = %v for kinds %v", f.ReadOnly, f.Kinds)
	}
}

func texts(rs []policy.Resource) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Text)
	}
	return out
}

func subset(want, got []string) bool {
	for _, w := range want {
		if !slices.Contains(got, w) {
			return false
		}
	}
	return true
}

// TestRefused: statements Warden does not run on SQLite, refused as
// constructs it does not vouch for, saying why.
func TestRefused(t *testing.T) {
	cl := newClassifier(t)
	for _, tc := range []struct{ sql, construct, says string }{
		{"PRAGMA user_version = 5", "PRAGMA user_version", "sets a value"},
		{"PRAGMA main.cache_size(100)", "PRAGMA cache_size", "sets a value"},
		{"PRAGMA foreign_keys = OFF", "PRAGMA foreign_keys", "sets a value"},
		{"PRAGMA journal_mode = DELETE", "PRAGMA journal_mode", "sets a value"},
		{"PRAGMA query_only", "PRAGMA query_only", "protection"},
		{"PRAGMA query_only = 0", "PRAGMA query_only", "protection"},
		{"PRAGMA writable_schema = 1", "PRAGMA writable_schema", "protection"},
		{"PRAGMA case_sensitive_like = 1", "PRAGMA case_sensitive_like", "acts"},
		{"PRAGMA wal_checkpoint(TRUNCATE)", "PRAGMA wal_checkpoint", "acts"},
		{"PRAGMA optimize", "PRAGMA optimize", "acts"},
		{"PRAGMA no_such_pragma", "PRAGMA no_such_pragma", "does not know"},
		{"EXPLAIN PRAGMA cache_size = 1", "PRAGMA cache_size", "sets a value"},
		{"SELECT 1; PRAGMA user_version = 1", "PRAGMA user_version", "sets a value"},
		{"ATTACH 'other.db' AS other", "ATTACH", "another database file"},
		{"DETACH other", "DETACH", "another database file"},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			_, err := cl.Classify(t.Context(), policy.ClassifyRequest{Statement: tc.sql})
			var e *sqlclass.Error
			if !errors.As(err, &e) || !errors.Is(err, sqlclass.ErrUnsupported) || !errors.Is(err, policy.ErrNotUnderstood) {
				t.Fatalf("err = %v, want an unsupported construct", err)
			}
			if e.Construct != tc.construct || !strings.Contains(e.Reason, tc.says) {
				t.Errorf("err = %v, want construct %q saying %q", err, tc.construct, tc.says)
			}
		})
	}
}

// TestRejected: what SQLite itself does not compile is the caller's
// mistake, worded as SQLite words it.
func TestRejected(t *testing.T) {
	cl := newClassifier(t)
	for _, tc := range []struct{ sql, says string }{
		{"SELEC 1", `near "SELEC": syntax error`},
		{"SELECT * FROM nope", "no such table: nope"},
		{"SELECT nope FROM customers", "no such column: nope"},
		{"SELECT no_such_function(1)", "no such function: no_such_function"},
		{"SELECT 1; SELEC 2", "at offset 10"},
		{"", "no statement"},
		{"-- just a comment", "no statement"},
		{"SELECT '\x00'", "NUL"},
		{"SELECT '\xff'", "UTF-8"},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			_, err := cl.Classify(t.Context(), policy.ClassifyRequest{Statement: tc.sql})
			if !errors.Is(err, policy.ErrSyntax) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("err = %v, want a syntax error saying %q", err, tc.says)
			}
		})
	}
	_, err := cl.Classify(t.Context(), policy.ClassifyRequest{Statement: "SELECT 1 -- " + strings.Repeat("x", 100), MaxBytes: 20})
	if !errors.Is(err, sqlclass.ErrUnsupported) {
		t.Errorf("over the byte limit: %v", err)
	}
}

// TestSchemaChange: the compiler sees a table created after it opened.
func TestSchemaChange(t *testing.T) {
	file := newDatabase(t)
	c := sqliteclass.NewCompiler(file)
	defer c.Close()
	cl := sqliteclass.NewClassifier(c)
	if _, err := cl.Classify(t.Context(), policy.ClassifyRequest{Statement: "SELECT * FROM later"}); !errors.Is(err, policy.ErrSyntax) {
		t.Fatalf("before: %v", err)
	}
	db, _ := sql.Open("sqlite", file)
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE later (x)"); err != nil {
		t.Fatal(err)
	}
	f, err := cl.Classify(t.Context(), policy.ClassifyRequest{Statement: "SELECT * FROM later"})
	if err != nil || !slices.Equal(texts(f.Read), []string{"later"}) {
		t.Errorf("after: %v %v", texts(f.Read), err)
	}
}

// TestCompileRunsNothing: compiling never changes the database or the
// connection, not even for pragmas that act while they compile.
func TestCompileRunsNothing(t *testing.T) {
	file := newDatabase(t)
	c := sqliteclass.NewCompiler(file)
	defer c.Close()
	for _, q := range []string{"PRAGMA user_version = 7", "DELETE FROM orders", "CREATE TABLE x (y)", "ATTACH '" + filepath.Join(filepath.Dir(file), "o.db") + "' AS o"} {
		if _, err := c.Compile(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db, _ := sql.Open("sqlite", file)
	defer db.Close()
	var v, n int
	db.QueryRow("PRAGMA user_version").Scan(&v)
	db.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'x'").Scan(&n)
	if v != 0 || n != 0 {
		t.Errorf("user_version %d, table x %d: compiling changed the database", v, n)
	}
}

// TestStub: without the database, statements are classified as SQLite
// reads them, against tables inferred from them.
func TestStub(t *testing.T) {
	cl := sqliteclass.NewClassifier(sqliteclass.NewStubCompiler())
	for _, tc := range []struct {
		sql  string
		want want
	}{
		{"SELECT strftime('%Y', created_at), count(*) FROM customers GROUP BY 1", want{kinds: []string{"read"}, read: []string{"customers"}, funcs: []string{"count", "strftime"}}},
		{"SELECT o.total, c.name FROM orders o JOIN customers c ON c.id = o.customer_id", want{kinds: []string{"read"}, read: []string{"customers", "orders"}}},
		{"SELECT a, b FROM t1, t2 WHERE t2.c = 1", want{kinds: []string{"read"}, read: []string{"t1", "t2"}}},
		{"INSERT INTO orders (customer_id, total) VALUES (1, 2)", want{kinds: []string{"write"}, written: []string{"orders"}}},
		{"DELETE FROM orders WHERE id = 1", want{kinds: []string{"read", "write"}, written: []string{"orders"}}},
		{"WITH x AS (SELECT id FROM orders) SELECT id FROM x", want{kinds: []string{"read"}, read: []string{"orders"}}},
		{"PRAGMA table_info(customers)", want{kinds: []string{"read"}, read: []string{"customers"}}},
		{"SELECT * FROM temp.scratch", want{kinds: []string{"read"}, read: []string{"temp.scratch"}}},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			f, err := cl.Classify(t.Context(), policy.ClassifyRequest{Statement: tc.sql})
			if err != nil {
				t.Fatal(err)
			}
			check(t, f, tc.want)
		})
	}
	if _, err := cl.Classify(t.Context(), policy.ClassifyRequest{Statement: "SELEC 1"}); !errors.Is(err, policy.ErrSyntax) {
		t.Errorf("syntax error: %v", err)
	}
	if _, err := cl.Classify(t.Context(), policy.ClassifyRequest{Statement: "PRAGMA user_version = 1"}); !errors.Is(err, sqlclass.ErrUnsupported) {
		t.Errorf("pragma setter: %v", err)
	}
}
