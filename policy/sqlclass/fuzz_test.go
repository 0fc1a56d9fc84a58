package sqlclass

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/wardenhq/warden/internal/testenv"
)

// FuzzClassify checks the classifier's safety properties on arbitrary
// text. Seeds: both corpora (and testdata/fuzz/FuzzClassify).
//   - It never panics.
//   - If PostgreSQL's parser rejects the text, Classify fails.
//   - ReadOnly holds exactly when every statement is a read, and a read
//     statement has no reasons and writes no table.
//   - A ReadOnly result never contains a data-modifying statement, SELECT
//     INTO or a locking clause anywhere in its parse tree (checked
//     independently on the parser's JSON output), unless it is under a
//     plain EXPLAIN.
//   - Caching does not change the result.
func FuzzClassify(f *testing.F) {
	for _, path := range []string{"testdata/bypass.txt", "testdata/readonly.txt"} {
		for _, c := range testenv.LoadCorpus(f, path) {
			f.Add(c.SQL)
		}
	}
	cache := NewCache(64)
	f.Fuzz(func(t *testing.T, sql string) {
		ctx := context.Background()
		facts, err := Classify(ctx, sql, Options{})
		tree, parseErr := pg_query.Parse(sql)
		if parseErr != nil && err == nil && !strings.ContainsRune(sql, 0) {
			t.Fatalf("parser rejects %q (%v) but Classify accepted it", sql, parseErr)
		}
		if err != nil {
			if !errors.Is(err, ErrUnparseable) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			if utf8.ValidString(sql) && !strings.ContainsRune(sql, 0) && parseErr == nil &&
				len(tree.GetStmts()) > 0 && errors.Is(err, ErrUnparseable) {
				t.Fatalf("parser accepts %q but Classify says unparseable: %v", sql, err)
			}
		} else {
			allRead := len(facts.Statements) > 0
			for _, st := range facts.Statements {
				if st.Kind != KindRead {
					allRead = false
				} else if len(st.Reasons) > 0 || len(st.TablesWritten) > 0 {
					t.Fatalf("read statement with reasons or writes: %+v", st)
				}
				if st.Kind != st.Kinds[len(st.Kinds)-1] {
					t.Fatalf("primary kind %s is not the most severe of %v", st.Kind, st.Kinds)
				}
			}
			if facts.ReadOnly != allRead {
				t.Fatalf("ReadOnly=%v but statements %+v", facts.ReadOnly, facts.Statements)
			}
			if facts.ReadOnly {
				checkNoHiddenWrite(t, sql, facts)
			}
		}
		cf, cerr := Classify(ctx, sql, Options{Cache: cache})
		if (err == nil) != (cerr == nil) || (err != nil && err.Error() != cerr.Error()) || !reflect.DeepEqual(facts, cf) {
			t.Fatalf("cache changed the result: %+v %v vs %+v %v", facts, err, cf, cerr)
		}
	})
}

// checkNoHiddenWrite looks for write markers in the parser's JSON output
// of every non-EXPLAIN statement of a ReadOnly result.
func checkNoHiddenWrite(t *testing.T, sql string, facts Facts) {
	t.Helper()
	for _, st := range facts.Statements {
		if st.Tag == "EXPLAIN" {
			continue
		}
		js, err := pg_query.ParseToJSON(sql[st.Location : st.Location+st.Length])
		if err != nil {
			continue // a statement that only parses in context
		}
		for _, marker := range []string{`"InsertStmt"`, `"UpdateStmt"`, `"DeleteStmt"`, `"MergeStmt"`,
			`"intoClause"`, `"lockingClause"`, `"CopyStmt"`, `"DoStmt"`, `"CallStmt"`} {
			if strings.Contains(js, marker) {
				t.Fatalf("ReadOnly but %s in the parse tree of %q", marker, sql)
			}
		}
	}
}
