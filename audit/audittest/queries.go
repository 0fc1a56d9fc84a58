package audittest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/audit"
)

func testListFilters(t *testing.T, s audit.Store) {
	ctx := testContext(t)
	base := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	// Events one minute apart, in this order.
	seed := []struct {
		name string
		e    audit.Event
	}{
		{"a", audit.Event{Identity: "alice", Connection: "prod-pg", Tool: "run_query", Session: "s1", Status: audit.StatusOK}},
		{"b", audit.Event{Identity: "alice", Connection: "prod-pg", Tool: "describe_schema", Session: "s1", Status: audit.StatusOK}},
		{"c", audit.Event{Identity: "bob", Connection: "prod-pg", Tool: "run_query", Session: "s2", Status: audit.StatusDenied}},
		{"d", audit.Event{Identity: "bob", Connection: "staging-k8s", Tool: "kubectl_get", Session: "s2", Status: audit.StatusFailed}},
		{"e", audit.Event{Identity: "alice", Connection: "staging-k8s", Tool: "kubectl_get", Session: "s3", Status: audit.StatusOK}},
	}
	names := map[string]string{} // id -> name
	for i, sd := range seed {
		e := sd.e
		e.Time = base.Add(time.Duration(i) * time.Minute)
		if err := s.Record(ctx, &e); err != nil {
			t.Fatal(err)
		}
		names[e.ID] = sd.name
	}
	// A running one, at the end.
	running := &audit.Event{Time: base.Add(5 * time.Minute), Identity: "carol", Connection: "prod-pg", Tool: "run_query", Session: "s4"}
	if err := s.Begin(ctx, running); err != nil {
		t.Fatal(err)
	}
	names[running.ID] = "f"

	tests := []struct {
		name   string
		filter audit.Filter
		want   string // names, newest first
	}{
		{"all", audit.Filter{}, "fedcba"},
		{"identity", audit.Filter{Identity: "alice"}, "eba"},
		{"connection", audit.Filter{Connection: "prod-pg"}, "fcba"},
		{"tool", audit.Filter{Tool: "kubectl_get"}, "ed"},
		{"status", audit.Filter{Status: audit.StatusDenied}, "c"},
		{"status running", audit.Filter{Status: audit.StatusRunning}, "f"},
		{"session", audit.Filter{Session: "s2"}, "dc"},
		{"since inclusive", audit.Filter{Since: base.Add(3 * time.Minute)}, "fed"},
		{"until exclusive", audit.Filter{Until: base.Add(2 * time.Minute)}, "ba"},
		{"since and until", audit.Filter{Since: base.Add(time.Minute), Until: base.Add(3 * time.Minute)}, "cb"},
		{"since in another zone", audit.Filter{Since: base.Add(3 * time.Minute).In(time.FixedZone("PDT", -7*3600))}, "fed"},
		{"combined", audit.Filter{Identity: "bob", Connection: "prod-pg"}, "c"},
		{"limit", audit.Filter{Limit: 2}, "fe"},
		{"before", audit.Filter{Before: running.ID, Limit: 2}, "ed"},
		{"before, lower case", audit.Filter{Before: strings.ToLower(running.ID)}, "edcba"},
		{"no match", audit.Filter{Identity: "mallory"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := s.List(ctx, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			for _, e := range events {
				got.WriteString(names[e.ID])
			}
			if got.String() != tt.want {
				t.Errorf("List(%+v) = %q, want %q", tt.filter, got.String(), tt.want)
			}
		})
	}

	t.Run("paging with before", func(t *testing.T) {
		var got strings.Builder
		f := audit.Filter{Limit: 2}
		for {
			page, err := s.List(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				got.WriteString(names[e.ID])
			}
			f.Before = page[len(page)-1].ID
		}
		if got.String() != "fedcba" {
			t.Errorf("pages = %q, want fedcba", got.String())
		}
	})
}

func testListLimit(t *testing.T, s audit.Store) {
	ctx := testContext(t)
	for range audit.DefaultListLimit + 5 {
		if err := s.Record(ctx, &audit.Event{Status: audit.StatusOK}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		limit, want int
	}{
		{0, audit.DefaultListLimit},
		{-1, audit.DefaultListLimit},
		{3, 3},
		{audit.MaxListLimit * 10, audit.DefaultListLimit + 5},
	} {
		events, err := s.List(ctx, audit.Filter{Limit: tt.limit})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != tt.want {
			t.Errorf("Limit %d: %d events, want %d", tt.limit, len(events), tt.want)
		}
	}
}

func testGetByPrefix(t *testing.T, s audit.Store) {
	ctx := testContext(t)
	// Two events in the same millisecond share their first 10 characters
	// (the timestamp), and a store's IDs then differ only towards the end.
	at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	a, b := &audit.Event{Time: at, Status: audit.StatusOK}, &audit.Event{Time: at, Status: audit.StatusOK}
	far := &audit.Event{Time: at.Add(365 * 24 * time.Hour), Status: audit.StatusOK}
	for _, e := range []*audit.Event{a, b, far} {
		if err := s.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	common := 0
	for common < audit.IDLen && a.ID[common] == b.ID[common] {
		common++
	}
	// The aliases a person may type for 0 and 1.
	alias := strings.NewReplacer("0", "o", "1", "l").Replace(far.ID)

	tests := []struct {
		name    string
		id      string
		want    string
		wantErr error
		wantMsg string
	}{
		{name: "full id", id: a.ID, want: a.ID},
		{name: "lower case", id: strings.ToLower(b.ID), want: b.ID},
		{name: "aliases", id: alias, want: far.ID},
		{name: "surrounding space", id: "  " + a.ID + "\n", want: a.ID},
		{name: "unique prefix", id: far.ID[:audit.MinIDPrefix], want: far.ID},
		{name: "prefix unique only at the end", id: b.ID[:common+1], want: b.ID},
		{name: "ambiguous prefix", id: a.ID[:common], wantErr: audit.ErrAmbiguousID},
		{name: "unknown", id: "7ZZZZZZZZZ", wantErr: audit.ErrNotFound},
		{name: "unknown full id", id: "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", wantErr: audit.ErrNotFound},
		{name: "too short", id: a.ID[:audit.MinIDPrefix-1], wantMsg: fmt.Sprintf("at least %d", audit.MinIDPrefix)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Get(ctx, tt.id)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Get(%q) error = %v, want %v", tt.id, err, tt.wantErr)
				}
			case tt.wantMsg != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("Get(%q) error = %v, want containing %q", tt.id, err, tt.wantMsg)
				}
			case err != nil:
				t.Fatalf("Get(%q): %v", tt.id, err)
			case got.ID != tt.want:
				t.Fatalf("Get(%q) = %s, want %s", tt.id, got.ID, tt.want)
			}
		})
	}
}

// SessionEvent is a statement of session sess, as a proxy records one:
// quoting, non-ASCII text, arguments with odd spacing, masked counts and
// statuses chosen by r.
func SessionEvent(sess string, i int, r *rand.Rand) *audit.Event {
	e := &audit.Event{
		Session: sess, Transport: audit.TransportPostgresProxy, Identity: "id-" + sess, Groups: []string{"agents"},
		Issuer: "https://idp.example", TokenID: "jti-" + sess, Tool: "proxy_statement",
		Connection: "conn-" + sess[len(sess)-1:], Credential: "lease-" + sess,
		Statement: fmt.Sprintf("SELECT %d, 'it''s \"quoted\" \\ ünïcode'", i),
		Decision:  audit.DecisionAllow, Rule: "read", Reason: "matched rule read",
		Status:   []string{audit.StatusOK, audit.StatusOK, audit.StatusFailed, audit.StatusError}[r.IntN(4)],
		Duration: time.Duration(r.IntN(5000)) * time.Microsecond,
		Rows:     int64(r.IntN(100)), Truncated: r.IntN(5) == 0,
	}
	if r.IntN(3) > 0 {
		// Odd spacing: kept byte for byte.
		e.Arguments = json.RawMessage(fmt.Sprintf(`{ "sql" : "SELECT %d",  "params":["a\u00e9", %d,null] }`, i, i))
	}
	if r.IntN(2) == 0 {
		e.Masked = map[string]int64{"email": int64(r.IntN(9) + 1), "public.users.ssn": 2}
	}
	if e.Status != audit.StatusOK {
		e.Error = `ERROR: relation "x" does not exist (SQLSTATE 42P01)`
	}
	return e
}

// Busy sessions, as the proxy records them (intent, then at once the
// outcome, statement after statement), among refused calls and a call
// still running: however a store keeps them (audit/sqlite stores a
// session's statements of one batch as one row), Get and List return
// every event exactly as written, under every filter and page.
func testSessionsReadBack(t *testing.T, s audit.Store) {
	ctx := testContext(t)
	r := rand.New(rand.NewPCG(1, 2))
	var all []*audit.Event
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for round := range 8 {
		for i := range 10 + r.IntN(30) {
			e := SessionEvent([]string{"sess-a", "sess-b", "sess-c"}[r.IntN(3)], round*100+i, r)
			e.Time = base.Add(time.Duration(round)*time.Minute + time.Duration(i)*time.Millisecond)
			outcome := *e
			in := s.BeginAsync(e)
			if err := in.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			outcome.ID, outcome.Time = e.ID, e.Time
			if err := in.Complete(&outcome); err != nil {
				t.Fatal(err)
			}
			all = append(all, &outcome)
		}
		denied := SessionEvent("sess-a", round, r)
		denied.Time, denied.Status, denied.Decision = base.Add(time.Duration(round)*time.Minute+50*time.Millisecond), audit.StatusDenied, audit.DecisionDeny
		if err := s.Record(ctx, denied); err != nil {
			t.Fatal(err)
		}
		all = append(all, denied)
	}
	running := SessionEvent("sess-b", 999, r)
	if err := s.BeginAsync(running).Wait(ctx); err != nil {
		t.Fatal(err)
	}
	all = append(all, running)
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}

	CheckReadBack(t, s, all, base)
}

// CheckReadBack checks that s returns every event of all exactly as
// written (all holds sessions' events made with SessionEvent, the first
// at base): by ID and by ID prefix, under every filter List takes, and
// paged with Before. A backend's own tests call it after storing events
// its own ways.
func CheckReadBack(t *testing.T, s audit.Reader, all []*audit.Event, base time.Time) {
	t.Helper()
	ctx := testContext(t)
	byID := map[string]*audit.Event{}
	for _, e := range all {
		byID[e.ID] = e
	}
	for _, want := range all {
		assertEventEqual(t, get(t, s, want.ID), *want)
		if got, err := s.Get(ctx, strings.ToLower(want.ID[:22])); err != nil || got.ID != want.ID {
			t.Fatalf("Get by prefix %s = %s, %v", want.ID[:22], got.ID, err)
		}
	}
	if _, err := s.Get(ctx, all[0].ID[:8]); !errors.Is(err, audit.ErrAmbiguousID) {
		t.Fatalf("Get of a prefix many events share = %v, want audit.ErrAmbiguousID", err)
	}
	if _, err := s.Get(ctx, "01ZZZZZZZZZZZZZZZZZZZZZZZZ"); !errors.Is(err, audit.ErrNotFound) {
		t.Fatalf("Get of an unknown ID = %v, want audit.ErrNotFound", err)
	}

	mid := all[len(all)/2]
	for _, f := range []audit.Filter{
		{},
		{Limit: 7},
		{Session: "sess-b"},
		{Identity: "id-sess-a", Limit: 15},
		{Connection: "conn-c"},
		{Tool: "proxy_statement", Status: audit.StatusFailed},
		{Status: audit.StatusDenied},
		{Status: audit.StatusRunning},
		{Since: mid.Time},
		{Until: mid.Time, Limit: 30},
		{Since: base.Add(3 * time.Minute), Until: base.Add(5 * time.Minute)},
		{Before: mid.ID, Limit: 25},
		{Before: mid.ID, Session: "sess-c", Status: audit.StatusOK},
		{Before: "ZZZZZZZZZZZZZZZZZZZZZZZZZZ", Limit: 5}, // past any ID's time
		{Before: "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", Limit: 5},
	} {
		t.Run(fmt.Sprintf("%+v", f), func(t *testing.T) {
			got, err := s.List(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if want := expectedList(all, f); !slices.Equal(eventIDs(got), want) {
				t.Fatalf("List:\n got  %v\n want %v", eventIDs(got), want)
			}
			for _, e := range got {
				assertEventEqual(t, e, *byID[e.ID])
			}
		})
	}

	var paged []string
	for f := (audit.Filter{Limit: 9}); ; {
		page, err := s.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, eventIDs(page)...)
		f.Before = page[len(page)-1].ID
	}
	if want := expectedList(all, audit.Filter{Limit: audit.MaxListLimit}); !slices.Equal(paged, want) {
		t.Fatalf("paged: %d events, want %d", len(paged), len(want))
	}
}

// expectedList is what List(f) must return of events.
func expectedList(events []*audit.Event, f audit.Filter) []string {
	var ids []string
	for _, e := range events {
		switch {
		case f.Identity != "" && e.Identity != f.Identity,
			f.Connection != "" && e.Connection != f.Connection,
			f.Tool != "" && e.Tool != f.Tool,
			f.Session != "" && e.Session != f.Session,
			f.Status != "" && e.Status != f.Status,
			!f.Since.IsZero() && e.Time.Before(f.Since),
			!f.Until.IsZero() && !e.Time.Before(f.Until),
			f.Before != "" && e.ID >= f.Before:
			continue
		}
		ids = append(ids, e.ID)
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	limit := f.Limit
	if limit <= 0 {
		limit = audit.DefaultListLimit
	}
	return ids[:min(len(ids), limit)]
}
