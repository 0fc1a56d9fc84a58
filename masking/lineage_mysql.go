package masking

import (
	"fmt"
	"strings"

	"vitess.io/vitess/go/vt/sqlparser"
)

// The lineage of MySQL and MariaDB statements, over vitess's parse tree,
// with the rules of lineage.go: a column reference is direct, and so are
// its re-projections (aliases, derived tables, WITH queries, views traced
// through their definitions, UNION arms and VALUES rows, CASE and IF
// results, COALESCE, IFNULL, NULLIF's first argument, GREATEST, LEAST,
// MIN, MAX, ANY_VALUE, FIRST_VALUE, LAST_VALUE, NTH_VALUE, LAG, LEAD, a
// scalar subquery's output, COLLATE, a cast to CHAR without a length or
// character set); every other function, operator, cast, aggregate and
// JSON builder computes (a node this file does not know computes from
// every expression beneath it); what only filters, groups or orders does
// not taint; COUNT is a number. Opaque: stored functions, variables
// (which may hold a value of an earlier statement), tables the catalog
// does not know, the server's column statistics (mysql.column_stats holds
// values of every analysed column), and statements other than queries.
//
// Names: columns match without regard to case (MySQL's rule), tables and
// aliases exactly (case-sensitive on Linux, as lower_case_table_names=0
// makes them); column names in the analysis are lower-case.

// mysqlAnalyser traces MySQL statements; the embedded analyser carries the
// catalog view, the traced views and the name resolution shared with
// PostgreSQL's lineage (scopes, FROM items, * expansion).
type mysqlAnalyser struct {
	*analyser
}

// mysqlStatisticsTables hold samples of the values of every analysed
// column.
var mysqlStatisticsTables = map[string]bool{
	"mysql.column_stats": true, "mysql.index_stats": true, "information_schema.column_statistics": true,
}

// statement traces a parsed statement.
func (a *mysqlAnalyser) statement(st sqlparser.Statement) *lineage {
	ts, ok := st.(sqlparser.TableStatement)
	if !ok {
		return &lineage{why: fmt.Sprintf("masking cannot trace %s statements", mysqlNodeName(st))}
	}
	return &lineage{outputs: a.query(ts, nil, nil), ok: true}
}

func mysqlNodeName(n sqlparser.SQLNode) string {
	return strings.TrimPrefix(fmt.Sprintf("%T", n), "*sqlparser.")
}

// query traces a SELECT, UNION or VALUES.
func (a *mysqlAnalyser) query(ts sqlparser.TableStatement, outer *scope, ctes *cteScope) []column {
	switch x := ts.(type) {
	case *sqlparser.Select:
		if x.With != nil {
			ctes = a.with(x.With, outer, ctes)
		}
		sc := &scope{parent: outer, ctes: ctes}
		for _, te := range x.From {
			sc.tree = append(sc.tree, a.fromItem(te, sc))
		}
		var out []column
		if x.SelectExprs == nil {
			return nil
		}
		for _, se := range x.SelectExprs.Exprs {
			out = append(out, a.selectExpr(se, sc)...)
		}
		return out
	case *sqlparser.Union:
		if x.With != nil {
			ctes = a.with(x.With, outer, ctes)
		}
		return setOp(a.query(x.Left, outer, ctes), a.query(x.Right, outer, ctes))
	case *sqlparser.ValuesStatement:
		if x.With != nil {
			ctes = a.with(x.With, outer, ctes)
		}
		sc := &scope{parent: outer, ctes: ctes}
		var out []column
		for _, row := range x.Rows {
			cols := make([]column, len(row))
			for i, e := range row {
				cols[i] = column{anyName: true, t: a.expr(e, sc)}
			}
			if out == nil {
				out = cols
			} else {
				out = setOp(out, cols)
			}
		}
		if out == nil {
			return []column{{spread: true, t: opaqueTaint("VALUES of a list masking cannot see")}}
		}
		return out
	}
	return []column{{spread: true, t: opaqueTaint("a %s query cannot be traced", mysqlNodeName(ts))}}
}

// selectExpr traces one output of a select list.
func (a *mysqlAnalyser) selectExpr(se sqlparser.SelectExpr, sc *scope) []column {
	switch x := se.(type) {
	case *sqlparser.StarExpr:
		var qual []string
		if !x.TableName.Name.IsEmpty() {
			if !x.TableName.Qualifier.IsEmpty() {
				qual = append(qual, x.TableName.Qualifier.String())
			}
			qual = append(qual, x.TableName.Name.String())
		}
		return a.star(qual, sc)
	case *sqlparser.AliasedExpr:
		c := column{t: a.expr(x.Expr, sc)}
		switch {
		case !x.As.IsEmpty():
			c.name = x.As.Lowered()
		case isColName(x.Expr):
			c.name = x.Expr.(*sqlparser.ColName).Name.Lowered()
		default:
			// MySQL names it by the expression's text: any name, for
			// references from outside.
			c.anyName = true
		}
		return []column{c}
	}
	return []column{{anyName: true, t: a.generic(se, sc)}}
}

func isColName(e sqlparser.Expr) bool { _, ok := e.(*sqlparser.ColName); return ok }

// with traces a WITH clause and returns the scope of its names; WITH
// RECURSIVE to a fixed point, as lineage.go does.
func (a *mysqlAnalyser) with(w *sqlparser.With, outer *scope, ctes *cteScope) *cteScope {
	cs := &cteScope{parent: ctes, defs: map[string]*cteDef{}}
	if !w.Recursive {
		for _, c := range w.CTEs {
			cs.defs[c.ID.String()] = &cteDef{cols: a.cteQuery(c, outer, cs), ready: true}
		}
		return cs
	}
	for _, c := range w.CTEs {
		cs.defs[c.ID.String()] = &cteDef{}
	}
	const maxRounds = 12
	for round := 0; round < maxRounds; round++ {
		changed := false
		for _, c := range w.CTEs {
			d := cs.defs[c.ID.String()]
			next := mergeColumns(d.cols, a.cteQuery(c, outer, cs))
			if !d.ready || !sameShape(d.cols, next) {
				changed = true
			}
			d.cols, d.ready = next, true
		}
		if !changed {
			return cs
		}
	}
	var all taint
	for _, d := range cs.defs {
		for _, c := range d.cols {
			all.addAsComputed(c.t)
		}
	}
	all.addOpaque("a recursive WITH query could not be traced")
	for _, d := range cs.defs {
		d.cols = []column{{spread: true, t: all}}
	}
	return cs
}

func (a *mysqlAnalyser) cteQuery(c *sqlparser.CommonTableExpr, outer *scope, cs *cteScope) []column {
	return rename(a.query(c.Subquery, outer, cs), lowered(c.Columns))
}

func lowered(cols sqlparser.Columns) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Lowered()
	}
	return out
}

// fromItem traces one FROM item and adds its tables to sc.
func (a *mysqlAnalyser) fromItem(te sqlparser.TableExpr, sc *scope) *fromNode {
	switch x := te.(type) {
	case *sqlparser.AliasedTableExpr:
		it := &rangeItem{}
		switch e := x.Expr.(type) {
		case sqlparser.TableName:
			it = a.tableItem(e, sc)
		case *sqlparser.DerivedTable:
			it.cols = a.query(e.Select, sc, sc.ctes)
		default:
			it.cols = []column{{spread: true, t: opaqueTaint("comes from a %s masking cannot trace", mysqlNodeName(e))}}
		}
		if !x.As.IsEmpty() {
			it.refname, it.schema = x.As.String(), ""
		}
		it.cols = rename(it.cols, lowered(x.Columns))
		sc.items = append(sc.items, it)
		return &fromNode{item: it}
	case *sqlparser.JoinTableExpr:
		l := a.fromItem(x.LeftExpr, sc)
		r := a.fromItem(x.RightExpr, sc)
		n := &fromNode{left: l, right: r}
		switch x.Join {
		case sqlparser.NaturalJoinType, sqlparser.NaturalLeftJoinType, sqlparser.NaturalRightJoinType:
			n.natural = true
		}
		if x.Condition != nil {
			n.using = lowered(x.Condition.Using)
		}
		return n
	case *sqlparser.ParenTableExpr:
		var n *fromNode
		for _, sub := range x.Exprs {
			s := a.fromItem(sub, sc)
			if n == nil {
				n = s
			} else {
				n = &fromNode{left: n, right: s}
			}
		}
		if n == nil {
			n = &fromNode{item: &rangeItem{}}
		}
		return n
	case *sqlparser.JSONTableExpr:
		// Its columns are computed from the document.
		it := &rangeItem{refname: x.Alias.String(), cols: []column{{spread: true, t: computed(a.expr(x.Expr, sc))}}}
		sc.items = append(sc.items, it)
		return &fromNode{item: it}
	}
	it := &rangeItem{cols: []column{{spread: true, t: opaqueTaint("comes from a %s masking cannot trace", mysqlNodeName(te))}}}
	sc.items = append(sc.items, it)
	return &fromNode{item: it}
}

// tableItem is a table name in FROM: a WITH query in scope, or a relation
// of the catalog.
func (a *mysqlAnalyser) tableItem(tn sqlparser.TableName, sc *scope) *rangeItem {
	name, schema := tn.Name.String(), tn.Qualifier.String()
	if schema == "" {
		if d := sc.ctes.find(name); d != nil {
			cols := d.cols
			if !d.ready {
				cols = []column{{spread: true}}
			}
			return &rangeItem{refname: name, cols: cols}
		}
	}
	it := &rangeItem{refname: name, schema: schema}
	rel := a.cat.byName[Name{Schema: schema, Name: name}]
	if rel == nil {
		it.cols = []column{{spread: true, t: opaqueTaint("comes from table %s, which the catalog does not know", Name{Schema: schema, Name: name})}}
		return it
	}
	it.rel = rel
	it.cols = a.relationColumns(rel)
	return it
}

// relationColumns are a relation's columns, lower-case: its own for
// tables, traced ones for views.
func (a *mysqlAnalyser) relationColumns(rel *relInfo) []column {
	var cols []column
	stats := mysqlStatisticsTables[strings.ToLower(rel.qualified())]
	if rel.Kind == KindView && !stats {
		return a.viewColumns(rel)
	}
	for i, name := range rel.Columns {
		if name == "" {
			continue
		}
		var t taint
		if stats {
			t = opaqueTaint("%s holds values of every analysed column", rel.qualified())
		} else {
			t.addDirect(src{rel: rel, col: i})
		}
		cols = append(cols, column{name: strings.ToLower(name), t: t})
	}
	return cols
}

// viewColumns traces a view's columns through its definition.
func (a *mysqlAnalyser) viewColumns(rel *relInfo) []column {
	if cols, ok := a.views[rel]; ok {
		return cols
	}
	untraceable := func(why string) []column {
		var cols []column
		for _, name := range rel.Columns {
			if name != "" {
				cols = append(cols, column{name: strings.ToLower(name), t: opaqueTaint("view %s %s", rel.qualified(), why)})
			}
		}
		return cols
	}
	if a.busy[rel] || a.depth >= maxViewDepth {
		return untraceable("is nested too deeply to trace")
	}
	st, _ := parseMySQL(rel.Query)
	ts, ok := st.(sqlparser.TableStatement)
	if !ok {
		return untraceable("has a definition masking cannot parse")
	}
	a.busy[rel] = true
	a.depth++
	outs := a.query(ts, nil, nil)
	a.depth--
	delete(a.busy, rel)
	var names []string
	for _, name := range rel.Columns {
		if name != "" {
			names = append(names, strings.ToLower(name))
		}
	}
	var cols []column
	if tt, aligned := align(outs, len(names)); aligned {
		for i, name := range names {
			cols = append(cols, column{name: name, t: tt[i]})
		}
	} else {
		cols = untraceable("has columns masking cannot trace")
	}
	a.views[rel] = cols
	return cols
}

// expr traces an expression.
func (a *mysqlAnalyser) expr(e sqlparser.Expr, sc *scope) taint {
	switch x := e.(type) {
	case nil:
		return taint{}
	case *sqlparser.ColName:
		return a.colName(x, sc)
	case *sqlparser.Literal, *sqlparser.NullVal, sqlparser.BoolVal, *sqlparser.Argument, *sqlparser.Default,
		*sqlparser.CountStar, *sqlparser.Count, *sqlparser.ExistsExpr:
		// Constants, and numbers of rows.
		return taint{}
	case *sqlparser.Variable:
		return opaqueTaint("is a variable, which may hold a value of an earlier statement")
	case *sqlparser.AssignmentExpr:
		return a.expr(x.Right, sc)
	case *sqlparser.CaseExpr:
		var t taint
		for _, w := range x.Whens {
			t.add(a.expr(w.Val, sc))
		}
		t.add(a.expr(x.Else, sc))
		return t
	case *sqlparser.Subquery:
		var t taint
		for _, c := range a.query(x.Select, sc, sc.ctes) {
			t.add(c.t)
		}
		return t
	case *sqlparser.CollateExpr:
		return a.expr(x.Expr, sc)
	case *sqlparser.CastExpr:
		if !x.Array && keepsValue(x.Type) {
			return a.expr(x.Expr, sc)
		}
		return computed(a.expr(x.Expr, sc))
	case *sqlparser.ConvertExpr:
		if keepsValue(x.Type) {
			return a.expr(x.Expr, sc)
		}
		return computed(a.expr(x.Expr, sc))
	case *sqlparser.Max:
		return a.expr(x.Arg, sc)
	case *sqlparser.Min:
		return a.expr(x.Arg, sc)
	case *sqlparser.AnyValue:
		return a.expr(x.Arg, sc)
	case *sqlparser.FirstOrLastValueExpr:
		return a.expr(x.Expr, sc)
	case *sqlparser.NTHValueExpr:
		return a.expr(x.Expr, sc)
	case *sqlparser.LagLeadExpr:
		t := a.expr(x.Expr, sc)
		t.add(a.expr(x.Default, sc))
		return t
	case *sqlparser.FuncExpr:
		return a.funcExpr(x, sc)
	}
	return a.generic(e, sc)
}

// keepsValue reports whether a cast returns its argument's text unchanged:
// CHAR without a length or character set.
func keepsValue(ct *sqlparser.ConvertType) bool {
	return ct != nil && strings.EqualFold(ct.Type, "char") && ct.Length == nil && ct.Charset.Name == "" && !ct.Charset.Binary
}

// funcExpr traces a function call that vitess has no node of its own for.
func (a *mysqlAnalyser) funcExpr(f *sqlparser.FuncExpr, sc *scope) taint {
	name := mysqlFuncName(f)
	if !f.Qualifier.IsEmpty() || a.cat.userFuncs[name] {
		return opaqueTaint("calls stored function %s, whose body masking cannot see", name)
	}
	var t taint
	switch name {
	case "coalesce", "ifnull", "nvl", "greatest", "least":
		for _, arg := range f.Exprs {
			t.add(a.expr(arg, sc))
		}
		return t
	case "nullif":
		if len(f.Exprs) > 0 {
			return a.expr(f.Exprs[0], sc)
		}
	case "if":
		if len(f.Exprs) == 3 {
			t.add(a.expr(f.Exprs[1], sc))
			t.add(a.expr(f.Exprs[2], sc))
			return t
		}
	}
	for _, arg := range f.Exprs {
		t.addAsComputed(a.expr(arg, sc))
	}
	return t
}

// generic: a node this file does not treat otherwise is computed from
// every expression beneath it. Window definitions (partitions, orders)
// only order rows and do not taint.
func (a *mysqlAnalyser) generic(n sqlparser.SQLNode, sc *scope) taint {
	var t taint
	first := true
	sqlparser.Walk(func(node sqlparser.SQLNode) (bool, error) {
		if first {
			// n itself (nodes such as ValTuple are not comparable).
			first = false
			return true, nil
		}
		switch x := node.(type) {
		case *sqlparser.OverClause, *sqlparser.WindowSpecification:
			return false, nil
		case sqlparser.Expr:
			t.addAsComputed(a.expr(x, sc))
			return false, nil
		}
		return true, nil
	}, n)
	return t
}

// colName traces a column reference: column, table.column or
// db.table.column.
func (a *mysqlAnalyser) colName(c *sqlparser.ColName, sc *scope) taint {
	name := c.Name.Lowered()
	if c.Qualifier.Name.IsEmpty() {
		return a.resolveName(name, sc)
	}
	var qual []string
	if !c.Qualifier.Qualifier.IsEmpty() {
		qual = append(qual, c.Qualifier.Qualifier.String())
	}
	qual = append(qual, c.Qualifier.Name.String())
	if it := findItem(qual, sc); it != nil {
		if t, ok := columnOf(it, name); ok {
			return t
		}
	}
	return opaqueTaint("column %s.%s cannot be resolved", strings.Join(qual, "."), name)
}
