package mysql

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	sqlclassmysql "github.com/wardenhq/warden/policy/sqlclass/mysql"
)

// FuzzLiteral: a prepared statement's parameter, whatever its bytes, is
// written as one literal that the classifier accepts as a pure read and
// that reads back as exactly those bytes: a parameter can neither break
// out of its literal nor be read differently under another sql_mode.
func FuzzLiteral(f *testing.F) {
	for _, s := range []string{"", "x", "O'Brien", `\' OR 1=1 -- `, "a\x00b", "\xff\xfe", "é", "?", "*/", "\\", "'", "0x41", "1e5"} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(1))
	}
	parser := sqlparser.NewTestParser()
	f.Fuzz(func(t *testing.T, s string, kind uint8) {
		typ := querypb.Type_VARCHAR
		if kind%2 == 1 {
			typ = querypb.Type_VARBINARY
		}
		lit := literal(sqltypes.MakeTrusted(typ, []byte(s)))
		sql := "SELECT " + lit
		f, err := sqlclassmysql.Classify(context.Background(), sql, sqlclassmysql.Options{MaxBytes: len(sql) + 1})
		if err != nil {
			t.Fatalf("%q as %s: classifier: %v", s, lit, err)
		}
		if len(f.Statements) != 1 || !f.ReadOnly {
			t.Fatalf("%q as %s: %d statements, read-only %v", s, lit, len(f.Statements), f.ReadOnly)
		}
		st, err := parser.Parse(sql)
		if err != nil {
			t.Fatalf("%q as %s: %v", s, lit, err)
		}
		expr := st.(*sqlparser.Select).SelectExprs.Exprs[0].(*sqlparser.AliasedExpr).Expr
		if in, ok := expr.(*sqlparser.IntroducerExpr); ok {
			expr = in.Expr
		}
		l, ok := expr.(*sqlparser.Literal)
		if !ok {
			t.Fatalf("%q as %s: a %T, not a literal", s, lit, expr)
		}
		got := l.Val
		if l.Type == sqlparser.HexVal {
			b, err := hex.DecodeString(l.Val)
			if err != nil {
				t.Fatal(err)
			}
			got = string(b)
		}
		if got != s {
			t.Fatalf("%q as %s reads back as %q", s, lit, got)
		}
	})
}

// FuzzPlaceholders: placeholders never panics, and every offset it
// returns is a ? outside any string, name or comment: writing a value
// there keeps the rest of the text as it was.
func FuzzPlaceholders(f *testing.F) {
	for _, s := range []string{"SELECT ?", "SELECT '?', `?`, ? /* ? */, ?", "SELECT ? -- ?\n, ?", "INSERT INTO t VALUES (?, ?)", "SELECT /*! ? */", "SELECT \"?\""} {
		f.Add(s)
	}
	parser := sqlparser.NewTestParser()
	f.Fuzz(func(t *testing.T, sql string) {
		marks, err := placeholders(parser, sql)
		if err != nil {
			return
		}
		last := -1
		for _, m := range marks {
			if m <= last || m >= len(sql) || sql[m] != '?' {
				t.Fatalf("%q: bad offset %d in %v", sql, m, marks)
			}
			last = m
		}
		if strings.Count(sql, "?") < len(marks) {
			t.Fatalf("%q: %d marks for %d ?", sql, len(marks), strings.Count(sql, "?"))
		}
	})
}
