package sqlite

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/audit"
)

func TestListFilters(t *testing.T) {
	s := openTestStore(t)
	ctx := testContext(t)

	base := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	// name -> event; times one minute apart in this order.
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
	ids := map[string]string{}   // name -> id
	for i, sd := range seed {
		e := sd.e
		e.Time = base.Add(time.Duration(i) * time.Minute)
		if err := s.Record(ctx, &e); err != nil {
			t.Fatal(err)
		}
		names[e.ID], ids[sd.name] = sd.name, e.ID
	}

	tests := []struct {
		name   string
		filter audit.Filter
		want   string // names, newest first
	}{
		{"all", audit.Filter{}, "edcba"},
		{"identity", audit.Filter{Identity: "alice"}, "eba"},
		{"connection", audit.Filter{Connection: "prod-pg"}, "cba"},
		{"tool", audit.Filter{Tool: "kubectl_get"}, "ed"},
		{"status", audit.Filter{Status: audit.StatusDenied}, "c"},
		{"session", audit.Filter{Session: "s2"}, "dc"},
		{"since inclusive", audit.Filter{Since: base.Add(3 * time.Minute)}, "ed"},
		{"until exclusive", audit.Filter{Until: base.Add(2 * time.Minute)}, "ba"},
		{"since and until", audit.Filter{Since: base.Add(time.Minute), Until: base.Add(3 * time.Minute)}, "cb"},
		{"since in another zone", audit.Filter{Since: base.Add(3 * time.Minute).In(time.FixedZone("PDT", -7*3600))}, "ed"},
		{"combined", audit.Filter{Identity: "bob", Connection: "prod-pg"}, "c"},
		{"limit", audit.Filter{Limit: 2}, "ed"},
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
		if got.String() != "edcba" {
			t.Errorf("pages = %q, want edcba", got.String())
		}
	})
}

func TestListLimit(t *testing.T) {
	s := openTestStore(t)
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

func TestGetByPrefix(t *testing.T) {
	s := openTestStore(t)
	ctx := testContext(t)

	// Two events in the same millisecond share their first 10 characters
	// (the timestamp); the store's generator then makes them differ only at
	// the end.
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

	tests := []struct {
		name    string
		id      string
		want    string
		wantErr error
		wantMsg string
	}{
		{name: "full id", id: a.ID, want: a.ID},
		{name: "lower case", id: strings.ToLower(b.ID), want: b.ID},
		{name: "unique prefix", id: far.ID[:6], want: far.ID},
		{name: "prefix unique only at the end", id: b.ID[:common+1], want: b.ID},
		{name: "ambiguous prefix", id: a.ID[:common], wantErr: audit.ErrAmbiguousID},
		{name: "unknown", id: "7ZZZZZZZZZ", wantErr: audit.ErrNotFound},
		{name: "unknown full id", id: "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", wantErr: audit.ErrNotFound},
		{name: "too short", id: a.ID[:5], wantMsg: "at least 6"},
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
