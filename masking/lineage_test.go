package masking

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/wardenhq/warden/internal/testenv"
)

const piiProfile = `
profiles:
  pii:
    columns:
      - {match: "*.customers.ssn", strategy: partial, keep_last: 4}
      - {match: "public.customers.card_number", strategy: shape}
      - {match: "*.*.salary", strategy: redact, except: {groups: [hr]}}
      - {match: "*.orders.note", strategy: "null", connections: {names: [lite]}}
    detectors: [email]
`

// TestLineage traces output columns with no source reported by the target
// (the hard case: everything rests on the statement's lineage). Each want
// is one entry per output column: "rule:<source>" (masked by the rule of
// that source column), "detect" (detectors only), or "refuse:<text>".
func TestLineage(t *testing.T) {
	e := engine(t, piiProfile)
	tests := []struct {
		sql  string
		want []string
	}{
		{"SELECT id, name FROM customers", []string{"detect", "detect"}},
		{"SELECT ssn AS x FROM customers", []string{"rule:public.customers.ssn"}},
		{"SELECT c.ssn, o.total FROM customers c JOIN orders o ON o.customer_id = c.id", []string{"rule:public.customers.ssn", "detect"}},
		{"SELECT * FROM customers", []string{"detect", "detect", "detect", "rule:public.customers.ssn", "rule:public.customers.card_number", "detect", "rule:public.customers.salary"}},
		{"SELECT public.customers.ssn FROM public.customers", []string{"rule:public.customers.ssn"}},
		{"SELECT ssn::text, ssn::varchar FROM customers", []string{"rule:public.customers.ssn", "rule:public.customers.ssn"}},
		{"SELECT ssn::varchar(3) FROM customers", []string{"refuse:computed from masked column public.customers.ssn"}},
		{"SELECT upper(ssn) FROM customers", []string{"refuse:computed from masked column public.customers.ssn"}},
		{"SELECT 'x' || ssn FROM customers", []string{"refuse:public.customers.ssn"}},
		{"SELECT substring(ssn from 1 for 3) FROM customers", []string{"refuse:public.customers.ssn"}},
		{"SELECT x FROM (SELECT ssn AS x FROM customers) s", []string{"rule:public.customers.ssn"}},
		{"SELECT y FROM (SELECT left(ssn, 3) AS y FROM customers) s", []string{"refuse:public.customers.ssn"}},
		{"WITH c AS (SELECT ssn FROM customers) SELECT ssn FROM c", []string{"rule:public.customers.ssn"}},
		{"WITH c(z) AS (SELECT reverse(ssn) FROM customers) SELECT z FROM c", []string{"refuse:public.customers.ssn"}},
		{"SELECT ssn FROM customers UNION SELECT '078-05-1120'", []string{"rule:public.customers.ssn"}},
		{"SELECT name FROM customers UNION ALL SELECT card_number FROM customers", []string{"rule:public.customers.card_number"}},
		{"SELECT CASE WHEN id > 3 THEN ssn ELSE 'none' END FROM customers", []string{"rule:public.customers.ssn"}},
		{"SELECT CASE WHEN ssn LIKE '1%' THEN 'a' ELSE 'b' END FROM customers", []string{"detect"}},
		{"SELECT COALESCE(ssn, card_number) FROM customers", []string{"rule:public.customers.card_number"}}, // the stricter rule: shape over partial
		{"SELECT max(ssn), count(ssn), count(*) FROM customers", []string{"rule:public.customers.ssn", "detect", "detect"}},
		{"SELECT string_agg(ssn, ',') FROM customers", []string{"refuse:public.customers.ssn"}},
		{"SELECT array_agg(card_number) FROM customers", []string{"refuse:public.customers.card_number"}},
		{"SELECT row_to_json(c) FROM customers c", []string{"refuse:computed from masked column public.customers."}},
		{"SELECT to_json(c.*) FROM customers c", []string{"refuse:public.customers."}},
		{"SELECT json_build_object('s', ssn) FROM customers", []string{"refuse:public.customers.ssn"}},
		{"SELECT encode(ssn::bytea, 'hex') FROM customers", []string{"refuse:public.customers.ssn"}},
		{"SELECT (SELECT ssn FROM customers LIMIT 1)", []string{"rule:public.customers.ssn"}},
		{"SELECT ARRAY(SELECT ssn FROM customers)", []string{"refuse:public.customers.ssn"}},
		{"SELECT id FROM customers WHERE ssn LIKE '1%' ORDER BY ssn", []string{"detect"}},
		{"SELECT id, ssn FROM customer_ssn", []string{"detect", "rule:public.customers.ssn"}},
		{"SELECT ssn, tail FROM customer_ssn", []string{`refuse:"c1" is computed from masked column public.customers.ssn`, ""}},
		{"SELECT x FROM over_view", []string{"rule:public.customers.ssn"}},
		{"SELECT ssn FROM customers_2024", []string{"rule:public.customers_2024.ssn"}},
		{"SELECT get_ssn(1)", []string{"refuse:user-defined function"}},
		{"SELECT public.anything(1)", []string{"refuse:whose body masking cannot see"}},
		{"SELECT most_common_vals FROM pg_stats", []string{"refuse:samples of the values"}},
		{"SELECT relname FROM pg_class", []string{"detect"}},
		{"SELECT salary FROM customers", []string{"rule:public.customers.salary"}},
		{"SELECT note FROM orders", []string{"detect"}}, // its rule is for connection "lite"
		{"SELECT c FROM customers c", []string{"refuse:public.customers."}},
		{"SELECT ssn(c) FROM customers c", []string{"refuse:public.customers."}},
		{"SELECT (c).ssn FROM customers c", []string{"refuse:public.customers."}},
		{"SELECT x FROM customers, unnest(ARRAY[ssn]) AS x", []string{"refuse:public.customers.ssn"}},
		{"SELECT * FROM customers c, generate_series(1, 2) g", []string{"detect", "detect", "detect", "rule:public.customers.ssn", "rule:public.customers.card_number", "detect", "rule:public.customers.salary", "detect"}},
		{"SELECT id, ssn FROM customers JOIN customers_2024 USING (id, ssn)", []string{"detect", "rule:public.customers.ssn"}},
		{"SELECT lag(ssn) OVER (ORDER BY id) FROM customers", []string{"rule:public.customers.ssn"}},
		{"SELECT mode() WITHIN GROUP (ORDER BY ssn) FROM customers", []string{"refuse:public.customers.ssn"}},
		{"SELECT DISTINCT ON (ssn) ssn FROM customers", []string{"rule:public.customers.ssn"}},
		{"SELECT format('%s', ssn) FROM customers", []string{"refuse:public.customers.ssn"}},
		{"SELECT NULLIF(ssn, '') FROM customers", []string{"rule:public.customers.ssn"}},
		{"WITH RECURSIVE r(n, s) AS (SELECT 1, ssn FROM customers UNION ALL SELECT n + 1, s FROM r WHERE n < 3) SELECT n, s FROM r",
			[]string{"detect", "rule:public.customers.ssn"}},
		{"WITH RECURSIVE r(n, s) AS (SELECT 1, ssn FROM customers UNION ALL SELECT n + 1, s || 'x' FROM r WHERE n < 3) SELECT s FROM r",
			[]string{"refuse:public.customers.ssn"}},
		{"SELECT s FROM (VALUES ('a')) v(s) UNION SELECT ssn FROM customers", []string{"rule:public.customers.ssn"}},
		{"SELECT t.ssn FROM (SELECT * FROM customers) t", []string{"rule:public.customers.ssn"}},
		{"SELECT (SELECT upper(c2.ssn) FROM customers c2 WHERE c2.id = c.id) FROM customers c", []string{"refuse:public.customers.ssn"}},
		{"SELECT value FROM customers c, json_each(row_to_json(c))", []string{"refuse:public.customers."}},
		{"SELECT ssn FROM customers; SELECT 1", []string{"refuse:2 statements"}},
		{"EXPLAIN SELECT ssn FROM customers", []string{"detect"}},
		{"SELECT query_to_xml('select ssn from customers', true, true, '')", []string{"refuse:reads data masking cannot trace"}},
	}
	for _, tt := range tests {
		t.Run(tt.sql, func(t *testing.T) {
			cols := make([]Column, len(tt.want))
			for i := range cols {
				cols[i].Name = "c" + string(rune('0'+i))
			}
			got := plans(t, e, tt.sql, cols)
			// Lineage is cached by shape: an engine that first traced the
			// statement with other constants must plan it the same.
			if variant, ok := testenv.OtherConstants(tt.sql); ok {
				taught := engine(t, piiProfile)
				plans(t, taught, variant, cols)
				if again := plans(t, taught, tt.sql, cols); !slices.Equal(again, got) {
					t.Errorf("after tracing %q: %q, want %q", variant, again, got)
				}
			}
			for i, w := range tt.want {
				if i >= len(got) {
					t.Fatalf("column %d: no plan", i)
				}
				if strings.HasPrefix(w, "refuse:") {
					if !strings.Contains(got[i], strings.TrimPrefix(w, "refuse:")) {
						t.Errorf("column %d = %q, want refusal containing %q", i, got[i], w)
					}
					return
				}
				if got[i] != w {
					t.Errorf("column %d = %q, want %q", i, got[i], w)
				}
			}
		})
	}
}

// plans runs For and describes each column's plan, or the refusal.
func plans(t *testing.T, e *Engine, sql string, cols []Column) []string {
	t.Helper()
	rm, err := e.For(context.Background(), Request{Subject: "agent", Groups: []string{"agents"}, Connection: "pg",
		Profile: "pii", Columns: cols, SQL: sql, Sources: shop()})
	var re *RefusedError
	if errors.As(err, &re) {
		if !errors.Is(err, ErrRefused) {
			t.Error("refusal does not match ErrRefused")
		}
		out := make([]string, len(cols))
		for i := range out {
			out[i] = "refuse: " + re.Reason
		}
		return out
	}
	if err != nil {
		t.Fatal(err)
	}
	m, ok := rm.(*rowMasker)
	if !ok {
		t.Fatalf("masker %T", rm)
	}
	out := make([]string, len(m.plans))
	for i, p := range m.plans {
		switch {
		case p.rule != nil:
			out[i] = "rule:" + p.source
		case p.detect:
			out[i] = "detect"
		default:
			out[i] = "none"
		}
	}
	return out
}
