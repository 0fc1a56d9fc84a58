package masking

import (
	"context"
	"testing"
)

// FuzzLineage: any SQL text, traced against the test catalog, never
// panics, and For either refuses or plans every column.
func FuzzLineage(f *testing.F) {
	for _, s := range []string{
		"SELECT ssn AS x FROM customers",
		"WITH RECURSIVE r(n, s) AS (SELECT 1, ssn FROM customers UNION ALL SELECT n + 1, s FROM r) SELECT * FROM r",
		"SELECT * FROM customers c JOIN orders o USING (id) NATURAL JOIN customer_ssn, LATERAL unnest(ARRAY[c.ssn]) WITH ORDINALITY u(x, n)",
		"SELECT (SELECT max(ssn) FILTER (WHERE id > 1) FROM customers), COALESCE(NULLIF(ssn, ''), 'x')::text FROM customers",
		"INSERT INTO customers (id) SELECT id FROM orders ON CONFLICT (id) DO UPDATE SET ssn = excluded.ssn RETURNING *",
		"SELECT * FROM ROWS FROM (generate_series(1, 2), json_each('{}')) AS t(a, b, c), XMLTABLE('/a' PASSING '<a/>' COLUMNS x text) x",
		"VALUES (1, 'a'), (2, (SELECT ssn FROM customers LIMIT 1))",
	} {
		f.Add(s, 3)
	}
	e := engine(f, piiProfile)
	f.Fuzz(func(t *testing.T, sql string, n int) {
		if n < 0 || n > 64 || len(sql) > 4096 {
			return
		}
		cols := make([]Column, n)
		for i := range cols {
			cols[i].Name = "c"
			if i%3 == 1 {
				cols[i].TableOID, cols[i].Attribute = 100, uint16(i%9)
			}
		}
		rm, err := e.For(context.Background(), Request{Profile: "pii", Subject: "a", Connection: "pg", Columns: cols, SQL: sql, Sources: shop()})
		if err != nil {
			return
		}
		row := make([]any, n)
		for i := range row {
			row[i] = "219-09-9999 ada@example.com"
		}
		rm.MaskRow(row)
		rm.Summary()
	})
}
