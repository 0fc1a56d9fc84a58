package sql

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"github.com/wardenhq/warden/connectors"
)

// TestQueryResultJSON: the hand-written encoder matches encoding/json.
func TestQueryResultJSON(t *testing.T) {
	r := &QueryResult{
		Connection: "c\"onn",
		Columns:    []connectors.Column{{Name: "a", Type: "text"}, {Name: "b<>&", Type: "numeric"}},
		Rows: [][]any{
			{"plain", json.Number("1.50")},
			{"esc \" \\ \n \r \t \x01 \u2028 é 日本 <b>&", int64(-42)},
			{nil, 3.25},
			{1e21, 1e-7},
			{1000000.0, -0.000001},
			{true, json.RawMessage(`{"k":[1,2]}`)},
			{"bad \xff utf8", false},
			{math.Inf(1), math.NaN()},
		},
		RowCount: 8, Truncated: true, MaxRows: 8, ElapsedMs: 1.25, CommandTag: "SELECT 6",
		ReadOnly: true, Masked: map[string]int64{"email": 2}, AuditID: "01ABC",
	}
	got, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	type plain QueryResult // without the MarshalJSON method
	p := plain(*r)
	p.Rows = [][]any{r.Rows[0], r.Rows[1], r.Rows[2], r.Rows[3], r.Rows[4], r.Rows[5], r.Rows[6], {"+Inf", "NaN"}}
	want, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if !json.Valid(got) {
		t.Error("invalid JSON")
	}
}
