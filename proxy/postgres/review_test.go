package postgres_test

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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
    tables: {read: ["public.*"], write: ["public.orders"]}
    approvers: {groups: [dba]}
`

// TestReviewHold: a statement policy sends to review is held: while it
// waits the client gets a NoticeResponse naming the approval request;
// after the wait it fails with that id. Once a person approves, the same
// statement (same text, same parameters) runs, once.
func TestReviewHold(t *testing.T) {
	var svc *approvals.Service
	h := newHarness(t, harnessOptions{setup: shopSetup, rules: reviewRules, holder: func(store *auditsqlite.Store) approvals.Holder {
		as, err := approvalsqlite.New(context.Background(), store.DB(), nil)
		if err != nil {
			t.Fatal(err)
		}
		s, err := approvals.New(approvals.Options{Store: as, Recorder: store,
			Wait: 2 * time.Second, PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		svc = s
		return s
	}})
	ctx := context.Background()
	cfg, _ := pgx.ParseConfig(h.dsn("bob"))
	var mu sync.Mutex
	var notices []string
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		notices = append(notices, n.Message)
		mu.Unlock()
	}
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, "DELETE FROM orders WHERE id = $1", 7)
	if err == nil {
		t.Fatal("a statement held for review ran")
	}
	id := regexp.MustCompile(`request (\S+) `).FindStringSubmatch(err.Error())
	if id == nil {
		t.Fatalf("the error does not name the approval request: %v", err)
	}
	mu.Lock()
	joined := strings.Join(notices, "\n")
	mu.Unlock()
	if !strings.Contains(joined, id[1]) {
		t.Fatalf("no NoticeResponse named request %s while waiting: %q", id[1], joined)
	}
	// Still usable.
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil || n != 100 {
		t.Fatalf("after the hold: %d %v", n, err)
	}
	dba := identity.Principal{Subject: "carol", Groups: []string{"dba"}, Issuer: "test"}
	if _, err := svc.Decide(ctx, dba, id[1], approvals.VerdictApprove, "ok", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "DELETE FROM orders WHERE id = $1", 7); err != nil {
		t.Fatalf("the approved statement: %v", err)
	}
	h.admin().QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n)
	if n != 99 {
		t.Fatalf("%d orders after the approved delete", n)
	}
	// Another value is another call: held again.
	if _, err := c.Exec(ctx, "DELETE FROM orders WHERE id = $1", 8); err == nil {
		t.Fatal("an approval released a statement with other parameters")
	}
}
