package masking

import (
	"fmt"
	"slices"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Lineage: which source columns each output column of a statement derives
// from, and whether it is one of them unchanged ("direct") or computed from
// them. It is a conservative taint analysis over PostgreSQL's raw parse
// tree (the same parser the SQL classifier uses), with names resolved
// through the target's catalog:
//
//   - A column reference is direct. Re-projection keeps directness: aliases,
//     subqueries and CTEs, views (traced through their defining query),
//     UNION/INTERSECT/EXCEPT and VALUES (each output is one of its arms),
//     CASE results, COALESCE, NULLIF's first argument, GREATEST/LEAST,
//     min/max/any_value and the window functions that return an input
//     row's value (first_value, last_value, nth_value, lag, lead), a scalar
//     subquery's single output, and casts to text or varchar without a
//     length.
//   - Everything else computes: operators, other functions and aggregates,
//     other casts, JSON/XML/array/row constructors, whole-row references,
//     subscripts and field selections. A node this file does not know is
//     computed from everything beneath it (walked by protobuf reflection),
//     so nothing nested is ever skipped.
//   - What only filters, groups or orders rows (WHERE, JOIN ON, GROUP BY,
//     HAVING, ORDER BY, LIMIT, window partitions and orders, CASE
//     conditions, aggregate FILTER) does not taint outputs: what it reveals
//     is inference, which masking does not claim to stop (docs/masking.md).
//   - "Opaque" marks an output that may derive from data masking cannot
//     see: a user-defined function (its body may read any table), built-in
//     functions that run SQL given as text, the statistics catalogs
//     (pg_stats holds samples of every column), a relation or column the
//     catalog does not know, a statement kind it does not trace.
//
// Name resolution over-approximates where it cannot be exact: an output
// whose name is not known, or a FROM item whose columns are not known (a
// function returning a record), matches any name at its level, and the
// search continues outward; so a reference is never attributed to fewer
// sources than PostgreSQL would use.

// src is one source column: rel's column at index col.
type src struct {
	rel *relInfo
	col int
}

func (s src) String() string { return s.rel.qualified() + "." + s.rel.Columns[s.col] }

// taint is what a value derives from.
type taint struct {
	direct   []src    // the value may be one of these columns' values, unchanged
	computed []src    // the value is computed from these columns
	opaque   []string // reasons the value may derive from anything
}

func (t *taint) addDirect(s src) {
	if !slices.Contains(t.direct, s) {
		t.direct = append(t.direct, s)
	}
}

func (t *taint) addComputed(s src) {
	if !slices.Contains(t.computed, s) {
		t.computed = append(t.computed, s)
	}
}

func (t *taint) addOpaque(reason string) {
	if !slices.Contains(t.opaque, reason) {
		t.opaque = append(t.opaque, reason)
	}
}

// add merges o, keeping directness.
func (t *taint) add(o taint) {
	for _, s := range o.direct {
		t.addDirect(s)
	}
	for _, s := range o.computed {
		t.addComputed(s)
	}
	for _, r := range o.opaque {
		t.addOpaque(r)
	}
}

// addComputed merges o as computed: a value computed from a direct
// reference is computed from its column.
func (t *taint) addAsComputed(o taint) {
	for _, s := range o.direct {
		t.addComputed(s)
	}
	for _, s := range o.computed {
		t.addComputed(s)
	}
	for _, r := range o.opaque {
		t.addOpaque(r)
	}
}

func (t taint) size() int { return len(t.direct) + len(t.computed) + len(t.opaque) }

func computed(o taint) taint {
	var t taint
	t.addAsComputed(o)
	return t
}

func opaqueTaint(format string, args ...any) taint {
	return taint{opaque: []string{fmt.Sprintf(format, args...)}}
}

// column is one output column of a query or FROM item.
type column struct {
	name string
	t    taint
	// anyName: the name is not known exactly; the column may answer to
	// any name.
	anyName bool
	// spread stands for an unknown number of columns (a function's
	// record, an expanded composite), each with taint t and any name.
	spread bool
}

// definite reports whether the column certainly has name n.
func (c *column) definite(n string) bool { return !c.spread && !c.anyName && c.name == n }

// possible reports whether the column may have name n.
func (c *column) possible(n string) bool { return c.spread || c.anyName || c.name == n }

// lineage is the traced result of one statement.
type lineage struct {
	// outputs are the statement's output columns; one may be a spread.
	outputs []column
	ok      bool
	// why says, when !ok, why the statement could not be traced.
	why string
}

// align maps outputs onto n result columns. With one spread, the outputs
// before it take the first columns, those after it the last ones.
func align(outs []column, n int) ([]taint, bool) {
	spreads := 0
	at := -1
	for i, c := range outs {
		if c.spread {
			spreads++
			at = i
		}
	}
	switch {
	case spreads == 0 && len(outs) == n:
		ts := make([]taint, n)
		for i, c := range outs {
			ts[i] = c.t
		}
		return ts, true
	case spreads == 1 && len(outs)-1 <= n:
		ts := make([]taint, n)
		before, after := at, len(outs)-at-1
		for i := 0; i < before; i++ {
			ts[i] = outs[i].t
		}
		for i := before; i < n-after; i++ {
			ts[i] = outs[at].t
		}
		for i := 0; i < after; i++ {
			ts[n-after+i] = outs[at+1+i].t
		}
		return ts, true
	}
	return nil, false
}

// rangeItem is one FROM item as name resolution sees it.
type rangeItem struct {
	refname string   // alias, or the relation's name; "" for none
	schema  string   // an unaliased relation's schema, for schema.table.column
	rel     *relInfo // the relation, for relation items
	cols    []column
}

// whole is the taint of the item's whole row.
func (it *rangeItem) whole() taint {
	var t taint
	for _, c := range it.cols {
		t.addAsComputed(c.t)
	}
	return t
}

// fromNode keeps the FROM tree, for * expansion (USING merges columns).
type fromNode struct {
	item        *rangeItem
	left, right *fromNode
	using       []string
	natural     bool
}

type scope struct {
	parent *scope
	items  []*rangeItem
	tree   []*fromNode
	ctes   *cteScope
}

type cteScope struct {
	parent *cteScope
	defs   map[string]*cteDef
}

type cteDef struct {
	cols  []column
	ready bool
}

func (cs *cteScope) find(name string) *cteDef {
	for ; cs != nil; cs = cs.parent {
		if d, ok := cs.defs[name]; ok {
			return d
		}
	}
	return nil
}

// analyser traces statements against a fixed catalog view.
type analyser struct {
	cat   *catalogView
	views map[*relInfo][]column
	busy  map[*relInfo]bool
	depth int
}

func newAnalyser(cat *catalogView) *analyser {
	return &analyser{cat: cat, views: map[*relInfo][]column{}, busy: map[*relInfo]bool{}}
}

// statement traces a parsed SQL text, which must hold one statement.
func (a *analyser) statement(tree *pg_query.ParseResult) *lineage {
	stmts := tree.GetStmts()
	if len(stmts) != 1 {
		return &lineage{why: fmt.Sprintf("the SQL holds %d statements", len(stmts))}
	}
	outs, ok := a.statementOutputs(stmts[0].GetStmt(), nil, nil)
	if !ok {
		return &lineage{why: "masking cannot trace " + nodeName(stmts[0].GetStmt()) + " statements"}
	}
	return &lineage{outputs: outs, ok: true}
}

// statementOutputs traces a statement that returns rows. ok is false for
// statements whose outputs it does not know.
func (a *analyser) statementOutputs(n *pg_query.Node, outer *scope, ctes *cteScope) ([]column, bool) {
	switch x := n.GetNode().(type) {
	case *pg_query.Node_SelectStmt:
		return a.selectStmt(x.SelectStmt, outer, ctes), true
	case *pg_query.Node_InsertStmt:
		return a.insertStmt(x.InsertStmt, outer, ctes), true
	case *pg_query.Node_UpdateStmt:
		return a.updateStmt(x.UpdateStmt, outer, ctes), true
	case *pg_query.Node_DeleteStmt:
		return a.deleteStmt(x.DeleteStmt, outer, ctes), true
	case *pg_query.Node_MergeStmt:
		return a.mergeStmt(x.MergeStmt, outer, ctes), true
	case *pg_query.Node_ExplainStmt:
		return []column{{name: "QUERY PLAN"}}, true // a plan, never a row's values
	case *pg_query.Node_VariableShowStmt:
		return []column{{name: x.VariableShowStmt.GetName()}}, true
	}
	return nil, false
}

// selectStmt traces a SELECT, VALUES or set operation.
func (a *analyser) selectStmt(s *pg_query.SelectStmt, outer *scope, ctes *cteScope) []column {
	if s == nil {
		return nil
	}
	if s.GetWithClause() != nil {
		ctes = a.with(s.GetWithClause(), outer, ctes)
	}
	switch {
	case s.GetLarg() != nil || s.GetRarg() != nil:
		return setOp(a.selectStmt(s.GetLarg(), outer, ctes), a.selectStmt(s.GetRarg(), outer, ctes))
	case len(s.GetValuesLists()) > 0:
		sc := &scope{parent: outer, ctes: ctes}
		var cols []column
		for _, row := range s.GetValuesLists() {
			for i, e := range row.GetList().GetItems() {
				if i >= len(cols) {
					cols = append(cols, column{name: fmt.Sprintf("column%d", i+1)})
				}
				cols[i].t.add(a.expr(e, sc))
			}
		}
		return cols
	}
	sc := &scope{parent: outer, ctes: ctes}
	for _, item := range s.GetFromClause() {
		sc.tree = append(sc.tree, a.fromItem(item, sc))
	}
	return a.targets(s.GetTargetList(), sc)
}

// setOp combines the arms of UNION, INTERSECT or EXCEPT: each output is a
// value of one arm's column, unchanged.
func setOp(l, r []column) []column {
	if hasSpread(l) || hasSpread(r) || len(l) != len(r) {
		var t taint
		for _, c := range append(slices.Clone(l), r...) {
			t.add(c.t)
		}
		return []column{{spread: true, t: t}}
	}
	out := make([]column, len(l))
	for i := range l {
		out[i] = l[i]
		out[i].t = taint{}
		out[i].t.add(l[i].t)
		out[i].t.add(r[i].t)
	}
	return out
}

func hasSpread(cols []column) bool {
	for _, c := range cols {
		if c.spread {
			return true
		}
	}
	return false
}

// with traces a WITH clause and returns the scope of its names.
func (a *analyser) with(w *pg_query.WithClause, outer *scope, ctes *cteScope) *cteScope {
	cs := &cteScope{parent: ctes, defs: map[string]*cteDef{}}
	var list []*pg_query.CommonTableExpr
	for _, n := range w.GetCtes() {
		if c := n.GetCommonTableExpr(); c != nil {
			list = append(list, c)
		}
	}
	if !w.GetRecursive() {
		for _, c := range list {
			d := &cteDef{cols: a.cteQuery(c, outer, cs), ready: true}
			cs.defs[c.GetCtename()] = d
		}
		return cs
	}
	// WITH RECURSIVE: every name is visible everywhere, itself included.
	// Trace to a fixed point: taints only grow, over a finite set of
	// sources.
	for _, c := range list {
		cs.defs[c.GetCtename()] = &cteDef{}
	}
	const maxRounds = 12
	for round := 0; round < maxRounds; round++ {
		changed := false
		for _, c := range list {
			d := cs.defs[c.GetCtename()]
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
	// No fixed point: every column may be anything any of them holds.
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

// mergeColumns unions the taints of two traces of the same query.
func mergeColumns(prev, next []column) []column {
	if prev == nil {
		return next
	}
	if len(prev) != len(next) || hasSpread(prev) != hasSpread(next) {
		var t taint
		for _, c := range append(slices.Clone(prev), next...) {
			t.add(c.t)
		}
		return []column{{spread: true, t: t}}
	}
	out := make([]column, len(next))
	for i := range next {
		out[i] = next[i]
		out[i].t = taint{}
		out[i].t.add(prev[i].t)
		out[i].t.add(next[i].t)
	}
	return out
}

func sameShape(a, b []column) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].t.size() != b[i].t.size() || a[i].spread != b[i].spread {
			return false
		}
	}
	return true
}

// cteQuery traces one WITH query, with its column aliases and the columns
// SEARCH and CYCLE add (which hold the searched values).
func (a *analyser) cteQuery(c *pg_query.CommonTableExpr, outer *scope, cs *cteScope) []column {
	cols, ok := a.statementOutputs(c.GetCtequery(), outer, cs)
	if !ok {
		cols = []column{{spread: true, t: opaqueTaint("WITH query %s cannot be traced", c.GetCtename())}}
	}
	cols = rename(cols, stringsOf(c.GetAliascolnames()))
	var all taint
	for _, col := range cols {
		all.addAsComputed(col.t)
	}
	if sc := c.GetSearchClause(); sc != nil {
		cols = append(cols, column{name: sc.GetSearchSeqColumn(), t: all})
	}
	if cc := c.GetCycleClause(); cc != nil {
		cols = append(cols, column{name: cc.GetCycleMarkColumn()}, column{name: cc.GetCyclePathColumn(), t: all})
	}
	return cols
}

// rename applies column aliases in order. Past a spread, positions are
// unknown: the remaining columns may have any name.
func rename(cols []column, names []string) []column {
	if len(names) == 0 {
		return cols
	}
	out := slices.Clone(cols)
	for i := range out {
		if out[i].spread {
			for j := i + 1; j < len(out); j++ {
				out[j].anyName = true
			}
			break
		}
		if i < len(names) {
			out[i].name, out[i].anyName = names[i], false
		}
	}
	return out
}
