package audittest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wardenhq/warden/audit"
)

// at is a fixed time, to the microsecond (every store keeps that much).
var at = time.Date(2026, 6, 1, 10, 0, 0, 123456000, time.UTC)

func lease(id string, created time.Time) audit.Lease {
	return audit.Lease{
		ID: id, Connection: "prod-pg", Principal: "warden_" + id, Identity: "alice@example.com",
		Session: "sess-1", Instance: "inst-1", Created: created, Expires: created.Add(time.Hour),
	}
}

func leaseByID(t *testing.T, s audit.LeaseStore, id string) audit.Lease {
	t.Helper()
	ls, err := s.Leases(testContext(t), audit.LeaseFilter{Limit: audit.MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.ID == id {
			return l
		}
	}
	t.Fatalf("lease %s not listed", id)
	return audit.Lease{}
}

func assertLeaseEqual(t *testing.T, got, want audit.Lease) {
	t.Helper()
	for _, tm := range []struct {
		name      string
		got, want time.Time
	}{{"created", got.Created, want.Created}, {"expires", got.Expires, want.Expires}, {"revoked_at", got.RevokedAt, want.RevokedAt}} {
		if !tm.got.Equal(tm.want) {
			t.Errorf("lease %s: %s = %v, want %v", want.ID, tm.name, tm.got, tm.want)
		}
	}
	got.Created, got.Expires, got.RevokedAt = time.Time{}, time.Time{}, time.Time{}
	want.Created, want.Expires, want.RevokedAt = time.Time{}, time.Time{}, time.Time{}
	if got != want {
		t.Errorf("lease:\n got  %+v\n want %+v", got, want)
	}
}

// A lease is recorded active before its credential exists, then gets its
// grants and expiry; an ID already recorded is refused.
func testLeases(t *testing.T, s audit.Store) {
	ctx := testContext(t)
	l := lease("lease-a", at)
	l.State, l.Attempts, l.LastError = audit.LeaseFailed, 9, "ignored" // CreateLease records it active
	if err := s.CreateLease(ctx, l); err != nil {
		t.Fatalf("CreateLease: %v", err)
	}
	want := l
	want.State, want.Attempts, want.LastError = audit.LeaseActive, 0, ""
	assertLeaseEqual(t, leaseByID(t, s, l.ID), want)

	if err := s.CreateLease(ctx, lease("lease-a", at.Add(time.Minute))); err == nil {
		t.Error("a second lease with the same ID was accepted")
	}
	assertLeaseEqual(t, leaseByID(t, s, l.ID), want)

	expires := at.Add(15 * time.Minute)
	if err := s.UpdateLease(ctx, l.ID, "SELECT on 2 tables", expires); err != nil {
		t.Fatalf("UpdateLease: %v", err)
	}
	want.Grants, want.Expires = "SELECT on 2 tables", expires
	assertLeaseEqual(t, leaseByID(t, s, l.ID), want)

	if err := s.UpdateLease(ctx, "no-such-lease", "x", expires); err != nil {
		t.Errorf("UpdateLease of an unknown lease: %v", err)
	}
}

// A failed revocation counts its attempts and keeps the last error; the
// last attempt marks the lease failed; a revocation that works marks it
// revoked and clears the error.
func testLeaseRevocation(t *testing.T, s audit.Store) {
	ctx := testContext(t)
	a, b := lease("lease-a", at), lease("lease-b", at.Add(time.Second))
	for _, l := range []audit.Lease{a, b} {
		if err := s.CreateLease(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		if err := s.LeaseAttempt(ctx, a.ID, fmt.Errorf("connection refused (attempt %d)", i+1), false); err != nil {
			t.Fatalf("LeaseAttempt: %v", err)
		}
	}
	got := leaseByID(t, s, a.ID)
	if got.State != audit.LeaseActive || got.Attempts != 2 || got.LastError != "connection refused (attempt 2)" {
		t.Fatalf("after two failed attempts: state %q attempts %d last error %q", got.State, got.Attempts, got.LastError)
	}
	revoked := at.Add(time.Minute)
	if err := s.LeaseRevoked(ctx, a.ID, revoked); err != nil {
		t.Fatalf("LeaseRevoked: %v", err)
	}
	want := a
	want.State, want.Attempts, want.RevokedAt = audit.LeaseRevoked, 2, revoked
	assertLeaseEqual(t, leaseByID(t, s, a.ID), want)

	if err := s.LeaseAttempt(ctx, b.ID, errors.New("role is gone"), true); err != nil {
		t.Fatal(err)
	}
	want = b
	want.State, want.Attempts, want.LastError = audit.LeaseFailed, 1, "role is gone"
	assertLeaseEqual(t, leaseByID(t, s, b.ID), want)

	if err := s.LeaseRevoked(ctx, "no-such-lease", revoked); err != nil {
		t.Errorf("LeaseRevoked of an unknown lease: %v", err)
	}
}

func testLeaseFilter(t *testing.T, s audit.Store) {
	ctx := testContext(t)
	// Created in this order; c on another connection; b revoked, d failed.
	for i, id := range []string{"a", "b", "c", "d", "e"} {
		l := lease(id, at.Add(time.Duration(i)*time.Minute))
		if id == "c" {
			l.Connection = "staging-pg"
		}
		if err := s.CreateLease(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.LeaseRevoked(ctx, "b", at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.LeaseAttempt(ctx, "d", errors.New("gone"), true); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		f    audit.LeaseFilter
		want string // newest first
	}{
		{"all", audit.LeaseFilter{}, "edcba"},
		{"active", audit.LeaseFilter{State: audit.LeaseActive}, "eca"},
		{"revoked", audit.LeaseFilter{State: audit.LeaseRevoked}, "b"},
		{"failed", audit.LeaseFilter{State: audit.LeaseFailed}, "d"},
		{"connection", audit.LeaseFilter{Connection: "prod-pg"}, "edba"},
		{"both", audit.LeaseFilter{State: audit.LeaseActive, Connection: "prod-pg"}, "ea"},
		{"limit", audit.LeaseFilter{Limit: 2}, "ed"},
		{"limit past the most", audit.LeaseFilter{Limit: audit.MaxListLimit + 1}, "edcba"},
		{"none", audit.LeaseFilter{Connection: "nowhere"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ls, err := s.Leases(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			for _, l := range ls {
				got += l.ID
			}
			if got != tt.want {
				t.Errorf("Leases(%+v) = %q, want %q", tt.f, got, tt.want)
			}
		})
	}
}

// Heartbeat records an instance, then only its heartbeat; an instance is
// forgotten only once no lease of it is active.
func testInstances(t *testing.T, s audit.Store) {
	ctx := testContext(t)
	in := audit.Instance{ID: "inst-1", Host: "host-a", PID: 4242, Boot: "123456", Started: at, Heartbeat: at}
	other := audit.Instance{ID: "inst-2", Host: "host-b", PID: 7, Started: at, Heartbeat: at}
	for _, i := range []audit.Instance{in, other} {
		if err := s.Heartbeat(ctx, i); err != nil {
			t.Fatalf("Heartbeat: %v", err)
		}
	}
	beat := in
	beat.Heartbeat = at.Add(30 * time.Second)
	beat.Host, beat.PID, beat.Started = "changed", 1, at.Add(time.Hour) // only the heartbeat is updated
	if err := s.Heartbeat(ctx, beat); err != nil {
		t.Fatal(err)
	}
	want := in
	want.Heartbeat = beat.Heartbeat
	instances := func() map[string]audit.Instance {
		t.Helper()
		list, err := s.Instances(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]audit.Instance{}
		for _, i := range list {
			m[i.ID] = i
		}
		return m
	}
	got := instances()
	if len(got) != 2 {
		t.Fatalf("%d instances, want 2: %+v", len(got), got)
	}
	g := got[in.ID]
	if g.Host != want.Host || g.PID != want.PID || g.Boot != want.Boot || !g.Started.Equal(want.Started) || !g.Heartbeat.Equal(want.Heartbeat) {
		t.Errorf("instance:\n got  %+v\n want %+v", g, want)
	}

	if err := s.CreateLease(ctx, lease("lease-1", at)); err != nil { // of inst-1
		t.Fatal(err)
	}
	for _, id := range []string{in.ID, other.ID, "no-such-instance"} {
		if err := s.ForgetInstance(ctx, id); err != nil {
			t.Fatalf("ForgetInstance %s: %v", id, err)
		}
	}
	got = instances()
	if _, ok := got[in.ID]; !ok || len(got) != 1 {
		t.Fatalf("after forgetting: %+v; want inst-1 kept (it holds an active lease), inst-2 gone", got)
	}
	if err := s.LeaseRevoked(ctx, "lease-1", at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.ForgetInstance(ctx, in.ID); err != nil {
		t.Fatal(err)
	}
	if got := instances(); len(got) != 0 {
		t.Fatalf("after its lease was revoked, the instance is still there: %+v", got)
	}
}
