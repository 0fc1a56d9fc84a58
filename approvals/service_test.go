package approvals_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardenhq/warden/approvals"
	approvalsqlite "github.com/wardenhq/warden/approvals/sqlite"
	"github.com/wardenhq/warden/audit"
	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
	"github.com/wardenhq/warden/identity"
)

var (
	agent = identity.Principal{Subject: "agent", Groups: []string{"agents"}, Issuer: "local"}
	bob   = identity.Principal{Subject: "bob", Groups: []string{"dba"}, Issuer: "https://idp"}
	carol = identity.Principal{Subject: "carol", Groups: []string{"dba", "ops"}, Issuer: "https://idp"}
	eve   = identity.Principal{Subject: "eve", Groups: []string{"visitors"}, Issuer: "https://idp"}
)

// clock is a settable time for expiry tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type fixture struct {
	s     *approvals.Service
	store approvals.Store
	audit *auditsqlite.Store
	clock *clock
}

func newFixture(t *testing.T, o approvals.Options) *fixture {
	t.Helper()
	st, err := auditsqlite.Open(context.Background(), filepath.Join(t.TempDir(), "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	as, err := approvalsqlite.New(context.Background(), st.DB(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Now()}
	o.Store, o.Recorder = as, st
	if o.Now == nil {
		o.Now = c.now
	}
	if o.Wait == 0 {
		o.Wait = 50 * time.Millisecond
	}
	o.PollInterval = 20 * time.Millisecond
	if len(o.Approvers.Groups) == 0 {
		o.Approvers = approvals.Approvers{Groups: []string{"dba"}}
	}
	s, err := approvals.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{s: s, store: o.Store, audit: st, clock: c}
}

func request(sql string) approvals.Request {
	args, _ := json.Marshal(map[string]any{"connection": "pg", "sql": sql, "justification": "cleanup"})
	return approvals.Request{Subject: agent.Subject, Groups: agent.Groups, Issuer: agent.Issuer, Connection: "pg", Tool: "run_query",
		Arguments: args, Rule: "writes-need-review", PolicyVersion: "v1", Statement: sql,
		TablesWritten: []string{"orders"}, Kinds: []string{"write"}}
}

func (f *fixture) hold(t *testing.T, req approvals.Request) approvals.Outcome {
	t.Helper()
	out, err := f.s.Hold(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDigestBindsTheExactCall(t *testing.T) {
	base, err := approvals.Digest("agent", "local", "pg", "run_query", json.RawMessage(`{"sql":"DELETE FROM t","connection":"pg"}`), "v1")
	if err != nil {
		t.Fatal(err)
	}
	same, _ := approvals.Digest("agent", "local", "pg", "run_query", json.RawMessage(` { "connection" : "pg", "sql" : "DELETE FROM t" } `), "v1")
	if same != base {
		t.Error("the same arguments in another key order or spacing must have the same digest")
	}
	for name, d := range map[string][]any{
		"subject":        {"bob", "local", "pg", "run_query", `{"sql":"DELETE FROM t","connection":"pg"}`, "v1"},
		"issuer":         {"agent", "https://idp", "pg", "run_query", `{"sql":"DELETE FROM t","connection":"pg"}`, "v1"},
		"connection":     {"agent", "local", "pg2", "run_query", `{"sql":"DELETE FROM t","connection":"pg"}`, "v1"},
		"tool":           {"agent", "local", "pg", "describe_schema", `{"sql":"DELETE FROM t","connection":"pg"}`, "v1"},
		"sql":            {"agent", "local", "pg", "run_query", `{"sql":"DELETE FROM t ","connection":"pg"}`, "v1"},
		"extra argument": {"agent", "local", "pg", "run_query", `{"sql":"DELETE FROM t","connection":"pg","max_rows":1}`, "v1"},
		"number form":    {"agent", "local", "pg", "run_query", `{"sql":"DELETE FROM t","connection":"pg","max_rows":1.0}`, "v1"},
		"policy version": {"agent", "local", "pg", "run_query", `{"sql":"DELETE FROM t","connection":"pg"}`, "v2"},
		"field boundary": {"agentp", "", "g", "run_query", `{"sql":"DELETE FROM t","connection":"pg"}`, "v1"},
	} {
		got, err := approvals.Digest(d[0].(string), d[1].(string), d[2].(string), d[3].(string), json.RawMessage(d[4].(string)), d[5].(string))
		if err != nil {
			t.Fatal(err)
		}
		if got == base {
			t.Errorf("%s: a different call has the same digest", name)
		}
	}
	if _, err := approvals.Digest("a", "", "c", "t", json.RawMessage(`{"a":1} {}`), "v"); err == nil {
		t.Error("two JSON values accepted")
	}
}

func TestHoldApproveRunOnce(t *testing.T) {
	f := newFixture(t, approvals.Options{})
	ctx := context.Background()
	req := request("DELETE FROM orders WHERE id = 1")

	out := f.hold(t, req)
	if out.Approved || out.Approval == nil || out.Approval.State != approvals.StatePending || !strings.Contains(out.Reason, "held for human approval") {
		t.Fatalf("first hold: %+v", out)
	}
	id := out.ID
	if again := f.hold(t, req); again.ID != id || again.Approved {
		t.Fatalf("the same call again must join request %s: %+v", id, again)
	}

	// Who may decide.
	if _, err := f.s.Decide(ctx, agent, id, approvals.VerdictApprove, "", "api"); !errors.Is(err, approvals.ErrNotFound) {
		// the requester sees the request but cannot decide
		if !errors.Is(err, approvals.ErrForbidden) || !strings.Contains(err.Error(), "self-approval") {
			t.Fatalf("self-approval: %v", err)
		}
	}
	if _, err := f.s.Decide(ctx, eve, id, approvals.VerdictApprove, "", "api"); !errors.Is(err, approvals.ErrNotFound) {
		t.Fatalf("an outsider must not even see the request: %v", err)
	}
	a, err := f.s.Decide(ctx, bob, id, approvals.VerdictApprove, "looks fine", "api")
	if err != nil || a.State != approvals.StateApproved || a.Decisions[0].Comment != "looks fine" || a.Decisions[0].Approver != "bob" {
		t.Fatalf("bob approves: %v %+v", err, a)
	}
	if _, err := f.s.Decide(ctx, carol, id, approvals.VerdictDeny, "", "api"); !errors.Is(err, approvals.ErrConflict) {
		t.Fatalf("a decided request cannot be decided again: %v", err)
	}

	// A changed call is another request, never the approved one.
	if other := f.hold(t, request("DELETE FROM orders WHERE id = 2")); other.Approved || other.ID == id {
		t.Fatalf("a changed call was released: %+v", other)
	}
	changed := req
	changed.PolicyVersion = "v2"
	if other := f.hold(t, changed); other.Approved || other.ID == id {
		t.Fatalf("the call under another policy version was released: %+v", other)
	}

	out = f.hold(t, req)
	if !out.Approved || out.ID != id {
		t.Fatalf("the approved call was not released: %+v", out)
	}
	f.s.Finished(ctx, id, approvals.Result{OK: true, AuditID: "evt1"})
	got, _ := f.store.Get(ctx, id)
	if got.State != approvals.StateExecuted || got.AuditID != "evt1" || got.Executed.IsZero() {
		t.Fatalf("after execution: %+v", got)
	}

	// A replay is a new request, never a second run.
	replay := f.hold(t, req)
	if replay.Approved || replay.ID == id || !strings.Contains(replay.Reason, "runs its call once") {
		t.Fatalf("replay: %+v", replay)
	}

	evs, err := f.audit.List(ctx, audit.Filter{Tool: "approval.approve"})
	if err != nil || len(evs) != 3 {
		t.Fatalf("approve events: %v %d", err, len(evs))
	}
	var ok, refused int
	for _, ev := range evs {
		if ev.Approval != id {
			t.Errorf("event %+v: wrong approval", ev)
		}
		switch ev.Status {
		case audit.StatusOK:
			ok++
			if ev.Identity != "bob" || !strings.Contains(string(ev.Arguments), "looks fine") {
				t.Errorf("bob's event: %+v", ev)
			}
		case audit.StatusDenied:
			refused++
			if ev.Identity == "agent" && !strings.Contains(ev.Error, "self-approval") || ev.Identity == "eve" && !strings.Contains(ev.Error, "no such request") {
				t.Errorf("refused attempt: %+v", ev)
			}
		}
	}
	if ok != 1 || refused != 2 {
		t.Errorf("approve events: %d ok, %d refused", ok, refused)
	}
	if evs, _ := f.audit.List(ctx, audit.Filter{Tool: "approval.request"}); len(evs) != 4 {
		t.Errorf("request events: %d, want 4 (first, two changed calls, replay)", len(evs))
	}
}

func TestQuorumCountsDistinctApprovers(t *testing.T) {
	f := newFixture(t, approvals.Options{})
	ctx := context.Background()
	req := request("UPDATE orders SET status = 'x'")
	req.Approvers = approvals.Approvers{Groups: []string{"dba", "ops"}, Quorum: 2}
	id := f.hold(t, req).ID
	a, err := f.s.Decide(ctx, bob, id, approvals.VerdictApprove, "", "api")
	if err != nil || a.State != approvals.StatePending || a.Approvals() != 1 {
		t.Fatalf("first approval: %v %+v", err, a)
	}
	if _, err := f.s.Decide(ctx, bob, id, approvals.VerdictApprove, "", "web"); !errors.Is(err, approvals.ErrConflict) {
		t.Fatalf("the same approver twice: %v", err)
	}
	if out := f.hold(t, req); out.Approved {
		t.Fatal("released with 1 of 2 approvals")
	}
	if a, err = f.s.Decide(ctx, carol, id, approvals.VerdictApprove, "", "web"); err != nil || a.State != approvals.StateApproved {
		t.Fatalf("second approval: %v %+v", err, a)
	}
	if out := f.hold(t, req); !out.Approved {
		t.Fatalf("quorum reached but not released: %+v", out)
	}
}

func TestDenied(t *testing.T) {
	f := newFixture(t, approvals.Options{})
	req := request("DELETE FROM orders")
	id := f.hold(t, req).ID
	if _, err := f.s.Decide(context.Background(), bob, id, approvals.VerdictDeny, "not in business hours", "api"); err != nil {
		t.Fatal(err)
	}
	out := f.hold(t, req)
	if out.Approved || out.ID != id || !strings.Contains(out.Reason, "denied by bob: not in business hours") {
		t.Fatalf("after a denial: %+v", out)
	}
}

func TestExpiry(t *testing.T) {
	f := newFixture(t, approvals.Options{TTL: time.Minute})
	ctx := context.Background()
	req := request("DELETE FROM orders")
	id := f.hold(t, req).ID
	f.clock.add(2 * time.Minute)
	if _, err := f.s.Decide(ctx, bob, id, approvals.VerdictApprove, "", "api"); !errors.Is(err, approvals.ErrConflict) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("approving an expired request: %v", err)
	}
	a, _ := f.store.Get(ctx, id)
	if a.State != approvals.StateExpired {
		t.Fatalf("state %s", a.State)
	}
	// An approved request not used before its expiry expires too.
	id2 := f.hold(t, req).ID
	if id2 == id {
		t.Fatal("an expired request was reused")
	}
	if _, err := f.s.Decide(ctx, bob, id2, approvals.VerdictApprove, "", "api"); err != nil {
		t.Fatal(err)
	}
	f.clock.add(2 * time.Minute)
	if out := f.hold(t, req); out.Approved || out.ID == id2 {
		t.Fatalf("an approval past its expiry was released: %+v", out)
	}
	f.s.ExpireDue(ctx)
	if a, _ := f.store.Get(ctx, id2); a.State != approvals.StateExpired {
		t.Errorf("sweeper: state %s", a.State)
	}
	// One event for the request expired when someone tried to approve it,
	// one for the request the sweeper found.
	if evs, _ := f.audit.List(ctx, audit.Filter{Tool: "approval.expire"}); len(evs) != 2 || evs[0].Approval != id2 || evs[1].Approval != id {
		t.Errorf("expire events: %+v", evs)
	}
}

func TestHoldWakesOnDecision(t *testing.T) {
	f := newFixture(t, approvals.Options{Wait: 30 * time.Second, PollInterval: time.Hour})
	req := request("DELETE FROM orders")
	var progress atomic.Int32
	ctx := approvals.WithProgress(context.Background(), func(p, total float64, msg string) {
		if total != 30 || !strings.Contains(msg, "waiting for approval") {
			t.Errorf("progress %v/%v %q", p, total, msg)
		}
		progress.Add(1)
	})
	done := make(chan approvals.Outcome)
	go func() {
		out, err := f.s.Hold(ctx, req)
		if err != nil {
			t.Error(err)
		}
		done <- out
	}()
	var id string
	for range 100 {
		list, _ := f.store.List(context.Background(), approvals.Filter{})
		if len(list) == 1 && progress.Load() > 0 {
			id = list[0].ID
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	if _, err := f.s.Decide(context.Background(), bob, id, approvals.VerdictApprove, "", "api"); err != nil {
		t.Fatal(err)
	}
	select {
	case out := <-done:
		if !out.Approved || time.Since(start) > 5*time.Second {
			t.Fatalf("%+v after %s", out, time.Since(start))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the held call did not wake up")
	}
	if progress.Load() == 0 {
		t.Error("no progress reported while waiting")
	}
}

func TestReleasedOnceUnderConcurrency(t *testing.T) {
	f := newFixture(t, approvals.Options{})
	req := request("DELETE FROM orders")
	id := f.hold(t, req).ID
	f.s.Decide(context.Background(), bob, id, approvals.VerdictApprove, "", "api")
	var released atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := f.s.Hold(context.Background(), req); err == nil && out.Approved {
				released.Add(1)
			}
		}()
	}
	wg.Wait()
	if released.Load() != 1 {
		t.Fatalf("released %d times", released.Load())
	}
}

func TestTamperedRequestIsNeverReleased(t *testing.T) {
	f := newFixture(t, approvals.Options{})
	ctx := context.Background()
	req := request("DELETE FROM orders WHERE id = 1")
	id := f.hold(t, req).ID
	f.s.Decide(ctx, bob, id, approvals.VerdictApprove, "", "api")
	// Someone with write access to the store swaps the approved SQL.
	if _, err := f.audit.DB().Exec(`UPDATE approvals SET arguments = ? WHERE id = ?`, `{"connection":"pg","sql":"DELETE FROM orders"}`, id); err != nil {
		t.Fatal(err)
	}
	out := f.hold(t, req)
	if out.Approved || out.ID == id {
		t.Fatalf("a tampered request was released: %+v", out)
	}
	a, _ := f.store.Get(ctx, id)
	if a.State != approvals.StateFailed || !strings.Contains(a.Error, "digest") {
		t.Fatalf("tampered request: %+v", a)
	}
}

func TestNoApproversRefuses(t *testing.T) {
	f := newFixture(t, approvals.Options{})
	s, err := approvals.New(approvals.Options{Store: f.store, Recorder: f.audit})
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Hold(context.Background(), request("DELETE FROM orders"))
	if err != nil {
		t.Fatal(err)
	}
	if out.Approved || out.ID != "" || !strings.Contains(out.Reason, "names no approvers") {
		t.Fatalf("%+v", out)
	}
}
