package sqlite

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardenhq/warden/internal/sqlitemigrate"
)

func TestParseDSN(t *testing.T) {
	tests := []struct {
		name    string
		dsn     string
		want    string
		wantErr string
	}{
		{name: "absolute", dsn: "sqlite:///var/lib/warden/audit.db", want: "/var/lib/warden/audit.db"},
		{name: "relative", dsn: "sqlite://./warden.db", want: "./warden.db"},
		{name: "bare relative", dsn: "sqlite://warden.db", want: "warden.db"},
		{name: "plain path", dsn: "/tmp/x/audit.db", want: "/tmp/x/audit.db"},
		{name: "plain relative path", dsn: "data/audit.db", want: "data/audit.db"},
		{name: "postgres", dsn: "postgres://u:hunter2@db/warden", wantErr: "a postgres:// store is not a SQLite file"},
		{name: "unknown scheme", dsn: "mysql://db/warden", wantErr: "a mysql:// store is not a SQLite file"},
		{name: "empty", dsn: "", wantErr: "no file path"},
		{name: "empty after scheme", dsn: "sqlite://", wantErr: "no file path"},
		{name: "memory", dsn: "sqlite://:memory:", wantErr: "need a plain file path"},
		{name: "uri", dsn: "file:audit.db?mode=ro", wantErr: "need a plain file path"},
		{name: "query string", dsn: "sqlite://audit.db?_pragma=foo", wantErr: "must not contain '?'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDSN(tt.dsn)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseDSN(%q) error = %v, want containing %q", tt.dsn, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("parseDSN(%q) error %q shows the password", tt.dsn, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseDSN(%q) = %q, %v; want %q", tt.dsn, got, err, tt.want)
			}
		})
	}
}

func TestOpenCreatesPrivateFileAndDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "dir", "audit.db")
	s, err := Open(testContext(t), "sqlite://"+path, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()

	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("database file mode = %o, want 600", perm)
	}
	var mode string
	if err := s.DB().QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	var fk int
	if err := s.DB().QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys = %d, %v; want 1", fk, err)
	}
}

func TestOpenErrorNamesTheFile(t *testing.T) {
	// A regular file where the directory should be: fails even for root.
	dir := t.TempDir()
	blocker := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(blocker, "audit.db")
	_, err := Open(testContext(t), path, nil)
	if err == nil {
		t.Fatal("Open succeeded under a regular file")
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "create directory") {
		t.Errorf("error %q does not say which file and what failed", err)
	}
}

func TestMigrationsApplyOnceAndReopenIsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	logger, logs := newTestLogger()
	ms, err := sqlitemigrate.Load(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		s, err := Open(testContext(t), path, logger)
		if err != nil {
			t.Fatalf("Open #%d: %v", i+1, err)
		}
		var n, version int
		if err := s.DB().QueryRow("SELECT count(*), max(version) FROM schema_migrations").Scan(&n, &version); err != nil {
			t.Fatal(err)
		}
		if n != len(ms) || version != ms[len(ms)-1].Version {
			t.Errorf("Open #%d: %d migrations recorded up to version %d; want %d up to %d",
				i+1, n, version, len(ms), ms[len(ms)-1].Version)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Count(logs.String(), "audit migration applied"); got != len(ms) {
		t.Errorf("migrations applied %d times over three opens, want %d", got, len(ms))
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	s := mustOpen(t, path)
	if _, err := s.DB().Exec("INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 'future')"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	_, err := Open(testContext(t), path, nil)
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
	}
	for _, want := range []string{path, "9999", "upgrade warden"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func mustOpen(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(testContext(t), path, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}
