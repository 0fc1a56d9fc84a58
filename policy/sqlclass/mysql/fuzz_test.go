package mysql

import (
	"context"
	"errors"
	"testing"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/wardenhq/warden/internal/testenv"
	"github.com/wardenhq/warden/policy/sqlclass"
)

// FuzzClassify checks the classifier's safety properties on arbitrary
// text. Seeds: both corpora and testdata/fuzz/FuzzClassify.
//   - It never panics, and every error wraps a sentinel.
//   - ReadOnly holds exactly when every statement is a read, and a read
//     statement has no reasons and writes no table; a statement's Kind is
//     the most severe of its Kinds.
//   - A ReadOnly statement, parsed again on its own by vitess (with its
//     own reading of executable comments), contains no data-modifying
//     statement, locking clause, INTO, assignment or SET (checked
//     independently of the classifier's walk), unless it is a plain
//     EXPLAIN.
//   - What is ReadOnly for an unknown server is ReadOnly (or an error)
//     for every server version.
func FuzzClassify(f *testing.F) {
	for _, path := range []string{"testdata/bypass.txt", "testdata/readonly.txt"} {
		for _, c := range testenv.LoadCorpus(f, path) {
			f.Add(c.SQL)
		}
	}
	f.Fuzz(func(t *testing.T, sql string) {
		ctx := context.Background()
		facts, err := Classify(ctx, sql, Options{})
		if err != nil {
			if !errors.Is(err, sqlclass.ErrUnparseable) && !errors.Is(err, sqlclass.ErrUnsupported) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
		allRead := len(facts.Statements) > 0
		for _, st := range facts.Statements {
			if st.Kind != sqlclass.KindRead {
				allRead = false
			} else if len(st.Reasons) > 0 || len(st.TablesWritten) > 0 {
				t.Fatalf("read statement with reasons or writes: %+v", st)
			}
			if len(st.Kinds) == 0 || st.Kind != st.Kinds[len(st.Kinds)-1] {
				t.Fatalf("primary kind %s is not the most severe of %v", st.Kind, st.Kinds)
			}
			if st.Location < 0 || st.Length <= 0 || st.Location+st.Length > len(sql) {
				t.Fatalf("statement extent %d+%d outside the %d-byte input", st.Location, st.Length, len(sql))
			}
		}
		if facts.ReadOnly != allRead {
			t.Fatalf("ReadOnly=%v but statements %+v", facts.ReadOnly, facts.Statements)
		}
		if !facts.ReadOnly {
			return
		}
		for _, st := range facts.Statements {
			checkNoHiddenWrite(t, sql[st.Location:st.Location+st.Length])
		}
		for _, v := range []string{"5.7.44", "8.0.36", "9.1.0", "10.11.6-MariaDB"} {
			vf, verr := Classify(ctx, sql, Options{ServerVersion: v})
			if verr == nil && !vf.ReadOnly {
				t.Fatalf("ReadOnly for an unknown server but not for %s: %q", v, allReasons(vf))
			}
		}
	})
}

// checkNoHiddenWrite parses one statement with vitess directly and looks
// for nodes that never belong in a read.
func checkNoHiddenWrite(t *testing.T, stmt string) {
	t.Helper()
	var tree sqlparser.Statement
	var err error
	func() {
		defer func() {
			if recover() != nil {
				err = errParserPanic
			}
		}()
		tree, err = sqlparser.NewTestParser().Parse(stmt)
	}()
	if err != nil {
		return // only parses in context, or vitess reads a comment otherwise
	}
	switch x := tree.(type) {
	case *sqlparser.Select, *sqlparser.Union, *sqlparser.ValuesStatement, *sqlparser.Show, *sqlparser.ExplainTab:
	case *sqlparser.ExplainStmt:
		if x.Type == sqlparser.AnalyzeType {
			switch x.Statement.(type) {
			case *sqlparser.Select, *sqlparser.Union, *sqlparser.ValuesStatement:
			default:
				t.Fatalf("ReadOnly but EXPLAIN ANALYZE of %T: %q", x.Statement, stmt)
			}
		}
		return
	default:
		t.Fatalf("ReadOnly but the statement is a %T: %q", tree, stmt)
	}
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		switch x := n.(type) {
		case *sqlparser.Insert, *sqlparser.Update, *sqlparser.Delete, *sqlparser.AssignmentExpr,
			*sqlparser.SelectInto, *sqlparser.Nextval:
			t.Fatalf("ReadOnly but %T in %q", n, stmt)
		case *sqlparser.Select:
			if x.Lock != sqlparser.NoLock || x.Into != nil {
				t.Fatalf("ReadOnly but a locking or INTO clause in %q", stmt)
			}
		case *sqlparser.Union:
			if x.Lock != sqlparser.NoLock || x.Into != nil {
				t.Fatalf("ReadOnly but a locking or INTO clause in %q", stmt)
			}
		case *sqlparser.LockingFunc:
			if x.Type != sqlparser.IsFreeLock && x.Type != sqlparser.IsUsedLock {
				t.Fatalf("ReadOnly but %s in %q", x.Type.ToString(), stmt)
			}
		case *sqlparser.FuncExpr:
			if !x.Qualifier.IsEmpty() || !safeFunctions[x.Name.Lowered()] {
				t.Fatalf("ReadOnly but function %s in %q", x.Name.String(), stmt)
			}
		}
		return true, nil
	}, tree)
}
