package sqlite_test

import (
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/connectortest"
	"github.com/wardenhq/warden/connectors/sqlite"
)

// newDatabase creates the contract fixture in a new file and returns its
// path and a side channel: a separate handle that does not go through the
// connector.
func newDatabase(t *testing.T) (string, *sql.DB) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "target.db")
	side, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { side.Close() })
	for _, s := range connectortest.SetupSQL("real") {
		if _, err := side.Exec(s); err != nil {
			t.Fatalf("setup %q: %v", s, err)
		}
	}
	return file, side
}

func open(t *testing.T, file string) connectors.SQL {
	t.Helper()
	c, err := sqlite.Open(t.Context(), config.Connection{Name: "t", Kind: config.KindSQLite, Path: file}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(connectors.SQL)
}

func sideRows(side *sql.DB) func(t testing.TB, table string) ([]string, bool) {
	return func(t testing.TB, table string) ([]string, bool) {
		t.Helper()
		var n int
		if err := side.QueryRow("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?", table).Scan(&n); err != nil {
			t.Fatalf("side channel: %v", err)
		}
		if n == 0 {
			return nil, false
		}
		rs, err := side.Query(`SELECT * FROM "` + strings.ReplaceAll(table, `"`, `""`) + `" ORDER BY 1`)
		if err != nil {
			t.Fatalf("side channel: %v", err)
		}
		defer rs.Close()
		cols, _ := rs.Columns()
		out := []string{}
		for rs.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				t.Fatalf("side channel: %v", err)
			}
			out = append(out, fmt.Sprint(vals...))
		}
		if err := rs.Err(); err != nil {
			t.Fatalf("side channel: %v", err)
		}
		return out, true
	}
}

func TestContract(t *testing.T) {
	connectortest.RunSQL(t, connectortest.Harness{
		Open: func(t *testing.T) connectortest.Fixture {
			file, side := newDatabase(t)
			return connectortest.Fixture{Conn: open(t, file), Rows: sideRows(side)}
		},
		BigSQL: "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1000000) SELECT n, 'row ' || n AS label FROM c",
		// Billions of steps: only the timeout ends it.
		SlowSQL:     "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1000000000) SELECT count(*) FROM c",
		SlowTimeout: 200 * time.Millisecond,
	})
}

// snapshot is what a read-only handle must never change: the files in the
// database's directory and their contents.
func snapshot(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = sha256.Sum256(b)
	}
	return out
}

func pragma(t *testing.T, side *sql.DB, name string) string {
	t.Helper()
	var v string
	if err := side.QueryRow("PRAGMA " + name).Scan(&v); err != nil {
		t.Fatalf("side channel PRAGMA %s: %v", name, err)
	}
	return v
}

// TestReadOnlyHandle tries to write through a read-only decision with what
// mode=ro does not cover by itself: ATTACH (which opens a file with the
// driver's read-write flags), VACUUM INTO, turning query_only off for the
// pooled connection, and PRAGMAs that write the file header. Calls of a
// case run in order; each must fail, and neither the file nor its
// directory may change.
func TestReadOnlyHandle(t *testing.T) {
	file, side := newDatabase(t)
	dir := filepath.Dir(file)
	c := open(t, file)
	other := filepath.Join(dir, "other.db")
	copyFile := filepath.Join(dir, "copy.db")
	pragmas := []string{"user_version", "application_id", "journal_mode", "schema_version"}
	wantPragmas := map[string]string{}
	for _, p := range pragmas {
		wantPragmas[p] = pragma(t, side, p)
	}
	before := snapshot(t, dir)
	for _, tc := range []struct {
		name  string
		calls []string
	}{
		{"attach a new file", []string{"ATTACH '" + other + "' AS other"}},
		{"attach a new file, then write it", []string{"ATTACH '" + other + "' AS other", "CREATE TABLE other.t (x)"}},
		{"attach the target, then delete", []string{"ATTACH '" + file + "' AS w", "DELETE FROM w.items"}},
		{"attach by URI read-write", []string{"ATTACH 'file:" + file + "?mode=rw' AS w"}},
		{"commit, attach and delete in one call", []string{"COMMIT; ATTACH '" + file + "' AS w; DELETE FROM w.items"}},
		{"query_only off", []string{"PRAGMA query_only = 0"}},
		{"query_only off with an empty string", []string{"PRAGMA query_only = ''"}},
		{"query_only off, then attach and delete", []string{"COMMIT; PRAGMA query_only = 0; ATTACH '" + file + "' AS w; DELETE FROM w.items"}},
		{"query_only off, then a temp table shadowing items", []string{"COMMIT; PRAGMA query_only = 0; CREATE TEMP TABLE items (id integer)"}},
		{"vacuum into", []string{"COMMIT; VACUUM INTO '" + copyFile + "'"}},
		{"vacuum", []string{"COMMIT; VACUUM"}},
		{"user_version", []string{"PRAGMA user_version = 5"}},
		{"application_id", []string{"PRAGMA application_id = 7"}},
		{"schema_version", []string{"PRAGMA schema_version = 99"}},
		{"main.user_version after commit", []string{"COMMIT; PRAGMA main.user_version = 5"}},
		{"insert after commit", []string{"COMMIT; INSERT INTO items (id, name) VALUES (4, 'durian')"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, q := range tc.calls {
				if _, err := connectortest.Run(t.Context(), c, connectortest.ReadOnly(q)); err == nil {
					t.Errorf("%q succeeded on the read-only handle", q)
				}
			}
			for _, p := range pragmas {
				if got := pragma(t, side, p); got != wantPragmas[p] {
					t.Errorf("PRAGMA %s changed: %s -> %s", p, wantPragmas[p], got)
				}
			}
			if after := snapshot(t, dir); !maps.Equal(after, before) {
				t.Errorf("the directory changed: %d files before, %d after", len(before), len(after))
			}
			// Every pooled connection still reads the real items.
			for range 10 {
				connectortest.AssertItemsCount(t, c, 3)
			}
		})
	}
	// Only PRAGMA writes are refused: reading the schema still works.
	res := connectortest.MustRun(t, c, connectortest.ReadOnly("PRAGMA table_info(items)"))
	if len(res.Rows) != 4 {
		t.Errorf("PRAGMA table_info(items): %d rows, want 4", len(res.Rows))
	}
}

// TestReadWriteHandleRefusesOtherFiles: a write decision covers the target
// database, not the Warden host's file system.
func TestReadWriteHandleRefusesOtherFiles(t *testing.T) {
	file, side := newDatabase(t)
	dir := filepath.Dir(file)
	c := open(t, file)
	for _, q := range []string{
		"ATTACH '" + filepath.Join(dir, "other.db") + "' AS other",
		"COMMIT; VACUUM INTO '" + filepath.Join(dir, "copy.db") + "'",
	} {
		if _, err := connectortest.Run(t.Context(), c, connectortest.ReadWrite(q)); err == nil {
			t.Errorf("%q succeeded", q)
		}
	}
	for _, name := range []string{"other.db", "copy.db"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s was created (stat: %v)", name, err)
		}
	}
	// Writes to the target itself still work.
	connectortest.MustRun(t, c, connectortest.ReadWrite("INSERT INTO items (id, name) VALUES (4, 'durian')"))
	if rows, _ := sideRows(side)(t, "items"); len(rows) != 4 {
		t.Errorf("side channel sees %d rows after an INSERT, want 4", len(rows))
	}
}

func TestOpenMissingFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "missing.db")
	c, err := sqlite.Open(t.Context(), config.Connection{Name: "t", Kind: config.KindSQLite, Path: file}, slog.New(slog.DiscardHandler))
	if err == nil {
		c.Close()
		t.Fatal("Open of a missing file succeeded")
	}
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), file) {
		t.Errorf("err = %v, want a not-exist error naming %s", err, file)
	}
	if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open created %s", file)
	}
}
