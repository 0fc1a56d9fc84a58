package masking

import (
	"context"
	"fmt"
	"strings"
	"time"

	"vitess.io/vitess/go/vt/sqlparser"
)

// Dialecter is implemented by a SourceResolver whose target does not speak
// PostgreSQL's SQL: its statements and views are traced with the parser of
// its dialect.
type Dialecter interface {
	// SQLDialect names the dialect: DialectMySQL.
	SQLDialect() string
}

// DialectMySQL is MySQL's and MariaDB's SQL, traced with vitess's parser
// (lineage_mysql.go). Its SourceResolver answers by name only: MySQL's
// column definitions name their origin, but the connector cannot read
// them (go-sql-driver keeps them to itself), so every output is traced
// from the statement; Relation.OID only tells relations apart, and
// Relation.Query is a view's definition in MySQL's SQL.
const DialectMySQL = "mysql"

// isMySQL reports whether res's target speaks MySQL's SQL.
func isMySQL(res SourceResolver) bool {
	d, ok := res.(Dialecter)
	return ok && d.SQLDialect() == DialectMySQL
}

// mysqlParser is vitess's MySQL parser, as the classifier uses it.
var mysqlParser = func() *sqlparser.Parser {
	p, err := sqlparser.New(sqlparser.Options{})
	if err != nil {
		panic("masking: " + err.Error())
	}
	return p
}()

// parseMySQL parses one MySQL statement. Text holding an executable
// comment (/*! ... */, MariaDB's /*M! ... */) is not parsed: the server
// runs the comment's text by its own version, which vitess would read
// for another one, and masking must trace what the server runs.
func parseMySQL(sql string) (sqlparser.Statement, string) {
	if strings.Contains(sql, "/*!") || strings.Contains(sql, "/*M!") || strings.Contains(sql, "/*m!") {
		return nil, "the SQL holds an executable comment (/*! ... */), which masking does not trace"
	}
	st, err := mysqlParser.Parse(sql)
	if err != nil {
		return nil, "the SQL cannot be parsed"
	}
	return st, ""
}

// mysqlSources is Engine.sources for a MySQL target: every output column
// traced through the statement's lineage, with names resolved through the
// catalog (tables, views' definitions, stored functions).
func (e *Engine) mysqlSources(ctx context.Context, req Request) ([]taint, time.Time, error) {
	cat := e.catalog(req.Connection)
	key := "m" + req.SQL
	lin, expires, cached := cat.trace(key)
	var tree sqlparser.Statement
	n := newNeed()
	if !cached {
		var why string
		if req.SQL == "" {
			why = "the statement is not known"
		} else if tree, why = parseMySQL(req.SQL); tree != nil {
			collectMySQLNames(tree, n)
		}
		if tree == nil {
			lin = &lineage{why: why}
		}
	}
	for _, c := range req.Columns {
		if c.Origin.Table != "" {
			n.names[Name{Schema: c.Origin.Schema, Name: c.Origin.Table}] = true
		}
	}
	view, err := cat.mysqlView(ctx, req.Sources, n)
	if err != nil {
		return nil, time.Time{}, err
	}
	an := &mysqlAnalyser{analyser: newAnalyser(view)}
	if tree != nil {
		lin = an.statement(tree)
		expires = cat.putTrace(key, lin, view.expires)
	}
	if !view.expires.IsZero() && view.expires.Before(expires) {
		expires = view.expires
	}
	var traced []taint
	if lin != nil && lin.ok {
		traced, _ = align(lin.outputs, len(req.Columns))
	}
	out := make([]taint, len(req.Columns))
	for i, c := range req.Columns {
		if c.Origin.Table != "" {
			out[i].add(an.origin(c.Origin))
		}
		if traced != nil {
			out[i].add(traced[i])
			continue
		}
		why := "the statement could not be traced"
		if lin != nil && lin.why != "" {
			why = lin.why
		} else if lin != nil && lin.ok {
			why = fmt.Sprintf("the statement's %d outputs do not line up with the result's %d columns", len(lin.outputs), len(req.Columns))
		}
		out[i].addOpaque("cannot be traced to its source: " + why)
	}
	return out, expires, nil
}

// mysqlView looks up everything n names and, transitively, everything the
// views among them name (parsed as MySQL), and returns a fixed view.
func (c *catalog) mysqlView(ctx context.Context, res SourceResolver, n *need) (*catalogView, error) {
	v := &catalogView{byOID: map[uint32]*relInfo{}, byName: map[Name]*relInfo{}, userFuncs: map[string]bool{}}
	seenViews := map[*relInfo]bool{}
	for round := 0; round <= maxViewDepth && !n.empty(); round++ {
		if missing := c.lookup(v, n); missing != nil {
			if err := c.fetch(ctx, res, missing); err != nil {
				return nil, err
			}
			if again := c.lookup(v, n); again != nil {
				return nil, fmt.Errorf("masking: catalog answer incomplete")
			}
		}
		next := newNeed()
		for _, r := range v.all() {
			if r.Kind != KindView || seenViews[r] {
				continue
			}
			seenViews[r] = true
			if st, _ := parseMySQL(r.Query); st != nil {
				collectMySQLNames(st, next)
			}
		}
		n = next
	}
	return v, nil // deeper views are analysed as untraceable
}

// collectMySQLNames records every table and function a statement names.
// Unqualified names have an empty Schema: the connection's database.
func collectMySQLNames(st sqlparser.SQLNode, n *need) {
	sqlparser.Walk(func(node sqlparser.SQLNode) (bool, error) {
		switch x := node.(type) {
		case sqlparser.TableName:
			if !x.Name.IsEmpty() {
				n.names[Name{Schema: x.Qualifier.String(), Name: x.Name.String()}] = true
			}
		case *sqlparser.FuncExpr:
			n.funcs[mysqlFuncName(x)] = true
		}
		return true, nil
	}, st)
}

// mysqlFuncName is a function's name as SourcesRequest.Functions asks it:
// lower-case, "db.fn" when qualified.
func mysqlFuncName(f *sqlparser.FuncExpr) string {
	name := f.Name.Lowered()
	if !f.Qualifier.IsEmpty() {
		return f.Qualifier.String() + "." + name
	}
	return name
}

// origin is the source column the server's column definition names: a
// table's column, or a view's traced through the view. A relation or
// column the catalog does not know adds nothing: the statement's lineage,
// which must trace every output, decides alone then.
func (a *mysqlAnalyser) origin(o ColumnName) taint {
	rel := a.cat.byName[Name{Schema: o.Schema, Name: o.Table}]
	if rel == nil {
		return taint{}
	}
	name := strings.ToLower(o.Column)
	for _, c := range a.relationColumns(rel) {
		if c.definite(name) {
			return c.t
		}
	}
	return taint{}
}
