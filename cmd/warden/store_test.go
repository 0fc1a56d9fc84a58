package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardenhq/warden/approvals"
	"github.com/wardenhq/warden/audit"
)

// TestOpenStores: the store: DSN's scheme chooses the backend; an unknown
// one is refused naming the known ones and never the DSN.
func TestOpenStores(t *testing.T) {
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	for _, dsn := range []string{"sqlite://" + filepath.Join(dir, "a.db"), "SQLite3://" + filepath.Join(dir, "b.db"), filepath.Join(dir, "c.db")} {
		st, err := openStores(ctx, dsn, storeOptions{logger: logger})
		if err != nil {
			t.Fatalf("openStores(%q): %v", dsn, err)
		}
		if err := st.audit.Record(ctx, &audit.Event{Tool: "run_query", Status: audit.StatusDenied}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.approvals.List(ctx, approvals.Filter{}); err != nil {
			t.Fatalf("the approval store of %q: %v", dsn, err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, dsn := range []string{"postgres://warden:hunter2@db.example/warden", "mysql://u:hunter2@db/w"} {
		_, err := openStores(ctx, dsn, storeOptions{logger: logger})
		if err == nil {
			t.Fatalf("openStores(%q) succeeded", dsn)
		}
		scheme, _, _ := strings.Cut(dsn, "://")
		for _, want := range []string{"unknown scheme " + scheme + "://", "sqlite://", "sqlite3://"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "db.example") {
			t.Errorf("error %q shows the DSN", err)
		}
	}
}

func TestRedactDSN(t *testing.T) {
	for dsn, want := range map[string]string{
		"sqlite://./audit.db":                      "sqlite://./audit.db",
		"/var/lib/warden/audit.db":                 "/var/lib/warden/audit.db",
		"postgres://warden:hunter2@db:5432/warden": "postgres://warden:xxxxx@db:5432/warden",
		"postgres://warden:bad%zz@db/warden":       "postgres://(redacted)",
	} {
		if got := redactDSN(dsn); got != want {
			t.Errorf("redactDSN(%q) = %q, want %q", dsn, got, want)
		}
	}
}
