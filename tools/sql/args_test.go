package sql

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/tools"
)

var testLimits = config.Limits{MaxSQLBytes: 1024, DefaultMaxRows: 10, MaxRows: 100}

// TestQueryArgsRefusals: bad run_query arguments are refused with what is
// wrong with them.
func TestQueryArgsRefusals(t *testing.T) {
	zero := 0
	for name, tc := range map[string]struct {
		args RunQueryArgs
		want string
	}{
		"no connection":    {RunQueryArgs{SQL: "SELECT 1"}, `argument "connection" is required`},
		"empty SQL":        {RunQueryArgs{Connection: "c", SQL: " \n"}, `argument "sql" is empty`},
		"too long":         {RunQueryArgs{Connection: "c", SQL: strings.Repeat("x", 1025)}, "the SQL is 1025 bytes, over this Warden's limit of 1024 bytes"},
		"not UTF-8":        {RunQueryArgs{Connection: "c", SQL: "SELECT '\xff'"}, "the SQL is not valid UTF-8 text"},
		"a NUL":            {RunQueryArgs{Connection: "c", SQL: "SELECT 1\x00; DROP TABLE t"}, "the SQL contains a NUL byte (at byte 8): SQL text cannot contain NUL"},
		"max_rows under 1": {RunQueryArgs{Connection: "c", SQL: "SELECT 1", MaxRows: &zero}, `argument "max_rows" must be at least 1, got 0`},
	} {
		t.Run(name, func(t *testing.T) {
			e := checkQueryArgs(tc.args, testLimits)
			if e == nil || e.Code != gateway.CodeInvalidArgument || e.Message != tc.want {
				t.Fatalf("got %v, want %q", e, tc.want)
			}
		})
	}
	if e := checkQueryArgs(RunQueryArgs{Connection: "c", SQL: "SELECT 'é'"}, testLimits); e != nil {
		t.Fatalf("a good call refused: %v", e)
	}
}

// FuzzToolArgs: the arguments of run_query and describe_schema, as an MCP
// client sends them, decode strictly or are refused with a reason, never
// a panic; what decodes round-trips, and what checkQueryArgs lets through
// is a statement the pipeline can take.
func FuzzToolArgs(f *testing.F) {
	for _, s := range []string{
		`{"connection":"app","sql":"SELECT 1"}`,
		`{"connection":"app","sql":"SELECT 1","max_rows":5,"justification":"why"}`,
		`{"connection":"app","sql":"SELECT 1\u0000"}`,
		`{"connection":"app","sql":"\ud800"}`,
		`{"connection":"app","sql":1}`,
		`{"connection":"app","sqll":"x"}`,
		`{"connection":"app","schema":"public","table":"t"}`,
		`{"connection":"app"}{}`,
		`null`, ``, `[]`, `{"max_rows":-1}`, `{"max_rows":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var q RunQueryArgs
		if err := tools.DecodeArgs(raw, &q); err != nil {
			if err.Error() == "" {
				t.Fatal("a refusal without a reason")
			}
		} else {
			var again RunQueryArgs
			b, _ := json.Marshal(q)
			if err := tools.DecodeArgs(b, &again); err != nil || !reflect.DeepEqual(q, again) {
				t.Fatalf("%q: round trip %q: %v, %+v != %+v", raw, b, err, again, q)
			}
			if e := checkQueryArgs(q, testLimits); e == nil {
				if q.Connection == "" || strings.TrimSpace(q.SQL) == "" || len(q.SQL) > testLimits.MaxSQLBytes ||
					!utf8.ValidString(q.SQL) || strings.IndexByte(q.SQL, 0) >= 0 || (q.MaxRows != nil && *q.MaxRows < 1) {
					t.Fatalf("%q let through: %+v", raw, q)
				}
			} else if e.Code != gateway.CodeInvalidArgument || e.Message == "" {
				t.Fatalf("%q: refusal %+v", raw, e)
			}
		}
		var d DescribeSchemaArgs
		if err := tools.DecodeArgs(raw, &d); err == nil {
			var again DescribeSchemaArgs
			b, _ := json.Marshal(d)
			if err := tools.DecodeArgs(b, &again); err != nil || again != d {
				t.Fatalf("%q: round trip %q: %v", raw, b, err)
			}
		}
	})
}
