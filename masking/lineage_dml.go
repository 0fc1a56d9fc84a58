package masking

import (
	"slices"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Data-modifying statements with RETURNING, and the catalog names a tree
// needs, for the lineage analysis (lineage.go).

// insertStmt traces INSERT ... RETURNING: the returned values are the
// target's columns, holding what was inserted.
func (a *analyser) insertStmt(s *pg_query.InsertStmt, outer *scope, ctes *cteScope) []column {
	if len(s.GetReturningList()) == 0 {
		return nil
	}
	if s.GetWithClause() != nil {
		ctes = a.with(s.GetWithClause(), outer, ctes)
	}
	var written taint
	if cols, ok := a.statementOutputs(s.GetSelectStmt(), outer, ctes); ok {
		for _, c := range cols {
			written.addAsComputed(c.t)
		}
	} else if s.GetSelectStmt() != nil {
		written.addOpaque("the rows an INSERT writes cannot be traced")
	}
	sc := &scope{parent: outer, ctes: ctes}
	target := a.relationItem(s.GetRelation(), sc)
	sc.items = append(sc.items, target)
	sc.tree = append(sc.tree, &fromNode{item: target})
	if oc := s.GetOnConflictClause(); oc != nil {
		excluded := &rangeItem{refname: "excluded", cols: slices.Clone(target.cols)}
		for i := range excluded.cols {
			excluded.cols[i].t = written
		}
		osc := &scope{parent: sc, ctes: ctes, items: []*rangeItem{excluded}}
		written.addAsComputed(a.generic(&pg_query.Node{Node: &pg_query.Node_OnConflictClause{OnConflictClause: oc}}, osc))
	}
	return withWritten(a.targets(s.GetReturningList(), sc), written)
}

// updateStmt traces UPDATE ... RETURNING.
func (a *analyser) updateStmt(s *pg_query.UpdateStmt, outer *scope, ctes *cteScope) []column {
	if len(s.GetReturningList()) == 0 {
		return nil
	}
	sc := a.dmlScope(s.GetWithClause(), s.GetRelation(), s.GetFromClause(), outer, ctes)
	var written taint
	for _, n := range s.GetTargetList() {
		written.addAsComputed(a.expr(n.GetResTarget().GetVal(), sc))
	}
	return withWritten(a.targets(s.GetReturningList(), sc), written)
}

// deleteStmt traces DELETE ... RETURNING.
func (a *analyser) deleteStmt(s *pg_query.DeleteStmt, outer *scope, ctes *cteScope) []column {
	if len(s.GetReturningList()) == 0 {
		return nil
	}
	sc := a.dmlScope(s.GetWithClause(), s.GetRelation(), s.GetUsingClause(), outer, ctes)
	return a.targets(s.GetReturningList(), sc)
}

// dmlScope is the scope of an UPDATE's or DELETE's RETURNING list: the
// target relation, then the FROM (USING) items, under the WITH clause.
func (a *analyser) dmlScope(with *pg_query.WithClause, rel *pg_query.RangeVar, from []*pg_query.Node, outer *scope, ctes *cteScope) *scope {
	if with != nil {
		ctes = a.with(with, outer, ctes)
	}
	sc := &scope{parent: outer, ctes: ctes}
	target := a.relationItem(rel, sc)
	sc.items = append(sc.items, target)
	sc.tree = append(sc.tree, &fromNode{item: target})
	for _, item := range from {
		sc.tree = append(sc.tree, a.fromItem(item, sc))
	}
	return sc
}

// mergeStmt traces MERGE ... RETURNING (PostgreSQL 17).
func (a *analyser) mergeStmt(s *pg_query.MergeStmt, outer *scope, ctes *cteScope) []column {
	if len(s.GetReturningList()) == 0 {
		return nil
	}
	if s.GetWithClause() != nil {
		ctes = a.with(s.GetWithClause(), outer, ctes)
	}
	sc := &scope{parent: outer, ctes: ctes}
	target := a.relationItem(s.GetRelation(), sc)
	sc.items = append(sc.items, target)
	sc.tree = append(sc.tree, &fromNode{item: target}, a.fromItem(s.GetSourceRelation(), sc))
	var written taint
	for _, w := range s.GetMergeWhenClauses() {
		written.addAsComputed(a.generic(w, sc))
	}
	return withWritten(a.targets(s.GetReturningList(), sc), written)
}

// withWritten adds to every returned column what the statement wrote: a
// returned target column holds a written value.
func withWritten(cols []column, written taint) []column {
	for i := range cols {
		cols[i].t.addAsComputed(written)
	}
	return cols
}

// collectNames gathers the relations and unqualified functions a tree
// names, for the catalog.
func collectNames(tree *pg_query.ParseResult, n *need) {
	for _, st := range tree.GetStmts() {
		walkMessages(st.ProtoReflect(), func(m protoreflect.Message) {
			switch x := m.Interface().(type) {
			case *pg_query.RangeVar:
				if x.GetRelname() != "" {
					n.names[Name{Schema: x.GetSchemaname(), Name: x.GetRelname()}] = true
				}
			case *pg_query.FuncCall:
				if schema, bare := funcName(x); schema == "" && bare != "" {
					n.funcs[bare] = true
				}
			}
		})
	}
}

// walkMessages calls fn for m and every message beneath it.
func walkMessages(m protoreflect.Message, fn func(protoreflect.Message)) {
	fn(m)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Kind() == protoreflect.MessageKind:
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				walkMessages(l.Get(i).Message(), fn)
			}
		case fd.IsMap():
		case fd.Kind() == protoreflect.MessageKind:
			walkMessages(v.Message(), fn)
		}
		return true
	})
}
