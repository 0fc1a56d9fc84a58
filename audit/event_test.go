package audit

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestEventJSON(t *testing.T) {
	e := Event{
		ID:        "01JTESTTESTTESTTESTTESTTES",
		Time:      time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC),
		Identity:  "alice",
		Groups:    []string{"agents"},
		Arguments: json.RawMessage(`{"sql":"select 1"}`),
		Status:    StatusOK,
		Duration:  1500 * time.Microsecond,
		Rows:      3,
		Truncated: true,
		Masked:    map[string]int64{"email": 2},
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"id": e.ID, "time": "2026-05-01T09:00:00Z", "identity": "alice", "groups": []any{"agents"},
		"arguments": map[string]any{"sql": "select 1"}, "status": "ok", "duration_ms": 1.5,
		"rows": 3.0, "truncated": true, "masked": map[string]any{"email": 2.0},
	}
	if !reflect.DeepEqual(fields, want) {
		t.Errorf("JSON fields:\n got  %v\n want %v", fields, want)
	}

	var back Event
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, e) {
		t.Errorf("round trip:\n got  %+v\n want %+v", back, e)
	}
}
