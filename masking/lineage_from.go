package masking

import (
	"slices"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Name resolution and FROM items of the lineage analysis (lineage.go).

// fromItem traces one FROM item, adds what it makes visible to sc, and
// returns its tree.
func (a *analyser) fromItem(n *pg_query.Node, sc *scope) *fromNode {
	add := func(it *rangeItem) *fromNode {
		sc.items = append(sc.items, it)
		return &fromNode{item: it}
	}
	switch x := n.GetNode().(type) {
	case *pg_query.Node_RangeVar:
		return add(a.relationItem(x.RangeVar, sc))
	case *pg_query.Node_RangeSubselect:
		rs := x.RangeSubselect
		cols, ok := a.statementOutputs(rs.GetSubquery(), sc, sc.ctes)
		if !ok {
			cols = []column{{spread: true, t: opaqueTaint("a subquery in FROM cannot be traced")}}
		}
		return add(&rangeItem{refname: rs.GetAlias().GetAliasname(), cols: rename(cols, stringsOf(rs.GetAlias().GetColnames()))})
	case *pg_query.Node_RangeFunction:
		return add(a.functionItem(x.RangeFunction, sc))
	case *pg_query.Node_RangeTableSample:
		return a.fromItem(x.RangeTableSample.GetRelation(), sc)
	case *pg_query.Node_JoinExpr:
		j := x.JoinExpr
		node := &fromNode{left: a.fromItem(j.GetLarg(), sc), right: a.fromItem(j.GetRarg(), sc),
			using: stringsOf(j.GetUsingClause()), natural: j.GetIsNatural()}
		if al := j.GetAlias(); al != nil {
			sc.items = append(sc.items, &rangeItem{refname: al.GetAliasname(), cols: rename(a.expand(node), stringsOf(al.GetColnames()))})
		}
		if ua := j.GetJoinUsingAlias(); ua != nil {
			cols := a.expand(node)
			if len(node.using) <= len(cols) && !hasSpread(cols[:len(node.using)]) {
				cols = cols[:len(node.using)]
			}
			sc.items = append(sc.items, &rangeItem{refname: ua.GetAliasname(), cols: cols})
		}
		return node
	}
	// XMLTABLE, JSON_TABLE and anything else: columns unknown, computed
	// from everything inside.
	var alias string
	switch x := n.GetNode().(type) {
	case *pg_query.Node_RangeTableFunc:
		alias = x.RangeTableFunc.GetAlias().GetAliasname()
	case *pg_query.Node_JsonTable:
		alias = x.JsonTable.GetAlias().GetAliasname()
	}
	return add(&rangeItem{refname: alias, cols: []column{{spread: true, t: a.generic(n, sc)}}})
}

// relationItem is a table, view or WITH query named in FROM.
func (a *analyser) relationItem(rv *pg_query.RangeVar, sc *scope) *rangeItem {
	refname := rv.GetRelname()
	var aliases []string
	if al := rv.GetAlias(); al != nil {
		refname, aliases = al.GetAliasname(), stringsOf(al.GetColnames())
	}
	if rv.GetSchemaname() == "" {
		if d := sc.ctes.find(rv.GetRelname()); d != nil {
			cols := d.cols
			if !d.ready {
				cols = []column{{spread: true}}
			}
			return &rangeItem{refname: refname, cols: rename(cols, aliases)}
		}
	}
	name := Name{Schema: rv.GetSchemaname(), Name: rv.GetRelname()}
	rel := a.cat.byName[name]
	if rel == nil {
		return &rangeItem{refname: refname, cols: []column{{spread: true, t: opaqueTaint("relation %s is not in the catalog", name)}}}
	}
	it := &rangeItem{refname: refname, rel: rel, cols: rename(a.relationColumns(rel), aliases)}
	if rv.GetAlias() == nil {
		it.schema = rel.Schema
	}
	return it
}

// relationColumns are a relation's columns: its own for tables, traced
// ones for views.
func (a *analyser) relationColumns(rel *relInfo) []column {
	var cols []column
	if rel.Schema == "pg_catalog" && statisticsRelations[rel.Name] {
		for _, name := range rel.Columns {
			if name != "" {
				cols = append(cols, column{name: name, t: opaqueTaint("%s holds samples of the values of every analysed column", rel.qualified())})
			}
		}
		return cols
	}
	if rel.isView() {
		return a.viewColumns(rel)
	}
	for i, name := range rel.Columns {
		if name == "" {
			continue
		}
		var t taint
		t.addDirect(src{rel: rel, col: i})
		cols = append(cols, column{name: name, t: t})
	}
	return cols
}

// viewColumns traces a view's columns through its defining query.
func (a *analyser) viewColumns(rel *relInfo) []column {
	if cols, ok := a.views[rel]; ok {
		return cols
	}
	untraceable := func(why string) []column {
		var cols []column
		for _, name := range rel.Columns {
			if name != "" {
				cols = append(cols, column{name: name, t: opaqueTaint("view %s %s", rel.qualified(), why)})
			}
		}
		return cols
	}
	if a.busy[rel] || a.depth >= maxViewDepth {
		return untraceable("is nested too deeply to trace")
	}
	tree, err := rel.parsed()
	if err != nil || len(tree.GetStmts()) != 1 {
		return untraceable("has a definition masking cannot parse")
	}
	a.busy[rel] = true
	a.depth++
	outs, ok := a.statementOutputs(tree.GetStmts()[0].GetStmt(), nil, nil)
	a.depth--
	delete(a.busy, rel)
	var names []string
	for _, name := range rel.Columns {
		if name != "" {
			names = append(names, name)
		}
	}
	var cols []column
	if ts, aligned := align(outs, len(names)); ok && aligned {
		for i, name := range names {
			cols = append(cols, column{name: name, t: ts[i]})
		}
	} else {
		cols = untraceable("has columns masking cannot trace")
	}
	a.views[rel] = cols
	return cols
}

// setReturning are built-in set-returning functions with one output
// column, named after the function (or its alias).
var setReturning = map[string]int{
	"generate_series": 1, "generate_subscripts": 1, "unnest": 1, "json_array_elements": 1,
	"json_array_elements_text": 1, "jsonb_array_elements": 1, "jsonb_array_elements_text": 1,
	"regexp_split_to_table": 1, "string_to_table": 1, "json_object_keys": 1, "jsonb_object_keys": 1,
	"regexp_matches": 1, "json_each": 2, "jsonb_each": 2, "json_each_text": 2, "jsonb_each_text": 2,
}

// functionItem is a function in FROM: its columns are computed from its
// arguments.
func (a *analyser) functionItem(rf *pg_query.RangeFunction, sc *scope) *rangeItem {
	var t taint
	var cols []column
	width := -1
	for _, f := range rf.GetFunctions() {
		parts := f.GetList().GetItems()
		if len(parts) == 0 {
			continue
		}
		t.addAsComputed(a.expr(parts[0], sc))
		if len(rf.GetFunctions()) == 1 {
			if len(parts) > 1 && len(parts[1].GetList().GetItems()) > 0 {
				width = len(parts[1].GetList().GetItems())
			} else if fc := parts[0].GetFuncCall(); fc != nil {
				if schema, bare := funcName(fc); (schema == "" || schema == "pg_catalog") && !a.cat.userFuncs[bare] {
					if w, ok := setReturning[bare]; ok && (bare != "unnest" || len(fc.GetArgs()) == 1) {
						width = w
					}
				}
			}
		}
	}
	if len(rf.GetColdeflist()) > 0 {
		width = len(rf.GetColdeflist())
	}
	alias := rf.GetAlias().GetAliasname()
	switch width {
	case -1:
		cols = []column{{spread: true, t: t}}
	case 1:
		name, anyName := alias, false
		if name == "" {
			anyName = true
			if fs := rf.GetFunctions(); len(fs) > 0 && len(fs[0].GetList().GetItems()) > 0 {
				if fc := fs[0].GetList().GetItems()[0].GetFuncCall(); fc != nil {
					_, name = funcName(fc)
					anyName = false
				}
			}
		}
		cols = []column{{name: name, anyName: anyName, t: t}}
	default:
		for i := 0; i < width; i++ {
			cols = append(cols, column{anyName: true, t: t})
		}
		if width == 2 {
			cols[0].name, cols[1].name = "key", "value"
			cols[0].anyName, cols[1].anyName = false, false
		}
	}
	cols = rename(cols, stringsOf(rf.GetAlias().GetColnames()))
	if rf.GetOrdinality() {
		cols = append(cols, column{name: "ordinality"})
	}
	return &rangeItem{refname: alias, cols: cols}
}

// expand lists a FROM tree's columns as SELECT * does: a join USING (or
// NATURAL) shows each common column once, first, then the others.
func (a *analyser) expand(n *fromNode) []column {
	if n.item != nil {
		return n.item.cols
	}
	l, r := a.expand(n.left), a.expand(n.right)
	common := n.using
	if n.natural {
		if hasSpread(l) || hasSpread(r) {
			var t taint
			for _, c := range append(slices.Clone(l), r...) {
				t.add(c.t)
			}
			return []column{{spread: true, t: t}}
		}
		for _, c := range l {
			for _, d := range r {
				if c.definite(d.name) && !slices.Contains(common, c.name) {
					common = append(common, c.name)
				}
			}
		}
	}
	if len(common) == 0 {
		return append(slices.Clone(l), r...)
	}
	var out []column
	for _, name := range common {
		merged := column{name: name}
		for _, c := range append(slices.Clone(l), r...) {
			if c.possible(name) {
				merged.t.add(c.t)
			}
		}
		out = append(out, merged)
	}
	skip := func(cols []column) {
		for _, c := range cols {
			if !c.spread && !c.anyName && slices.Contains(common, c.name) {
				continue
			}
			out = append(out, c)
		}
	}
	skip(l)
	skip(r)
	return out
}

// targets traces a target list (or RETURNING list).
func (a *analyser) targets(list []*pg_query.Node, sc *scope) []column {
	var out []column
	for _, n := range list {
		rt := n.GetResTarget()
		if rt == nil {
			out = append(out, column{anyName: true, t: a.generic(n, sc)})
			continue
		}
		if cr := rt.GetVal().GetColumnRef(); cr != nil {
			if parts, star := fieldsOf(cr); star {
				out = append(out, a.star(parts, sc)...)
				continue
			}
		}
		c := column{t: a.expr(rt.GetVal(), sc)}
		if ind := rt.GetVal().GetAIndirection(); ind != nil && endsWithStar(ind) {
			c.spread = true // (composite).* expands to its fields
		}
		if rt.GetName() != "" {
			c.name = rt.GetName()
		} else if name, ok := figureName(rt.GetVal()); ok {
			c.name = name
		} else {
			c.anyName = true
		}
		out = append(out, c)
	}
	return out
}

// star expands * or qualifier.* in a target list.
func (a *analyser) star(qual []string, sc *scope) []column {
	if len(qual) == 0 {
		var out []column
		for _, n := range sc.tree {
			out = append(out, a.expand(n)...)
		}
		return out
	}
	if it := findItem(qual, sc); it != nil {
		return it.cols
	}
	return []column{{spread: true, t: opaqueTaint("%s.* names no table in scope", joinParts(qual))}}
}

// findItem finds the FROM item a qualifier names (table, schema.table or
// catalog.schema.table), innermost level first.
func findItem(qual []string, sc *scope) *rangeItem {
	if len(qual) == 3 {
		qual = qual[1:]
	}
	for s := sc; s != nil; s = s.parent {
		for i := len(s.items) - 1; i >= 0; i-- {
			it := s.items[i]
			switch len(qual) {
			case 1:
				if it.refname == qual[0] {
					return it
				}
			case 2:
				if it.schema != "" && it.schema == qual[0] && it.refname == qual[1] {
					return it
				}
			}
		}
	}
	return nil
}

// systemColumns exist in every table without being listed in its columns.
var systemColumns = map[string]bool{"ctid": true, "xmin": true, "xmax": true, "cmin": true, "cmax": true, "tableoid": true}

// columnOf resolves a column of a known item.
func columnOf(it *rangeItem, name string) (taint, bool) {
	var t taint
	found := false
	for _, c := range it.cols {
		if c.possible(name) {
			t.add(c.t)
			found = true
		}
	}
	if !found && it.rel != nil && systemColumns[name] {
		return taint{}, true
	}
	return t, found
}

// resolveName resolves an unqualified column name: the innermost level
// with a column certainly so named wins; levels with only possible matches
// add their taint and the search goes on outward. With no certain match,
// the name may also be a whole-row reference to a FROM item.
func (a *analyser) resolveName(name string, sc *scope) taint {
	var t taint
	found := false
	for s := sc; s != nil; s = s.parent {
		certain := false
		for _, it := range s.items {
			for _, c := range it.cols {
				if c.definite(name) {
					certain = true
				}
				if c.possible(name) {
					t.add(c.t)
					found = true
				}
			}
		}
		if certain {
			return t
		}
	}
	if it := findItem([]string{name}, sc); it != nil {
		t.addAsComputed(it.whole())
		return t
	}
	if found {
		return t
	}
	for s := sc; s != nil; s = s.parent {
		for _, it := range s.items {
			if it.rel != nil && systemColumns[name] {
				return taint{}
			}
		}
	}
	return opaqueTaint("column %s cannot be resolved", name)
}

// columnRef traces a column reference.
func (a *analyser) columnRef(cr *pg_query.ColumnRef, sc *scope) taint {
	parts, star := fieldsOf(cr)
	if star {
		// t.* or * inside an expression: whole rows.
		if len(parts) == 0 {
			var t taint
			for _, it := range sc.items {
				t.addAsComputed(it.whole())
			}
			return t
		}
		if it := findItem(parts, sc); it != nil {
			return it.whole()
		}
		return opaqueTaint("%s.* names no table in scope", joinParts(parts))
	}
	switch len(parts) {
	case 1:
		return a.resolveName(parts[0], sc)
	case 2, 3, 4:
		// table.column (schema.table.column, catalog.schema.table.column),
		// or else column.field (table.column.field): a composite's field
		// is computed from the column.
		if it := findItem(parts[:len(parts)-1], sc); it != nil {
			if t, ok := columnOf(it, parts[len(parts)-1]); ok {
				return t
			}
			return opaqueTaint("column %s cannot be resolved", joinParts(parts))
		}
		if len(parts) == 2 {
			return computed(a.resolveName(parts[0], sc))
		}
		if it := findItem(parts[:1], sc); it != nil && len(parts) == 3 {
			if t, ok := columnOf(it, parts[1]); ok {
				return computed(t)
			}
		}
	}
	return opaqueTaint("column %s cannot be resolved", joinParts(parts))
}
