package sqlite_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/wardenhq/warden/policy"
)

// FuzzClassify: any text either is refused or classified; a text
// classified read-only shows only reads; nothing panics.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{"SELECT * FROM customers", "PRAGMA table_info(orders)", "DELETE FROM orders", "PRAGMA user_version = 1",
		"WITH x AS (SELECT 1) SELECT * FROM x", "SELECT 1; SELECT 2", "ATTACH 'x' AS y", "EXPLAIN SELECT 1", "/* */ VACUUM"} {
		f.Add(s)
	}
	cl := newClassifier(f)
	f.Fuzz(func(t *testing.T, sql string) {
		facts, err := cl.Classify(t.Context(), policy.ClassifyRequest{Statement: sql})
		if err != nil {
			if !errors.Is(err, policy.ErrNotUnderstood) {
				t.Fatalf("%q: an error that is not a refusal: %v", sql, err)
			}
			return
		}
		if facts.ReadOnly && !slices.Equal(facts.Kinds, []string{"read"}) {
			t.Fatalf("%q: read-only with kinds %v", sql, facts.Kinds)
		}
	})
}
