package masking_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/masking"
)

// FuzzSQLiteMasking runs arbitrary statements through run_query on the
// SQLite corpus: a call either fails, or returns rows holding none of the
// corpus's secrets as they are stored (an encoded secret is the lineage's
// to refuse, which the corpus checks case by case); and nothing panics.
func FuzzSQLiteMasking(f *testing.F) {
	for _, s := range []string{
		"SELECT * FROM customers",
		"SELECT name FROM customers UNION ALL SELECT ssn FROM customers",
		"WITH t AS (SELECT ssn AS x FROM customers) SELECT x FROM t",
		"SELECT social FROM contacts_again",
		"SELECT coalesce(card_number, ssn) FROM customers",
		"SELECT (SELECT ssn FROM customers WHERE id = 2)",
		"SELECT * FROM customers NATURAL JOIN customer_contacts",
		"SELECT max(salary) OVER () FROM customers",
	} {
		f.Add(s)
	}
	env := newSQLiteCorpusEnv(f)
	f.Fuzz(func(t *testing.T, sql string) {
		if len(sql) > 2048 {
			return
		}
		res, err := env.query("agents", sql)
		if err != nil {
			var ge *gateway.Error
			if !errors.As(err, &ge) && !errors.Is(err, masking.ErrRefused) {
				t.Fatalf("%q: not a tool error: %v", sql, err)
			}
			return
		}
		b, _ := json.Marshal(res.Rows)
		for _, s := range corpusSecrets {
			if strings.Contains(string(b), s) {
				t.Fatalf("%q: secret %q came back: %s", sql, s, b)
			}
		}
	})
}
