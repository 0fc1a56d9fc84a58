package sqlite

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

func TestBeginFinishGetRoundTrip(t *testing.T) {
	s := openTestStore(t)
	ctx := testContext(t)

	e := sampleEvent()
	before := time.Now().UTC()
	if err := s.Begin(ctx, e); err != nil {
		t.Fatalf("Begin: %v", err)
	}
	if len(e.ID) != audit.IDLen || e.Status != audit.StatusRunning || e.Time.Before(before) || e.Time.Location() != time.UTC {
		t.Fatalf("Begin did not stamp the event: id %q status %q time %v", e.ID, e.Status, e.Time)
	}

	// The intent is readable as soon as Begin returns.
	got, err := s.Get(ctx, e.ID)
	if err != nil {
		t.Fatalf("Get after Begin: %v", err)
	}
	assertEventEqual(t, got, *e)

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
	got, err = s.Get(ctx, e.ID)
	if err != nil {
		t.Fatalf("Get after Finish: %v", err)
	}
	assertEventEqual(t, got, *e)
}

func TestFinishKeepsWhatBeginKnew(t *testing.T) {
	s := openTestStore(t)
	ctx := testContext(t)

	e := sampleEvent()
	e.Decision = audit.DecisionReview
	e.Credential = "static"
	if err := s.Begin(ctx, e); err != nil {
		t.Fatal(err)
	}
	// Finish with only the outcome: the decision, rule, reason and credential
	// recorded at Begin stay.
	if err := s.Finish(ctx, &audit.Event{ID: e.ID, Status: audit.StatusFailed, Error: "relation \"x\" does not exist"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := *e
	want.Status = audit.StatusFailed
	want.Error = "relation \"x\" does not exist"
	assertEventEqual(t, got, want)

	// An approval changes the decision.
	if err := s.Finish(ctx, &audit.Event{ID: e.ID, Status: audit.StatusOK, Decision: audit.DecisionAllow, Approval: "appr-1"}); err != nil {
		t.Fatal(err)
	}
	got, err = s.Get(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Decision != audit.DecisionAllow || got.Approval != "appr-1" || got.Rule != e.Rule || got.Error != "" {
		t.Errorf("after second Finish: decision %q approval %q rule %q error %q", got.Decision, got.Approval, got.Rule, got.Error)
	}
}

func TestRecordDeniedCall(t *testing.T) {
	s := openTestStore(t)
	ctx := testContext(t)

	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))
	e := &audit.Event{
		Time: at, Identity: "bob", Tool: "run_query", Connection: "prod-pg", Transport: audit.TransportStdio,
		Arguments: json.RawMessage(`{"sql":"drop table customers"}`),
		Statement: "drop table customers",
		Decision:  audit.DecisionDeny, Rule: "no-ddl", Reason: "DDL is not allowed through Warden",
		Status: audit.StatusDenied,
	}
	if err := s.Record(ctx, e); err != nil {
		t.Fatalf("Record: %v", err)
	}
	if !e.Time.Equal(at) || e.Time.Location() != time.UTC {
		t.Errorf("Record changed the instant or kept the zone: %v", e.Time)
	}
	if got := e.ID[:10]; got != audit.FloorID(uint64(at.UnixMilli()))[:10] {
		t.Errorf("id %s does not start with the event's time", e.ID)
	}
	got, err := s.Get(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	assertEventEqual(t, got, *e)
	if got.Masked != nil || got.Groups != nil {
		t.Errorf("empty masked/groups read back as %v / %v, want nil", got.Masked, got.Groups)
	}
}

func TestWriteRejectsBadInput(t *testing.T) {
	s := openTestStore(t)
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
		}, audit.ErrNotFound, "not found: finish 01JZZ"},
		{"record without outcome", func() error { return s.Record(ctx, &audit.Event{Tool: "run_query"}) }, nil, "not an outcome"},
		{"arguments not json", func() error { return s.Begin(ctx, &audit.Event{Arguments: json.RawMessage(`{"sql":`)}) }, nil, "not valid JSON"},
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

// One bad op must not fail the others that share its transaction.
func TestDuplicateIDFailsOnlyItsOwnWrite(t *testing.T) {
	s := openTestStore(t)
	ctx := testContext(t)

	first := sampleEvent()
	if err := s.Begin(ctx, first); err != nil {
		t.Fatal(err)
	}
	const n = 50
	errs := make([]error, n)
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			e := sampleEvent()
			if i == n/2 {
				e.ID = first.ID
			}
			errs[i] = s.Begin(ctx, e)
			ids[i] = e.ID
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i == n/2 {
			if err == nil || !strings.Contains(err.Error(), "UNIQUE") {
				t.Errorf("duplicate id: error = %v, want a UNIQUE constraint error", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("write %d failed with the duplicate's batch: %v", i, err)
		} else if _, err := s.Get(ctx, ids[i]); err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
}

func TestConcurrentWriters(t *testing.T) {
	s := openTestStore(t)
	ctx := testContext(t)

	const writers, perWriter = 32, 200
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
	t.Logf("%d writes in %d transactions", writers*perWriter*3/2, s.commits.Load())
}

func TestClose(t *testing.T) {
	s := openTestStore(t)
	ctx := testContext(t)

	// Writes submitted before Close are committed by it.
	var wg sync.WaitGroup
	ids := make([]string, 64)
	for i := range ids {
		wg.Go(func() {
			e := sampleEvent()
			if err := s.Begin(ctx, e); err != nil && !errors.Is(err, audit.ErrClosed) {
				t.Errorf("Begin: %v", err)
			} else if err == nil {
				ids[i] = e.ID
			}
		})
	}
	wg.Wait()
	path := s.path
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	for name, write := range map[string]func() error{
		"Begin":  func() error { return s.Begin(ctx, sampleEvent()) },
		"Finish": func() error { return s.Finish(ctx, &audit.Event{ID: ids[0], Status: audit.StatusOK}) },
		"Record": func() error { return s.Record(ctx, &audit.Event{Status: audit.StatusDenied}) },
	} {
		if err := write(); !errors.Is(err, audit.ErrClosed) {
			t.Errorf("%s after Close = %v, want audit.ErrClosed", name, err)
		}
	}

	reopened := mustOpen(t, path)
	defer reopened.Close()
	for _, id := range ids {
		if _, err := reopened.Get(ctx, id); err != nil {
			t.Errorf("event acknowledged before Close is missing: %v", err)
		}
	}
}

// Close while writers are still submitting: every write either commits or
// returns ErrClosed, nothing hangs, nothing panics.
func TestCloseDuringWrites(t *testing.T) {
	s := openTestStore(t)
	ctx := testContext(t)

	var wg sync.WaitGroup
	var mu sync.Mutex
	var committed []string
	for range 16 {
		wg.Go(func() {
			for {
				e := sampleEvent()
				err := s.Begin(ctx, e)
				if errors.Is(err, audit.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Begin: %v", err)
					return
				}
				mu.Lock()
				committed = append(committed, e.ID)
				mu.Unlock()
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	reopened := mustOpen(t, s.path)
	defer reopened.Close()
	var n int
	if err := reopened.DB().QueryRow("SELECT count(*) FROM events").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n < len(committed) {
		t.Errorf("%d writes acknowledged, %d in the database", len(committed), n)
	}
}

func TestCancelledContext(t *testing.T) {
	s := openTestStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Begin(ctx, sampleEvent()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Begin with cancelled context = %v, want context.Canceled", err)
	}
}
