package approvals

import (
	"strings"
	"testing"
)

func TestHighlightKeepsEveryByte(t *testing.T) {
	for _, sql := range []string{
		"SELECT a, 'it''s' AS s, \"Q\" FROM t -- c\nWHERE x = $1 AND y = 1.5e3 /* x */",
		"DO $body$ BEGIN DELETE FROM t; END $body$",
		"SELECT E'\\n', 'unterminated",
		"SELECT 'é', naïve FROM ü\x00\xff",
	} {
		var b strings.Builder
		kinds := map[string]bool{}
		for _, tk := range highlightSQL(sql) {
			b.WriteString(tk.Text)
			kinds[tk.Class] = true
		}
		if b.String() != sql {
			t.Errorf("%q became %q", sql, b.String())
		}
		if !kinds["kw"] {
			t.Errorf("%q: no keyword found", sql)
		}
	}
	toks := highlightSQL("DELETE FROM orders WHERE note = 'x' -- why")
	want := []sqlToken{{"kw", "DELETE"}, {"", " "}, {"kw", "FROM"}, {"", " orders "}, {"kw", "WHERE"}, {"", " note "}, {"op", "="}, {"", " "}, {"str", "'x'"}, {"", " "}, {"com", "-- why"}}
	if len(toks) != len(want) {
		t.Fatalf("%q", toks)
	}
	for i := range want {
		if toks[i] != want[i] {
			t.Errorf("token %d = %q, want %q", i, toks[i], want[i])
		}
	}
}

func TestHighlightKeywordsAnyCase(t *testing.T) {
	for word, kw := range map[string]bool{
		"SELECT": true, "select": true, "Returning": true, "vacuum": true, "ilike": true, "nulls": true,
		"orders": false, "selects": false, "sel": false, "": false, "naïve": false,
	} {
		toks := highlightSQL(word)
		got := len(toks) == 1 && toks[0].Class == "kw"
		if got != kw {
			t.Errorf("%q highlighted as %q, keyword %v; want keyword %v", word, toks, got, kw)
		}
	}
}
