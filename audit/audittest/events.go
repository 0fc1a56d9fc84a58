package audittest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardenhq/warden/audit"
)

// An intent is readable as running once Begin returns; Finish completes
// it; both read back exactly as written.
func testBeginFinishGet(t *testing.T, s audit.Store) {
	ctx := testContext(t)
	e := sampleEvent()
	before := time.Now().UTC()
	if err := s.Begin(ctx, e); err != nil {
		t.Fatalf("Begin: %v", err)
	}
	if len(e.ID) != audit.IDLen || e.Status != audit.StatusRunning || e.Time.Before(before.Truncate(time.Millisecond)) || e.Time.Location() != time.UTC {
		t.Fatalf("Begin did not stamp the event: id %q status %q time %v", e.ID, e.Status, e.Time)
	}
	assertEventEqual(t, get(t, s, e.ID), *e)

	e.Status = audit.StatusOK
	e.Duration = 1234567 * time.Microsecond
	e.Rows = 50
	e.Truncated = true
	e.Masked = map[string]int64{"email": 50, "public.customers.card_number": 3}
	e.Credential = "lease-01J0ABC"
	e.Approval = "appr-7"
	if err := s.Finish(ctx, e); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	assertEventEqual(t, get(t, s, e.ID), *e)
}

// Finish with only the outcome keeps decision, rule, reason and
// credential from Begin; a later Finish (an approval) may change them.
func testFinishKeepsWhatBeginKnew(t *testing.T, s audit.Store) {
	ctx := testContext(t)
	e := sampleEvent()
	e.Decision = audit.DecisionReview
	e.Credential = "static"
	if err := s.Begin(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, &audit.Event{ID: e.ID, Status: audit.StatusFailed, Error: `relation "x" does not exist`}); err != nil {
		t.Fatal(err)
	}
	want := *e
	want.Status, want.Error = audit.StatusFailed, `relation "x" does not exist`
	assertEventEqual(t, get(t, s, e.ID), want)

	if err := s.Finish(ctx, &audit.Event{ID: e.ID, Status: audit.StatusOK, Decision: audit.DecisionAllow, Approval: "appr-1"}); err != nil {
		t.Fatal(err)
	}
	got := get(t, s, e.ID)
	if got.Status != audit.StatusOK || got.Decision != audit.DecisionAllow || got.Approval != "appr-1" || got.Rule != e.Rule || got.Error != "" || got.Credential != "static" {
		t.Errorf("after a second Finish: status %q decision %q approval %q rule %q error %q credential %q",
			got.Status, got.Decision, got.Approval, got.Rule, got.Error, got.Credential)
	}
}

// A refused call is recorded in one step, complete, its time kept as an
// instant in UTC and its ID starting with that time.
func testRecordRefusedCall(t *testing.T, s audit.Store) {
	ctx := testContext(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.FixedZone("CET", 3600))
	e := &audit.Event{
		Time: at, Identity: "bob", Tool: "run_query", Connection: "prod-pg", Transport: audit.TransportStdio,
		Arguments: json.RawMessage(`{"sql":"drop table customers"}`), Statement: "drop table customers",
		Decision: audit.DecisionDeny, Rule: "no-ddl", Reason: "DDL is not allowed through Warden",
		Status: audit.StatusDenied,
	}
	if err := s.Record(ctx, e); err != nil {
		t.Fatalf("Record: %v", err)
	}
	if !e.Time.Equal(at) || e.Time.Location() != time.UTC {
		t.Errorf("Record changed the instant or kept the zone: %v", e.Time)
	}
	if ms, ok := audit.IDMillis(e.ID); !ok || ms != uint64(at.UnixMilli()) {
		t.Errorf("id %s does not start with the event's time", e.ID)
	}
	got := get(t, s, e.ID)
	assertEventEqual(t, got, *e)
	if got.Masked != nil || got.Groups != nil {
		t.Errorf("empty masked/groups read back as %v / %v, want nil", got.Masked, got.Groups)
	}
}

func testBadWrites(t *testing.T, s audit.Store) {
	ctx := testContext(t)
	tests := []struct {
		name    string
		write   func() error
		wantErr error  // errors.Is target, or nil
		wantMsg string // substring
	}{
		{"finish without id", func() error { return s.Finish(ctx, &audit.Event{Status: audit.StatusOK}) }, nil, "no id"},
		{"finish still running", func() error { return s.Finish(ctx, &audit.Event{ID: "x", Status: audit.StatusRunning}) }, nil, "not an outcome"},
		{"finish unknown id", func() error {
			return s.Finish(ctx, &audit.Event{ID: "01JZZZZZZZZZZZZZZZZZZZZZZZ", Status: audit.StatusOK})
		}, audit.ErrNotFound, "01JZZ"},
		{"record without outcome", func() error { return s.Record(ctx, &audit.Event{Tool: "run_query"}) }, nil, "not an outcome"},
		{"record running", func() error { return s.Record(ctx, &audit.Event{Status: audit.StatusRunning}) }, nil, "not an outcome"},
		{"arguments not json", func() error { return s.Begin(ctx, &audit.Event{Arguments: json.RawMessage(`{"sql":`)}) }, nil, "not valid JSON"},
		{"async arguments not json", func() error {
			return s.BeginAsync(&audit.Event{Arguments: json.RawMessage(`{"sql":`)}).Wait(ctx)
		}, nil, "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.write()
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("error = %v, want %v containing %q", err, tt.wantErr, tt.wantMsg)
			}
		})
	}
}

// A write with an ID already recorded fails alone: the event already
// there is kept, and the writes around it succeed.
func testDuplicateID(t *testing.T, s audit.Store) {
	ctx := testContext(t)
	first := sampleEvent()
	if err := s.Begin(ctx, first); err != nil {
		t.Fatal(err)
	}
	const n = 40
	errs := make([]error, n)
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			e := sampleEvent()
			if i == n/2 {
				e.ID, e.Identity = first.ID, "mallory"
			}
			if i%2 == 0 {
				errs[i] = s.Begin(ctx, e)
			} else {
				e.Status = audit.StatusDenied
				errs[i] = s.Record(ctx, e)
			}
			ids[i] = e.ID
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i == n/2 {
			if err == nil {
				t.Errorf("a second event with ID %s was accepted", first.ID)
			}
			continue
		}
		if err != nil {
			t.Errorf("write %d failed alongside the duplicate: %v", i, err)
		} else {
			get(t, s, ids[i])
		}
	}
	dup := sampleEvent()
	dup.ID, dup.Status = first.ID, audit.StatusDenied
	if err := s.Record(ctx, dup); err == nil {
		t.Errorf("Record of an ID already recorded was accepted")
	}
	assertEventEqual(t, get(t, s, first.ID), *first)
}

func testConcurrentWriters(t *testing.T, s audit.Store) {
	ctx := testContext(t)
	const writers, perWriter = 16, 100
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				e := &audit.Event{Identity: fmt.Sprintf("agent-%d", w), Tool: "run_query", Rows: int64(i)}
				if err := s.Begin(ctx, e); err != nil {
					errs <- err
					return
				}
				if i%2 == 0 {
					e.Status = audit.StatusOK
					if err := s.Finish(ctx, e); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	events, err := s.List(ctx, audit.Filter{Limit: audit.MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != writers*perWriter {
		t.Fatalf("listed %d events, want %d", len(events), writers*perWriter)
	}
	seen := make(map[string]bool, len(events))
	statuses := map[string]int{}
	for i, e := range events {
		if seen[e.ID] {
			t.Fatalf("duplicate id %s", e.ID)
		}
		seen[e.ID] = true
		statuses[e.Status]++
		if i > 0 {
			prev := events[i-1]
			if prev.ID <= e.ID {
				t.Fatalf("List not newest first: %s before %s", prev.ID, e.ID)
			}
			if prev.Time.UnixMilli() < e.Time.UnixMilli() {
				t.Fatalf("id order disagrees with time: %s at %v before %s at %v", prev.ID, prev.Time, e.ID, e.Time)
			}
		}
	}
	if statuses[audit.StatusOK] != writers*perWriter/2 || statuses[audit.StatusRunning] != writers*perWriter/2 {
		t.Errorf("statuses %v, want half ok and half running", statuses)
	}
}

func testCancelledContext(t *testing.T, s audit.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Begin(ctx, sampleEvent()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Begin with a cancelled context = %v, want context.Canceled", err)
	}
	if err := s.Record(ctx, &audit.Event{Status: audit.StatusDenied}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Record with a cancelled context = %v, want context.Canceled", err)
	}
}

// BeginAsync, then the outcome through the Intent: running once synced,
// complete after; an outcome given before or after the store took the
// intent reads back alike.
func testIntentThenOutcome(t *testing.T, s audit.Store) {
	ctx := testContext(t)
	slow := sampleEvent()
	intent := s.BeginAsync(slow)
	if err := intent.Wait(ctx); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if err := intent.Wait(ctx); err != nil {
		t.Fatalf("second Wait: %v", err)
	}
	if len(slow.ID) != audit.IDLen || slow.Status != audit.StatusRunning || slow.Time.Location() != time.UTC {
		t.Fatalf("BeginAsync did not stamp the event: id %q status %q time %v", slow.ID, slow.Status, slow.Time)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	assertEventEqual(t, get(t, s, slow.ID), *slow)
	slow.Status, slow.Rows, slow.Duration = audit.StatusOK, 3, 2*time.Second
	slow.Masked = map[string]int64{"email": 3}
	if err := intent.Complete(slow); err != nil {
		t.Fatalf("Complete: %v", err)
	}

	// A quick one: the outcome follows its intent at once.
	quick := sampleEvent()
	quick.Session = "sess-quick"
	qi := s.BeginAsync(quick)
	if err := qi.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	quick.Status, quick.Rows, quick.Duration = audit.StatusFailed, 0, 180*time.Microsecond
	quick.Error = "ERROR: permission denied for table customers"
	if err := qi.Complete(quick); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	assertEventEqual(t, get(t, s, slow.ID), *slow)
	assertEventEqual(t, get(t, s, quick.ID), *quick)
}

// The first outcome of an intent stands: a second Complete, before or
// after the store took the intent, and a Complete after Finish, change
// nothing.
func testFirstOutcomeStands(t *testing.T, s audit.Store) {
	ctx := testContext(t)
	complete := func(in audit.Intent, e *audit.Event, status string, rows int64) audit.Event {
		t.Helper()
		out := *e
		out.Status, out.Rows = status, rows
		if err := in.Complete(&out); err != nil {
			t.Fatalf("Complete: %v", err)
		}
		return out
	}

	early := sampleEvent()
	ei := s.BeginAsync(early)
	if err := ei.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	firstEarly := complete(ei, early, audit.StatusOK, 1)
	complete(ei, early, audit.StatusFailed, 1234)

	late := sampleEvent()
	li := s.BeginAsync(late)
	if err := li.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	firstLate := complete(li, late, audit.StatusOK, 77)
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	complete(li, late, audit.StatusError, 78)

	finished := sampleEvent()
	fi := s.BeginAsync(finished)
	if err := fi.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	byFinish := *finished
	byFinish.Status, byFinish.Rows = audit.StatusDenied, 5
	if err := s.Finish(ctx, &byFinish); err != nil {
		t.Fatal(err)
	}
	complete(fi, finished, audit.StatusOK, 6)

	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	assertEventEqual(t, get(t, s, early.ID), firstEarly)
	assertEventEqual(t, get(t, s, late.ID), firstLate)
	assertEventEqual(t, get(t, s, finished.ID), byFinish)
}

func testCompleteRefusesOtherEvents(t *testing.T, s audit.Store) {
	ctx := testContext(t)
	e := sampleEvent()
	in := s.BeginAsync(e)
	if err := in.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := in.Complete(&audit.Event{ID: e.ID, Status: audit.StatusRunning}); err == nil {
		t.Error("Complete with status running: no error")
	}
	if err := in.Complete(&audit.Event{ID: "01ZZZZZZZZZZZZZZZZZZZZZZZZ", Status: audit.StatusOK}); err == nil {
		t.Error("Complete of another event: no error")
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := get(t, s, e.ID); got.Status != audit.StatusRunning {
		t.Errorf("after refused outcomes the event is %q, want still running", got.Status)
	}
}

// Close makes durable what was submitted before it; writes after it
// fail with ErrClosed; a second Close returns what the first did.
func testClose(t *testing.T, s audit.Store) {
	ctx := testContext(t)
	e := sampleEvent()
	if err := s.Begin(ctx, e); err != nil {
		t.Fatal(err)
	}
	e2 := sampleEvent()
	in := s.BeginAsync(e2)
	if err := in.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for name, write := range map[string]func() error{
		"Begin":      func() error { return s.Begin(ctx, sampleEvent()) },
		"BeginAsync": func() error { return s.BeginAsync(sampleEvent()).Wait(ctx) },
		"Finish":     func() error { return s.Finish(ctx, &audit.Event{ID: e.ID, Status: audit.StatusOK}) },
		"Record":     func() error { return s.Record(ctx, &audit.Event{Status: audit.StatusDenied}) },
		"Sync":       func() error { return s.Sync(ctx) },
		"AppendRecording": func() error {
			return s.AppendRecording(ctx, e.ID, 0, []byte("{\"version\": 2}\n"))
		},
		"Complete": func() error {
			return in.Complete(&audit.Event{ID: e2.ID, Status: audit.StatusOK})
		},
	} {
		if err := write(); !errors.Is(err, audit.ErrClosed) {
			t.Errorf("%s after Close = %v, want audit.ErrClosed", name, err)
		}
	}
}
