package sqlite

import (
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wardenhq/warden/approvals"
	"github.com/wardenhq/warden/approvals/approvalstest"
	"github.com/wardenhq/warden/audit"
	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
)

// openPool opens a pool on path as audit/sqlite opens its own: one per
// Warden process sharing the file.
func openPool(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(on)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestContract: the SQLite store passes the suite every approval store
// must pass, each store of a database on its own pool, as separate Warden
// processes have.
func TestContract(t *testing.T) {
	approvalstest.Run(t, func(t *testing.T) func() approvals.Store {
		path := filepath.Join(t.TempDir(), "warden.db")
		return func() approvals.Store {
			s, err := New(context.Background(), openPool(t, path), nil)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}

// TestOpensStoreOfAuditMigration5: a store whose approval tables audit's
// migration 5 made (before approvals/sqlite owned them) keeps working:
// its requests and decisions read back and take new decisions, its
// events and leases are there, and both migration sets are recorded.
func TestOpensStoreOfAuditMigration5(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "warden.db")
	copyFile(t, filepath.Join("testdata", "v0-audit-migration-5.db"), path)

	st, err := auditsqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := New(ctx, st.DB(), nil)
	if err != nil {
		t.Fatal(err)
	}

	const id = "apr_fixture0000000000001"
	a, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if a.State != approvals.StatePending || a.Digest != "d1" || a.Approvers.Quorum != 2 || len(a.Decisions) != 1 || a.Decisions[0].Approver != "bob" {
		t.Fatalf("the old request reads back as %+v", a)
	}
	if latest, err := s.Latest(ctx, "d1"); err != nil || latest.ID != id {
		t.Fatalf("Latest = %v, %v", latest, err)
	}
	a, err = s.Decide(ctx, id, approvals.Decision{Approver: "carol", Groups: []string{"dba"}, Verdict: approvals.VerdictApprove, Time: time.Now()}, func(*approvals.Approval) error { return nil })
	if err != nil || a.State != approvals.StateApproved {
		t.Fatalf("second approval: %+v, %v", a, err)
	}
	if won, err := s.Consume(ctx, id, "d1", time.Now()); err != nil || !won {
		t.Fatalf("Consume = %v, %v", won, err)
	}
	if err := s.CreateSession(ctx, "h", approvals.WebSession{Subject: "bob", CSRF: "c", Expires: time.Now().Add(time.Hour)}, time.Now()); err != nil {
		t.Fatal(err)
	}

	events, err := st.List(ctx, audit.Filter{})
	if err != nil || len(events) != 2 || events[0].Status != audit.StatusDenied || events[1].Status != audit.StatusOK {
		t.Fatalf("the old events: %+v, %v", events, err)
	}
	if leases, err := st.Leases(ctx, audit.LeaseFilter{}); err != nil || len(leases) != 1 || leases[0].ID != "lease1" {
		t.Fatalf("the old leases: %+v, %v", leases, err)
	}
	for table, want := range map[string]int{"schema_migrations": 9, "approvals_schema_migrations": 1} {
		var n, top int
		if err := st.DB().QueryRow("SELECT count(*), max(version) FROM "+table).Scan(&n, &top); err != nil || n != want || top != want {
			t.Errorf("%s: %d versions up to %d (%v), want 1 to %d", table, n, top, err, want)
		}
	}
}

// TestNewStoreSchema: a new file gets the approval tables from this
// package, and audit's version 5, now empty, recorded like the others.
func TestNewStoreSchema(t *testing.T) {
	ctx := context.Background()
	st, err := auditsqlite.Open(ctx, filepath.Join(t.TempDir(), "warden.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for range 2 { // a second New applies nothing
		if _, err := New(ctx, st.DB(), nil); err != nil {
			t.Fatal(err)
		}
	}
	var tables int
	if err := st.DB().QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('approvals', 'approval_decisions', 'approval_sessions')`).Scan(&tables); err != nil || tables != 3 {
		t.Fatalf("%d approval tables (%v), want 3", tables, err)
	}
	var five int
	if err := st.DB().QueryRow(`SELECT count(*) FROM schema_migrations WHERE version = 5`).Scan(&five); err != nil || five != 1 {
		t.Fatalf("audit's version 5 recorded %d times (%v), want once", five, err)
	}
	var n int
	if err := st.DB().QueryRow(`SELECT count(*) FROM approvals_schema_migrations`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d approval migrations recorded (%v), want 1", n, err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
