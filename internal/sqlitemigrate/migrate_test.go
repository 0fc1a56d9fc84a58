package sqlitemigrate

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	_ "modernc.org/sqlite"
)

func TestLoadMigrations(t *testing.T) {
	file := func(body string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(body)} }
	tests := []struct {
		name     string
		fsys     fstest.MapFS
		versions []int
		wantErr  string
	}{
		{
			name: "ordered by number, not name",
			fsys: fstest.MapFS{
				"migrations/0010_later.sql":  file("SELECT 10"),
				"migrations/0002_leases.sql": file("SELECT 2"),
				"migrations/0001_events.sql": file("SELECT 1"),
			},
			versions: []int{1, 2, 10},
		},
		{
			name:    "no number",
			fsys:    fstest.MapFS{"migrations/events.sql": file("")},
			wantErr: "must be NNNN_description.sql",
		},
		{
			name:    "version zero",
			fsys:    fstest.MapFS{"migrations/0000_x.sql": file("")},
			wantErr: "must be NNNN_description.sql",
		},
		{
			name: "duplicate version",
			fsys: fstest.MapFS{
				"migrations/0002_leases.sql":    file(""),
				"migrations/0002_approvals.sql": file(""),
			},
			wantErr: "same version",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := Load(tt.fsys, "migrations")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.Version)
			}
			if !slices.Equal(got, tt.versions) {
				t.Errorf("versions = %v, want %v", got, tt.versions)
			}
		})
	}
}

// TestApplyNewMigrationsOnly shows the mechanism later versions rely on:
// a binary with one more migration applies just that one to an existing
// database, and a failing migration leaves nothing behind.
func TestApplyNewMigrationsOnly(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, filepath.Join(t.TempDir(), "x.db"))
	logger, logs := newLogger()
	base := []Migration{{Version: 1, Name: "0001_a.sql", SQL: "CREATE TABLE a (id TEXT PRIMARY KEY)"}}
	set := Set{Name: "test", Table: "test_migrations", Migrations: base}
	if v, err := set.Apply(ctx, db, logger); err != nil || v != 1 {
		t.Fatalf("Apply = %d, %v; want 1", v, err)
	}

	set.Migrations = append(base[:1:1], Migration{Version: 2, Name: "broken.sql",
		SQL: "CREATE TABLE widgets (id TEXT PRIMARY KEY); INSERT INTO nowhere VALUES (1);"})
	if _, err := set.Apply(ctx, db, logger); err == nil || !strings.Contains(err.Error(), "broken.sql") {
		t.Fatalf("broken migration: error = %v, want one naming broken.sql", err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'widgets'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("failed migration left table widgets behind (count %d, %v)", n, err)
	}

	set.Migrations = append(base[:1:1], Migration{Version: 2, Name: "widgets.sql",
		SQL: "CREATE TABLE widgets (id TEXT PRIMARY KEY); CREATE INDEX widgets_id ON widgets (id);"})
	for i := range 2 {
		if v, err := set.Apply(ctx, db, logger); err != nil || v != 2 {
			t.Fatalf("Apply #%d = %d, %v; want 2, nil", i+1, v, err)
		}
	}
	if got := strings.Count(logs.String(), "test migration applied"); got != 2 {
		t.Errorf("%d migrations logged as applied, want 2 (each once)", got)
	}
}

// TestSetsShareAFile: two sets in one database keep their own versions.
func TestSetsShareAFile(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, filepath.Join(t.TempDir(), "x.db"))
	logger := slog.New(slog.DiscardHandler)
	a := Set{Name: "a", Table: "a_migrations", Migrations: []Migration{
		{Version: 1, Name: "0001_a.sql", SQL: "CREATE TABLE a1 (x)"}, {Version: 2, Name: "0002_a.sql", SQL: "CREATE TABLE a2 (x)"}}}
	b := Set{Name: "b", Table: "b_migrations", Migrations: []Migration{{Version: 1, Name: "0001_b.sql", SQL: "CREATE TABLE b1 (x)"}}}
	if v, err := a.Apply(ctx, db, logger); err != nil || v != 2 {
		t.Fatalf("a: %d, %v", v, err)
	}
	if v, err := b.Apply(ctx, db, logger); err != nil || v != 1 {
		t.Fatalf("b: %d, %v (a's version 1 must not count as b's)", v, err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name IN ('a1', 'a2', 'b1')").Scan(&n); err != nil || n != 3 {
		t.Fatalf("tables: %d, %v; want 3", n, err)
	}
}

func TestApplyRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, filepath.Join(t.TempDir(), "x.db"))
	set := Set{Name: "test", Table: "test_migrations", Migrations: []Migration{{Version: 1, Name: "0001_a.sql", SQL: "SELECT 1"}}}
	if _, err := set.Apply(ctx, db, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO test_migrations (version, applied_at) VALUES (9999, 'future')"); err != nil {
		t.Fatal(err)
	}
	_, err := set.Apply(ctx, db, slog.New(slog.DiscardHandler))
	if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), "9999") || !strings.Contains(err.Error(), "upgrade warden") {
		t.Fatalf("Apply = %v, want ErrSchemaTooNew naming version 9999", err)
	}
}

func openDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newLogger() (*slog.Logger, *logBuffer) {
	var b logBuffer
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}
