package mysql_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/wardenhq/warden/approvals"
	approvalsqlite "github.com/wardenhq/warden/approvals/sqlite"
	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
	"github.com/wardenhq/warden/identity"
)

const reviewRules = readRules + `
  - name: writers-read
    subjects: {groups: [writers]}
    tools: [run_query]
    effect: allow
  - name: deletes-need-review
    subjects: {groups: [writers]}
    tools: [run_query]
    effect: review
    read_only: false
    statements: [write]
    tables: {read: ["*"], write: ["items"]}
    approvers: {groups: [dba]}
`

// TestReviewHold: a statement policy sends to review is held and fails,
// after the wait, with 1142 naming the approval request; the connection
// stays usable; once a person approves, the same statement runs, once, as
// a user with the rule's write grants.
func TestReviewHold(t *testing.T) {
	var svc *approvals.Service
	h := newHarness(t, harnessOptions{setup: itemsSetup, rules: reviewRules, holder: func(store *auditsqlite.Store) approvals.Holder {
		as, err := approvalsqlite.New(context.Background(), store.DB(), nil)
		if err != nil {
			t.Fatal(err)
		}
		s, err := approvals.New(approvals.Options{Store: as, Recorder: store, Wait: 2 * time.Second, PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		svc = s
		return s
	}})
	ctx := context.Background()
	db := h.open("bob")
	_, err := db.ExecContext(ctx, "DELETE FROM items WHERE id = 2")
	me := mysqlErr(t, err)
	id := regexp.MustCompile(`request (\S+) `).FindStringSubmatch(me.Message)
	if me.Number != 1142 || id == nil {
		t.Fatalf("a held statement: %d %q", me.Number, me.Message)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM items").Scan(&n); err != nil || n != 2 {
		t.Fatalf("after the hold: %d %v", n, err)
	}
	dba := identity.Principal{Subject: "dave", Groups: []string{"dba"}, Issuer: "test"}
	if _, err := svc.Decide(ctx, dba, id[1], approvals.VerdictApprove, "ok", "test"); err != nil {
		t.Fatal(err)
	}
	res, err := db.ExecContext(ctx, "DELETE FROM items WHERE id = 2")
	if err != nil {
		t.Fatalf("the approved statement: %v", err)
	}
	if k, _ := res.RowsAffected(); k != 1 {
		t.Errorf("rows affected %d", k)
	}
	h.admin().QueryRow("SELECT count(*) FROM items").Scan(&n)
	if n != 1 {
		t.Fatalf("%d items after the approved delete", n)
	}
	// Approved once: the same statement is held again.
	if _, err := db.ExecContext(ctx, "DELETE FROM items WHERE id = 2"); err == nil {
		t.Fatal("an approval released a statement twice")
	}
}
