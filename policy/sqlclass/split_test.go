package sqlclass

import (
	"testing"
)

// TestSplitTable: the fast path for names without quotes splits exactly as
// SplitName does.
func TestSplitTable(t *testing.T) {
	for _, name := range []string{"t", "s.t", "db.s.t", "a.b.c.d", `"My Schema"."T"`, `s."a.b"`, `"x""y".t`, "pg_catalog.pg_class", ".t", "s."} {
		parts := SplitName(name)
		wantSchema, wantTable := "public", parts[len(parts)-1]
		if len(parts) > 1 {
			wantSchema = parts[len(parts)-2]
		}
		schema, table := splitTable(name, "public")
		if schema != wantSchema || table != wantTable {
			t.Errorf("splitTable(%q) = %q, %q; want %q, %q", name, schema, table, wantSchema, wantTable)
		}
	}
}
