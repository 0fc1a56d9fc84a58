package sqlclass

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
)

// selectStmt handles SELECT, VALUES and set operations, at any depth:
// top level, subquery, WITH query, INSERT source, view body...
func (w *walker) selectStmt(x *pg_query.SelectStmt, m proto.Message) {
	w.takeCTE()
	top := w.enter("SELECT")
	defer w.leave()
	w.add(KindRead, "")

	saved := w.scope
	defer func() { w.scope = saved }()
	if wc := x.GetWithClause(); wc != nil {
		w.with(wc)
	}

	if into := x.GetIntoClause(); into != nil {
		if top {
			w.tag = "SELECT INTO"
		}
		w.add(KindDDL, "SELECT INTO creates table "+rangeVarName(into.GetRel()))
		w.ddl++
		w.walk(into, false)
		w.ddl--
	}

	locking := false
	for _, n := range x.GetLockingClause() {
		lc := n.GetLockingClause()
		if lc == nil {
			w.fail(n, "unexpected node in a locking clause")
			return
		}
		// The relations named in FOR UPDATE OF are aliases of FROM
		// items, not tables; the FROM items themselves are recorded.
		w.add(KindWrite, "SELECT ... "+lockStrength(lc.GetStrength())+" locks rows")
		locking = true
	}

	start := len(w.read)
	for _, n := range x.GetFromClause() {
		w.walk(n, false)
	}
	if locking {
		// Row locks are written into the rows of every table the FROM
		// clause reads (subqueries included, as PostgreSQL does).
		w.written = append(w.written, w.read[start:]...)
	}
	w.children(m, selectSkip)
}

func lockStrength(s pg_query.LockClauseStrength) string {
	switch s {
	case pg_query.LockClauseStrength_LCS_FORKEYSHARE:
		return "FOR KEY SHARE"
	case pg_query.LockClauseStrength_LCS_FORSHARE:
		return "FOR SHARE"
	case pg_query.LockClauseStrength_LCS_FORNOKEYUPDATE:
		return "FOR NO KEY UPDATE"
	default:
		return "FOR UPDATE"
	}
}

// modify handles INSERT, UPDATE, DELETE and MERGE, at any depth. The
// target is written (and read too when alsoRead: UPDATE, DELETE and MERGE
// scan it, INSERT ... ON CONFLICT reads conflicting rows).
func (w *walker) modify(tag string, m proto.Message, rel *pg_query.RangeVar, with *pg_query.WithClause, alsoRead bool, skip fieldMask) {
	inCTE := w.takeCTE()
	top := w.enter(tag)
	defer w.leave()
	if rel == nil {
		w.fail(m, tag+" without a target relation")
		return
	}

	saved := w.scope
	defer func() { w.scope = saved }()
	if with != nil {
		w.with(with)
	}

	name := rangeVarName(rel)
	switch {
	case top:
		w.add(KindWrite, tag+" modifies table "+name)
	case inCTE:
		w.add(KindWrite, "data-modifying CTE ("+tag+") in WITH modifies table "+name)
	default:
		w.add(KindWrite, "nested "+tag+" modifies table "+name)
	}
	w.written = append(w.written, name)
	if alsoRead {
		w.read = append(w.read, name)
	}
	w.children(m, skip)
}

// with brings a WITH clause's names into scope for the rest of the
// statement that owns it (the caller restores the outer scope) and walks
// each WITH query. Without RECURSIVE, a WITH query sees only the names
// defined before it (its own name, inside it, means an outer WITH name or
// a real table); with RECURSIVE, every name of the clause is visible in
// every WITH query.
func (w *walker) with(wc *pg_query.WithClause) {
	scope := &cteScope{parent: w.scope}
	ctes := make([]*pg_query.CommonTableExpr, 0, len(wc.GetCtes()))
	for _, n := range wc.GetCtes() {
		cte := n.GetCommonTableExpr()
		if cte == nil {
			w.fail(n, "unexpected node in a WITH clause")
			return
		}
		ctes = append(ctes, cte)
	}
	recursive := wc.GetRecursive()
	if recursive {
		for _, cte := range ctes {
			scope.names = append(scope.names, cte.GetCtename())
		}
	}
	w.scope = scope
	for _, cte := range ctes {
		q := cte.GetCtequery()
		if q == nil {
			w.fail(cte, "WITH query without a body")
			return
		}
		w.inCTE = true
		w.walk(q, false)
		w.inCTE = false
		w.children(cte, cteSkip)
		if !recursive {
			scope.names = append(scope.names, cte.GetCtename())
		}
	}
}

// explain handles EXPLAIN. Without ANALYZE the explained statement is only
// planned, never run: the EXPLAIN is a read, and every relation the
// statement names (read or written) is reported as read, since the plan
// reveals facts about it. With ANALYZE the statement runs, and counts as
// what it is.
func (w *walker) explain(x *pg_query.ExplainStmt) {
	w.takeCTE()
	w.enter("EXPLAIN")
	defer w.leave()
	w.add(KindRead, "")

	analyze := false
	for _, opt := range x.GetOptions() {
		w.walk(opt, false)
		if d := opt.GetDefElem(); d != nil && strings.EqualFold(d.GetDefname(), "analyze") && !defIsFalse(d.GetArg()) {
			analyze = true
		}
	}
	q := x.GetQuery()
	if q == nil {
		w.fail(x, "EXPLAIN without a statement")
		return
	}
	if analyze {
		before := w.kinds
		w.walk(q, false)
		if w.kinds&^kindBit(KindRead) != before&^kindBit(KindRead) {
			w.add(w.kinds.Primary(), "EXPLAIN ANALYZE executes the explained statement")
		}
		return
	}

	sub := &walker{depth: w.depth, scope: w.scope, ddl: w.ddl}
	sub.walk(q, false)
	if sub.err != nil {
		w.err = sub.err
		return
	}
	w.read = append(w.read, sub.read...)
	w.read = append(w.read, sub.written...)
	w.funcs = append(w.funcs, sub.funcs...)
}

// defIsFalse reports whether a boolean option's argument is certainly
// false as PostgreSQL's defGetBoolean reads it. A missing argument means
// true; anything unrecognised is treated as true (fail closed).
func defIsFalse(arg *pg_query.Node) bool {
	if arg == nil {
		return false
	}
	switch v := arg.GetNode().(type) {
	case *pg_query.Node_Integer:
		return v.Integer.GetIval() == 0
	case *pg_query.Node_Boolean:
		return !v.Boolean.GetBoolval()
	case *pg_query.Node_String_:
		switch strings.ToLower(v.String_.GetSval()) {
		case "f", "fa", "fal", "fals", "false", "n", "no", "of", "off", "0":
			return true
		}
	case *pg_query.Node_AConst:
		switch c := v.AConst.GetVal().(type) {
		case *pg_query.A_Const_Ival:
			return c.Ival.GetIval() == 0
		case *pg_query.A_Const_Boolval:
			return !c.Boolval.GetBoolval()
		case *pg_query.A_Const_Sval:
			return defIsFalse(&pg_query.Node{Node: &pg_query.Node_String_{String_: c.Sval}})
		}
	}
	return false
}

// copyStmt handles COPY. COPY FROM writes its table. COPY TO streams rows
// outside the ordinary query protocol (so the gateway's row masking cannot
// apply): it is a utility, never a read. A server-side file or program
// reads or writes the database server's file system or runs a shell
// command there: utility and write, whatever the direction.
func (w *walker) copyStmt(x *pg_query.CopyStmt, m proto.Message) {
	w.takeCTE()
	w.enter("COPY")
	defer w.leave()

	if rel := x.GetRelation(); rel != nil {
		name := rangeVarName(rel)
		if x.GetIsFrom() {
			w.written = append(w.written, name)
			w.add(KindWrite, "COPY FROM loads rows into table "+name)
		} else {
			w.read = append(w.read, name)
		}
	}
	if !x.GetIsFrom() {
		w.add(KindUtility, "COPY TO streams rows outside the query protocol")
	}
	switch {
	case x.GetIsProgram():
		w.add(KindUtility, "COPY ... PROGRAM runs a shell command on the database server")
		w.add(KindWrite, "")
	case x.GetFilename() != "":
		w.add(KindUtility, "COPY with a file name reads or writes a file on the database server")
		w.add(KindWrite, "")
	}
	w.children(m, copySkip)
}
