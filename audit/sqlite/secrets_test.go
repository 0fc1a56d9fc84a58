package sqlite

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/audit/audittest"
)

// The store records what it is given and nothing else: no value it was not
// handed appears in the row, the database files or its logs.
func TestStoreAddsNothingToEvents(t *testing.T) {
	const canary = "canary-5e3f9d1c-not-a-secret"
	t.Setenv("WARDEN_TEST_CANARY", canary)
	logger, logs := newTestLogger()
	path := filepath.Join(t.TempDir(), "audit.db")
	s, err := Open(testContext(t), path, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)

	args := json.RawMessage(`{ "sql" : "select 1",  "max_rows":5 }`) // odd spacing: must survive as is
	e := &audit.Event{
		Time: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), Identity: "alice", Tool: "run_query",
		Connection: "demo", Arguments: args, Statement: "select 1", Decision: audit.DecisionAllow, Status: audit.StatusOK,
		Credential: "static",
	}
	if err := s.Record(ctx, e); err != nil {
		t.Fatal(err)
	}

	rows, err := s.DB().QueryContext(ctx, "SELECT * FROM events")
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	if !rows.Next() {
		t.Fatal("no row")
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	got := map[string]any{}
	for i, c := range cols {
		v := vals[i]
		if b, ok := v.([]byte); ok {
			v = string(b)
		}
		if v != nil && v != "" && v != int64(0) {
			got[c] = v
		}
	}
	want := map[string]any{
		"id": e.ID, "time": "2026-01-02T03:04:05.000006000Z", "identity": "alice", "groups_json": "[]",
		"tool": "run_query", "connection": "demo", "arguments": string(args), "statement": "select 1",
		"decision": audit.DecisionAllow, "status": audit.StatusOK, "credential": "static",
		"instance": processInstance(), // host, PID and start of the process that wrote it
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stored row:\n got  %v\n want %v", got, want)
	}

	// A run too: its row holds the events' columns and nothing else.
	r := rand.New(rand.NewPCG(1, 1))
	commitFolded(t, s, audittest.SessionEvent("sess-a", 1, r), audittest.SessionEvent("sess-a", 2, r))
	if n := countRows(t, s, "event_runs"); n != 1 {
		t.Fatalf("%d runs, want 1", n)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(path + "*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), canary) {
			t.Errorf("%s contains a value from the environment", f)
		}
	}
	for _, leak := range []string{canary, "select 1", "alice", "max_rows"} {
		if strings.Contains(logs.String(), leak) {
			t.Errorf("store logs contain %q:\n%s", leak, logs)
		}
	}
}
