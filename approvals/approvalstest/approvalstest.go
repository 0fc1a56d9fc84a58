package approvalstest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardenhq/warden/approvals"
)

// Run runs the contract suite. fresh makes a new, empty database and
// returns a function that opens a store on it: each call another store on
// that one database, as each Warden process sharing it opens its own. The
// stores must be released when t ends (t.Cleanup). Times are compared to
// the microsecond.
func Run(t *testing.T, fresh func(t *testing.T) func() approvals.Store) {
	for _, tt := range []struct {
		name string
		run  func(*testing.T, func() approvals.Store)
	}{
		{"CreateGet", testCreateGet},
		{"Latest", testLatest},
		{"List", testList},
		{"DecideQuorum", testDecideQuorum},
		{"DecideDeny", testDecideDeny},
		{"DecideCheck", testDecideCheck},
		{"DecideExpired", testDecideExpired},
		{"ConsumeOnce", testConsumeOnce},
		{"ConcurrentConsume", testConcurrentConsume},
		{"FinishAndFail", testFinishAndFail},
		{"ExpireDue", testExpireDue},
		{"Sessions", testSessions},
	} {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, fresh(t)) })
	}
}

// base is a fixed time, to the microsecond.
func base() time.Time { return time.Date(2026, 6, 1, 10, 0, 0, 123456000, time.UTC) }

var ctx = context.Background()

// request is a pending request, created at created, expiring an hour
// later, needing quorum approvals from group dba.
func request(digest string, created time.Time, quorum int) *approvals.Approval {
	return &approvals.Approval{
		ID: "apr_" + rand.Text()[:20], State: approvals.StatePending, Digest: digest,
		Requester:  approvals.Requester{Subject: "agent", Groups: []string{"agents"}, Issuer: "local", Session: "s1", Transport: "stdio"},
		Connection: "pg", Tool: "run_query", Arguments: json.RawMessage(`{"connection":"pg", "sql":"DELETE FROM orders WHERE id = 1"}`),
		Statement: "DELETE FROM orders WHERE id = 1", Justification: "cleanup", Rule: "writes-need-review", Reason: "a write",
		PolicyVersion: "v1", Kinds: []string{"write"}, TablesRead: []string{"orders"}, TablesWritten: []string{"orders"},
		Approvers: approvals.Approvers{Groups: []string{"dba"}, Quorum: quorum},
		Decisions: []approvals.Decision{}, Created: created, Expires: created.Add(time.Hour),
	}
}

func decision(approver, verdict string, at time.Time) approvals.Decision {
	return approvals.Decision{Approver: approver, Issuer: "https://idp", Groups: []string{"dba"}, Verdict: verdict, Comment: "by " + approver, Time: at, Via: "api"}
}

func allowed(*approvals.Approval) error { return nil }

func create(t *testing.T, s approvals.Store, a *approvals.Approval) *approvals.Approval {
	t.Helper()
	if err := s.Create(ctx, a); err != nil {
		t.Fatalf("Create: %v", err)
	}
	return a
}

func get(t *testing.T, s approvals.Store, id string) *approvals.Approval {
	t.Helper()
	a, err := s.Get(ctx, id)
	if err != nil {
		t.Fatalf("Get %s: %v", id, err)
	}
	return a
}

func decide(t *testing.T, s approvals.Store, id string, d approvals.Decision) *approvals.Approval {
	t.Helper()
	a, err := s.Decide(ctx, id, d, allowed)
	if err != nil {
		t.Fatalf("Decide %s by %s: %v", id, d.Approver, err)
	}
	return a
}

// assertApprovalEqual fails unless got is want, times to the microsecond.
func assertApprovalEqual(t *testing.T, got, want *approvals.Approval) {
	t.Helper()
	g, w := *got, *want
	for _, tm := range []struct {
		name      string
		got, want *time.Time
	}{{"created", &g.Created, &w.Created}, {"expires", &g.Expires, &w.Expires}, {"decided", &g.Decided, &w.Decided}, {"executed", &g.Executed, &w.Executed}} {
		if !tm.got.Truncate(time.Microsecond).Equal(tm.want.Truncate(time.Microsecond)) {
			t.Errorf("request %s: %s = %v, want %v", w.ID, tm.name, *tm.got, *tm.want)
		}
		*tm.got, *tm.want = time.Time{}, time.Time{}
	}
	g.Decisions, w.Decisions = append([]approvals.Decision{}, g.Decisions...), append([]approvals.Decision{}, w.Decisions...)
	for i := range min(len(g.Decisions), len(w.Decisions)) {
		if !g.Decisions[i].Time.Truncate(time.Microsecond).Equal(w.Decisions[i].Time.Truncate(time.Microsecond)) {
			t.Errorf("request %s: decision %d time = %v, want %v", w.ID, i, g.Decisions[i].Time, w.Decisions[i].Time)
		}
		g.Decisions[i].Time, w.Decisions[i].Time = time.Time{}, time.Time{}
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("request:\n got  %+v\n want %+v", g, w)
	}
}

func testCreateGet(t *testing.T, open func() approvals.Store) {
	s := open()
	a := create(t, s, request("d1", base(), 1))
	got := get(t, s, a.ID)
	if got.Decisions == nil {
		t.Error("Decisions of a new request is nil, want empty")
	}
	assertApprovalEqual(t, got, a)
	if err := s.Create(ctx, request("d1", base(), 1)); err != nil {
		t.Fatalf("a second request with the same digest: %v", err)
	}
	dup := request("d2", base(), 1)
	dup.ID = a.ID
	if err := s.Create(ctx, dup); err == nil {
		t.Error("a second request with the same ID was accepted")
	}
	assertApprovalEqual(t, get(t, s, a.ID), a)
	if _, err := s.Get(ctx, "apr_nosuchrequest000000"); !errors.Is(err, approvals.ErrNotFound) {
		t.Errorf("Get of an unknown request = %v, want ErrNotFound", err)
	}
}

func testLatest(t *testing.T, open func() approvals.Store) {
	s := open()
	old := create(t, s, request("d1", base(), 1))
	decide(t, s, old.ID, decision("bob", approvals.VerdictApprove, base().Add(time.Second)))
	newer := create(t, s, request("d1", base().Add(time.Minute), 2))
	create(t, s, request("d2", base().Add(2*time.Minute), 1))
	got, err := s.Latest(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	assertApprovalEqual(t, got, newer)
	if _, err := s.Latest(ctx, "no-such-digest"); !errors.Is(err, approvals.ErrNotFound) {
		t.Errorf("Latest of an unknown digest = %v, want ErrNotFound", err)
	}
	// Decisions come with a request.
	decide(t, s, newer.ID, decision("carol", approvals.VerdictApprove, base().Add(3*time.Minute)))
	if got, err := s.Latest(ctx, "d1"); err != nil || len(got.Decisions) != 1 || got.Decisions[0].Approver != "carol" {
		t.Fatalf("Latest after a decision: %+v, %v", got, err)
	}
	if o, err := s.Get(ctx, old.ID); err != nil || len(o.Decisions) != 1 || o.Decisions[0].Approver != "bob" {
		t.Fatalf("Get of the decided one: %+v, %v", o, err)
	}
}

func testList(t *testing.T, open func() approvals.Store) {
	s := open()
	// a..e created a minute apart: b approved, c denied, e by another requester.
	ids := map[string]string{}
	for i, name := range []string{"a", "b", "c", "d", "e"} {
		a := request("d-"+name, base().Add(time.Duration(i)*time.Minute), 1)
		if name == "e" {
			a.Requester.Subject = "other-agent"
		}
		create(t, s, a)
		ids[a.ID] = name
		switch name {
		case "b":
			decide(t, s, a.ID, decision("bob", approvals.VerdictApprove, base().Add(10*time.Minute)))
		case "c":
			decide(t, s, a.ID, decision("bob", approvals.VerdictDeny, base().Add(10*time.Minute)))
		}
	}
	for _, tt := range []struct {
		name string
		f    approvals.Filter
		want string
	}{
		{"all", approvals.Filter{}, "edcba"},
		{"pending", approvals.Filter{States: []approvals.State{approvals.StatePending}}, "eda"},
		{"approved or denied", approvals.Filter{States: []approvals.State{approvals.StateApproved, approvals.StateDenied}}, "cb"},
		{"subject", approvals.Filter{Subject: "agent"}, "dcba"},
		{"subject and state", approvals.Filter{Subject: "agent", States: []approvals.State{approvals.StatePending}}, "da"},
		{"limit", approvals.Filter{Limit: 2}, "ed"},
		{"limit past the most", approvals.Filter{Limit: 5000}, "edcba"},
		{"none", approvals.Filter{Subject: "nobody"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			list, err := s.List(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			for _, a := range list {
				got += ids[a.ID]
				if a.Decisions == nil {
					t.Errorf("%s: Decisions nil", a.ID)
				}
				if ids[a.ID] == "b" && (len(a.Decisions) != 1 || a.Decisions[0].Approver != "bob") {
					t.Errorf("b listed without its decision: %+v", a.Decisions)
				}
			}
			if got != tt.want {
				t.Errorf("List(%+v) = %q, want %q", tt.f, got, tt.want)
			}
		})
	}
}

// A quorum of two needs two distinct approvers; each decides once; the
// request settles at the second, and takes no more verdicts.
func testDecideQuorum(t *testing.T, open func() approvals.Store) {
	s := open()
	a := create(t, s, request("d1", base(), 2))
	first := decision("bob", approvals.VerdictApprove, base().Add(time.Minute))
	got := decide(t, s, a.ID, first)
	if got.State != approvals.StatePending || len(got.Decisions) != 1 || !got.Decided.IsZero() {
		t.Fatalf("after one of two approvals: %+v", got)
	}
	if _, err := s.Decide(ctx, a.ID, decision("bob", approvals.VerdictApprove, base().Add(2*time.Minute)), allowed); !errors.Is(err, approvals.ErrConflict) {
		t.Fatalf("the same approver twice = %v, want ErrConflict", err)
	}
	second := decision("carol", approvals.VerdictApprove, base().Add(3*time.Minute))
	got = decide(t, s, a.ID, second)
	want := *a
	want.State, want.Decided, want.Decisions = approvals.StateApproved, second.Time, []approvals.Decision{first, second}
	assertApprovalEqual(t, got, &want)
	assertApprovalEqual(t, get(t, s, a.ID), &want)
	late, err := s.Decide(ctx, a.ID, decision("dave", approvals.VerdictDeny, base().Add(4*time.Minute)), allowed)
	if !errors.Is(err, approvals.ErrConflict) || late == nil || late.State != approvals.StateApproved {
		t.Fatalf("a verdict on an approved request = %+v, %v; want ErrConflict with the request", late, err)
	}
	assertApprovalEqual(t, get(t, s, a.ID), &want)
	if _, err := s.Decide(ctx, "apr_nosuchrequest000000", first, allowed); !errors.Is(err, approvals.ErrNotFound) {
		t.Errorf("Decide of an unknown request = %v, want ErrNotFound", err)
	}
}

// The first deny settles a request, whatever the quorum.
func testDecideDeny(t *testing.T, open func() approvals.Store) {
	s := open()
	a := create(t, s, request("d1", base(), 3))
	decide(t, s, a.ID, decision("bob", approvals.VerdictApprove, base().Add(time.Minute)))
	d := decision("carol", approvals.VerdictDeny, base().Add(2*time.Minute))
	got := decide(t, s, a.ID, d)
	if got.State != approvals.StateDenied || !got.Decided.Equal(d.Time) || len(got.Decisions) != 2 {
		t.Fatalf("after a deny: %+v", got)
	}
	if g := get(t, s, a.ID); g.State != approvals.StateDenied {
		t.Fatalf("stored state %q, want denied", g.State)
	}
}

// check sees the request as stored; its error stops the decision.
func testDecideCheck(t *testing.T, open func() approvals.Store) {
	s := open()
	a := create(t, s, request("d1", base(), 1))
	errNo := errors.New("not an approver")
	var seen *approvals.Approval
	got, err := s.Decide(ctx, a.ID, decision("eve", approvals.VerdictApprove, base().Add(time.Minute)), func(cur *approvals.Approval) error {
		seen = cur
		return errNo
	})
	if !errors.Is(err, errNo) || got == nil || got.ID != a.ID {
		t.Fatalf("Decide with a failing check = %+v, %v; want the check's error with the request", got, err)
	}
	if seen == nil || seen.ID != a.ID || seen.Requester.Subject != "agent" {
		t.Fatalf("check saw %+v", seen)
	}
	assertApprovalEqual(t, get(t, s, a.ID), a)
}

// A decision at or after the expiry marks the request expired instead.
func testDecideExpired(t *testing.T, open func() approvals.Store) {
	s := open()
	a := create(t, s, request("d1", base(), 1))
	called := false
	got, err := s.Decide(ctx, a.ID, decision("bob", approvals.VerdictApprove, a.Expires), func(*approvals.Approval) error {
		called = true
		return nil
	})
	var expired approvals.ExpiredError
	if !errors.Is(err, approvals.ErrConflict) || !errors.As(err, &expired) || !expired.At.Equal(a.Expires) {
		t.Fatalf("Decide at the expiry = %v, want an ExpiredError at %v", err, a.Expires)
	}
	if called {
		t.Error("check was called on an expired request")
	}
	if got == nil || got.State != approvals.StateExpired {
		t.Fatalf("returned %+v, want the request, expired", got)
	}
	if g := get(t, s, a.ID); g.State != approvals.StateExpired || len(g.Decisions) != 0 {
		t.Fatalf("stored: %+v, want expired without decisions", g)
	}
}

// An approved request is released once: a replayed approval fails, and
// so does one for another digest, one not yet approved, one expired.
func testConsumeOnce(t *testing.T, open func() approvals.Store) {
	s := open()
	a := create(t, s, request("d1", base(), 1))
	now := base().Add(time.Minute)
	if won, err := s.Consume(ctx, a.ID, a.Digest, now); err != nil || won {
		t.Fatalf("Consume of a pending request = %v, %v; want false", won, err)
	}
	decide(t, s, a.ID, decision("bob", approvals.VerdictApprove, now))
	if won, err := s.Consume(ctx, a.ID, "other-digest", now); err != nil || won {
		t.Fatalf("Consume with another digest = %v, %v; want false", won, err)
	}
	if won, err := s.Consume(ctx, a.ID, a.Digest, a.Expires); err != nil || won {
		t.Fatalf("Consume at the expiry = %v, %v; want false", won, err)
	}
	if won, err := s.Consume(ctx, a.ID, a.Digest, now); err != nil || !won {
		t.Fatalf("Consume = %v, %v; want true", won, err)
	}
	g := get(t, s, a.ID)
	if g.State != approvals.StateExecuted || !g.Executed.Equal(now) {
		t.Fatalf("after Consume: state %q executed %v", g.State, g.Executed)
	}
	if won, err := s.Consume(ctx, a.ID, a.Digest, now.Add(time.Second)); err != nil || won {
		t.Fatalf("a replayed Consume = %v, %v; want false", won, err)
	}
	if won, err := s.Consume(ctx, "apr_nosuchrequest000000", a.Digest, now); err != nil || won {
		t.Fatalf("Consume of an unknown request = %v, %v; want false, nil", won, err)
	}
}

// Two stores on one database (two Warden processes), many callers each:
// exactly one release.
func testConcurrentConsume(t *testing.T, open func() approvals.Store) {
	stores := []approvals.Store{open(), open()}
	for round := range 5 {
		a := create(t, stores[0], request(fmt.Sprintf("d%d", round), base(), 1))
		decide(t, stores[1], a.ID, decision("bob", approvals.VerdictApprove, base().Add(time.Minute)))
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				won, err := stores[i%2].Consume(ctx, a.ID, a.Digest, base().Add(2*time.Minute))
				if err != nil {
					t.Errorf("Consume: %v", err)
				}
				if won {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("round %d: %d callers released the approved call, want exactly 1", round, n)
		}
	}
}

func testFinishAndFail(t *testing.T, open func() approvals.Store) {
	s := open()
	now := base().Add(time.Minute)
	released := func() *approvals.Approval {
		t.Helper()
		a := create(t, s, request("d", base(), 1))
		decide(t, s, a.ID, decision("bob", approvals.VerdictApprove, now))
		if won, err := s.Consume(ctx, a.ID, a.Digest, now); err != nil || !won {
			t.Fatalf("Consume = %v, %v", won, err)
		}
		return a
	}
	ok := released()
	if err := s.Finish(ctx, ok.ID, approvals.Result{OK: true, AuditID: "evt-1"}); err != nil {
		t.Fatal(err)
	}
	if g := get(t, s, ok.ID); g.State != approvals.StateExecuted || g.AuditID != "evt-1" || g.Error != "" {
		t.Fatalf("after a successful run: %+v", g)
	}
	bad := released()
	if err := s.Finish(ctx, bad.ID, approvals.Result{AuditID: "evt-2", Error: "relation does not exist"}); err != nil {
		t.Fatal(err)
	}
	if g := get(t, s, bad.ID); g.State != approvals.StateFailed || g.AuditID != "evt-2" || g.Error != "relation does not exist" {
		t.Fatalf("after a failed run: %+v", g)
	}
	// Finish changes an executed request only.
	pending := create(t, s, request("p", base(), 1))
	if err := s.Finish(ctx, pending.ID, approvals.Result{OK: true, AuditID: "evt-3"}); err != nil {
		t.Fatal(err)
	}
	assertApprovalEqual(t, get(t, s, pending.ID), pending)

	// Fail changes an open request only.
	if err := s.Fail(ctx, pending.ID, "digest mismatch"); err != nil {
		t.Fatal(err)
	}
	if g := get(t, s, pending.ID); g.State != approvals.StateFailed || g.Error != "digest mismatch" {
		t.Fatalf("after Fail: %+v", g)
	}
	approved := create(t, s, request("a", base(), 1))
	decide(t, s, approved.ID, decision("bob", approvals.VerdictApprove, now))
	if err := s.Fail(ctx, approved.ID, "digest mismatch"); err != nil {
		t.Fatal(err)
	}
	if g := get(t, s, approved.ID); g.State != approvals.StateFailed {
		t.Fatalf("an approved request after Fail: %q, want failed", g.State)
	}
	before := get(t, s, ok.ID)
	if err := s.Fail(ctx, ok.ID, "too late"); err != nil {
		t.Fatal(err)
	}
	assertApprovalEqual(t, get(t, s, ok.ID), before)
}

// Open requests past their expiry are expired, each returned by one
// call only, also when two stores sweep at once; the others stay.
func testExpireDue(t *testing.T, open func() approvals.Store) {
	stores := []approvals.Store{open(), open()}
	s := stores[0]
	now := base().Add(2 * time.Hour)
	due := map[string]bool{}
	for i := range 10 {
		a := request(fmt.Sprintf("d%d", i), base(), 1)
		if i%2 == 1 {
			a.Expires = now.Add(time.Hour) // not yet
		}
		create(t, s, a)
		if i%4 == 0 {
			decide(t, s, a.ID, decision("bob", approvals.VerdictApprove, base().Add(time.Minute)))
		}
		if i%2 == 0 {
			due[a.ID] = true
		}
	}
	denied := create(t, s, request("denied", base(), 1))
	decide(t, s, denied.ID, decision("bob", approvals.VerdictDeny, base().Add(time.Minute)))

	var mu sync.Mutex
	returned := map[string]int{}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			list, err := stores[i%2].ExpireDue(ctx, now)
			if err != nil {
				t.Errorf("ExpireDue: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, a := range list {
				returned[a.ID]++
				if a.State != approvals.StateExpired {
					t.Errorf("%s returned as %q, want expired", a.ID, a.State)
				}
			}
		})
	}
	wg.Wait()
	for id := range due {
		if returned[id] != 1 {
			t.Errorf("request %s due: returned %d times, want once", id, returned[id])
		}
		if g := get(t, s, id); g.State != approvals.StateExpired {
			t.Errorf("request %s: %q, want expired", id, g.State)
		}
	}
	if len(returned) != len(due) {
		t.Errorf("%d requests expired, want %d", len(returned), len(due))
	}
	if g := get(t, s, denied.ID); g.State != approvals.StateDenied {
		t.Errorf("a denied request became %q", g.State)
	}
	if list, err := s.ExpireDue(ctx, now); err != nil || len(list) != 0 {
		t.Errorf("a second sweep = %d requests, %v; want none", len(list), err)
	}
}

func testSessions(t *testing.T, open func() approvals.Store) {
	s := open()
	now := base()
	ws := approvals.WebSession{Subject: "bob", Issuer: "https://idp", Groups: []string{"dba"}, CSRF: "csrf-1", Expires: now.Add(time.Hour)}
	if err := s.CreateSession(ctx, "hash-1", ws, now); err != nil {
		t.Fatal(err)
	}
	old := approvals.WebSession{Subject: "carol", CSRF: "csrf-2", Expires: now.Add(time.Minute)}
	if err := s.CreateSession(ctx, "hash-2", old, now); err != nil {
		t.Fatal(err)
	}
	got, err := s.Session(ctx, "hash-1", now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != ws.Subject || got.Issuer != ws.Issuer || !reflect.DeepEqual(got.Groups, ws.Groups) || got.CSRF != ws.CSRF || !got.Expires.Equal(ws.Expires) {
		t.Fatalf("Session = %+v, want %+v", got, ws)
	}
	if _, err := s.Session(ctx, "hash-2", now.Add(time.Minute)); !errors.Is(err, approvals.ErrNotFound) {
		t.Errorf("an expired session = %v, want ErrNotFound", err)
	}
	if _, err := s.Session(ctx, "no-such-hash", now); !errors.Is(err, approvals.ErrNotFound) {
		t.Errorf("an unknown session = %v, want ErrNotFound", err)
	}
	if err := s.DeleteSession(ctx, "hash-1", now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"hash-1", "hash-2"} {
		if _, err := s.Session(ctx, h, now); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("session %s after DeleteSession = %v, want gone", h, err)
		}
	}
}
