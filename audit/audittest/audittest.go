package audittest

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/wardenhq/warden/audit"
)

// Run runs the contract suite. newStore returns a new, empty store and
// closes it when its t ends (t.Cleanup); the suite may close it first
// (Close is idempotent). Times are compared to the microsecond.
func Run(t *testing.T, newStore func(t *testing.T) audit.Store) {
	for _, tt := range []struct {
		name string
		run  func(*testing.T, audit.Store)
	}{
		{"BeginFinishGet", testBeginFinishGet},
		{"FinishKeepsWhatBeginKnew", testFinishKeepsWhatBeginKnew},
		{"RecordRefusedCall", testRecordRefusedCall},
		{"BadWrites", testBadWrites},
		{"DuplicateID", testDuplicateID},
		{"ConcurrentWriters", testConcurrentWriters},
		{"CancelledContext", testCancelledContext},
		{"IntentThenOutcome", testIntentThenOutcome},
		{"FirstOutcomeStands", testFirstOutcomeStands},
		{"CompleteRefusesOtherEvents", testCompleteRefusesOtherEvents},
		{"ListFilters", testListFilters},
		{"ListLimit", testListLimit},
		{"GetByPrefix", testGetByPrefix},
		{"SessionsReadBackUnderEveryFilter", testSessionsReadBack},
		{"RecordingAppendRead", testRecordingAppendRead},
		{"RecordingRefusals", testRecordingRefusals},
		{"RecordingNotFound", testRecordingNotFound},
		{"SessionRecordings", testSessionRecordings},
		{"RecordingsConcurrent", testRecordingsConcurrent},
		{"Close", testClose},
		{"Leases", testLeases},
		{"LeaseRevocation", testLeaseRevocation},
		{"LeaseFilter", testLeaseFilter},
		{"Instances", testInstances},
	} {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newStore(t)) })
	}
}

// timeout bounds every store call, so a hang fails instead of blocking.
const timeout = 30 * time.Second

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// sampleEvent is a complete allowed query, as the pipeline would build it.
func sampleEvent() *audit.Event {
	return &audit.Event{
		Session:    "sess-1",
		Transport:  audit.TransportHTTP,
		Identity:   "alice@example.com",
		Groups:     []string{"agents", "dba"},
		Issuer:     "https://idp.example.com",
		TokenID:    "jti-1",
		Tool:       "run_query",
		Connection: "prod-pg",
		Arguments:  json.RawMessage(`{"connection":"prod-pg","sql":"select id, email from customers","max_rows":50}`),
		Statement:  "select id, email from customers",
		Decision:   audit.DecisionAllow,
		Rule:       "agents-read-prod",
		Reason:     "matched rule agents-read-prod",
	}
}

// assertEventEqual fails unless got is want as a store keeps it:
// duration and time to the microsecond, arguments byte for byte.
func assertEventEqual(t *testing.T, got, want audit.Event) {
	t.Helper()
	want.Duration = want.Duration.Truncate(time.Microsecond)
	got.Duration = got.Duration.Truncate(time.Microsecond)
	if !got.Time.Truncate(time.Microsecond).Equal(want.Time.Truncate(time.Microsecond)) {
		t.Errorf("event %s: time = %v, want %v", want.ID, got.Time, want.Time)
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	if !slices.Equal(got.Arguments, want.Arguments) {
		t.Errorf("event %s: arguments = %s, want %s (byte for byte)", want.ID, got.Arguments, want.Arguments)
	}
	got.Arguments, want.Arguments = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("event:\n got  %+v\n want %+v", got, want)
	}
}

func get(t *testing.T, s audit.Reader, id string) audit.Event {
	t.Helper()
	e, err := s.Get(testContext(t), id)
	if err != nil {
		t.Fatalf("Get %s: %v", id, err)
	}
	return e
}

func eventIDs(events []audit.Event) []string {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return ids
}
