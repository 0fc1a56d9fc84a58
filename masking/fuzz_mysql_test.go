package masking

import (
	"context"
	"testing"
)

// mysqlShop is the test catalog as a MySQL target's: statements are traced
// with the MySQL lineage.
type mysqlShop struct{ *fakeCatalog }

func (mysqlShop) SQLDialect() string { return DialectMySQL }

// FuzzMySQLLineage: any SQL text, traced as MySQL against the test
// catalog, never panics, and For either refuses or plans every column.
func FuzzMySQLLineage(f *testing.F) {
	for _, s := range []string{
		"SELECT ssn AS x FROM customers",
		"WITH RECURSIVE r (n, s) AS (SELECT 1, ssn FROM customers UNION ALL SELECT n + 1, s FROM r) SELECT * FROM r",
		"SELECT * FROM customers c JOIN orders o USING (id) NATURAL JOIN customer_ssn",
		"SELECT (SELECT MAX(ssn) FROM customers), COALESCE(NULLIF(ssn, ''), 'x'), CAST(ssn AS CHAR) FROM customers",
		"SELECT j.v FROM customers c, JSON_TABLE(JSON_ARRAY(c.ssn), '$[*]' COLUMNS (v varchar(20) PATH '$')) j",
		"SELECT GROUP_CONCAT(ssn ORDER BY id SEPARATOR ';'), JSON_OBJECT('a', ssn), @x FROM customers",
		"VALUES ROW(1, 'a'), ROW(2, (SELECT ssn FROM customers LIMIT 1))",
		"SELECT LAG(ssn) OVER (PARTITION BY id ORDER BY name) FROM customers",
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
		}
		rm, err := e.For(context.Background(), Request{Profile: "pii", Subject: "a", Connection: "pg", Columns: cols, SQL: sql, Sources: mysqlShop{shop()}})
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
