package mysql

import (
	"errors"
	"fmt"
	"strings"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/wardenhq/warden/policy/sqlclass"
)

// walker visits every node of one statement's tree. Statements, WITH
// clauses, locking and INTO clauses have handlers; every other node is
// reached through sqlparser.Walk (generated code that visits every
// child) and must be on the explicit allow-list in visit, or the
// statement fails with ErrUnsupported naming the node type.
type walker struct {
	text  string // the reading of the input being classified
	piece piece  // the statement's extent and tokens
	srv   *server
	depth int // PREPARE nesting

	tag   string
	kinds sqlclass.KindSet
	// reasons, tables and functions, in the order met; duplicates are
	// removed at the end.
	reasons    []string
	read       []string
	written    []string
	funcs      []string
	unresolved []string

	scope *cteScope
	// explain > 0 inside a plain EXPLAIN: what the explained statement
	// itself would change does not happen (its targets count as read),
	// but functions still count, because the optimizer may evaluate
	// constant expressions, stored functions included, while planning.
	explain int
	err     *sqlclass.Error
}

// errStop ends a sqlparser.Walk once w.err is set.
var errStop = errors.New("stop")

// add records something the statement's expressions do (functions,
// assignments); it counts even under a plain EXPLAIN.
func (w *walker) add(k sqlclass.Kind, reason string) {
	w.kinds = w.kinds.With(k)
	if reason != "" {
		w.reasons = appendReason(w.reasons, reason)
	}
}

// effect records what a statement itself does; a plain EXPLAIN does not
// do it.
func (w *walker) effect(k sqlclass.Kind, reason string) {
	if w.explain > 0 {
		return
	}
	w.add(k, reason)
}

// write records a table the statement changes (read, under EXPLAIN).
func (w *walker) write(name string) {
	if name == "" {
		return
	}
	if w.explain > 0 {
		w.read = append(w.read, name)
		return
	}
	w.written = append(w.written, name)
}

func (w *walker) fail(construct, reason string) {
	if w.err == nil {
		w.err = sqlclass.NewUnsupportedError(construct, w.piece.start, reason)
	}
}

// setTag names the top-level statement (the first one met).
func (w *walker) setTag(tag string) {
	if w.tag == "" {
		w.tag = tag
	}
}

// cteScope holds the WITH names visible at a point of the query.
type cteScope struct {
	names  []string
	parent *cteScope
}

// isCTE reports whether an unqualified table name refers to a WITH query
// in scope. The comparison is exact: if the server compared WITH names
// without regard to case while a real table of the other case exists,
// the real table is reported read, which can only deny more.
func (s *cteScope) isCTE(name string) bool {
	for ; s != nil; s = s.parent {
		for _, n := range s.names {
			if n == name {
				return true
			}
		}
	}
	return false
}

// tableRef records a table read, unless it names a WITH query in scope.
func (w *walker) tableRef(t sqlparser.TableName) {
	if t.Name.IsEmpty() {
		return
	}
	if t.Qualifier.IsEmpty() && w.scope.isCTE(t.Name.String()) {
		return
	}
	if t.Qualifier.IsEmpty() && t.Name.String() == "dual" && !w.quotedDual() {
		return // the parser's stand-in for "no FROM clause"
	}
	w.read = append(w.read, tableName(t))
}

// with walks a WITH clause and leaves its names in scope; the caller
// restores w.scope when the statement ends. A WITH query sees the ones
// before it, and itself when RECURSIVE.
func (w *walker) with(x *sqlparser.With) {
	if x == nil {
		return
	}
	sc := &cteScope{parent: w.scope}
	w.scope = sc
	for _, cte := range x.CTEs {
		if cte == nil {
			continue
		}
		name := cte.ID.String()
		if x.Recursive {
			sc.names = append(sc.names, name)
		}
		w.walk(cte.Columns)
		w.query(cte.Subquery)
		if !x.Recursive {
			sc.names = append(sc.names, name)
		}
	}
}

// query walks a SELECT, UNION or VALUES, wherever it appears (top level,
// subquery, derived table, WITH query, INSERT ... SELECT, CREATE ... AS).
func (w *walker) query(q sqlparser.TableStatement) {
	if w.err != nil || q == nil {
		return
	}
	outer := w.scope
	defer func() { w.scope = outer }()
	mark := len(w.read)
	w.add(sqlclass.KindRead, "")
	switch x := q.(type) {
	case *sqlparser.Select:
		w.with(x.With)
		w.children(x, x.With, x.Into)
		w.lock(x.Lock, mark)
		w.into(x.Into)
	case *sqlparser.Union:
		w.with(x.With)
		w.children(x, x.With, x.Into)
		w.lock(x.Lock, mark)
		w.into(x.Into)
	case *sqlparser.ValuesStatement:
		w.children(x)
	default:
		w.fail(nodeName(q), "not a query the classifier knows")
	}
}

// lock handles FOR UPDATE, FOR SHARE and LOCK IN SHARE MODE: row locks
// are writes, and every table the query block read is locked.
func (w *walker) lock(l sqlparser.Lock, mark int) {
	if l == sqlparser.NoLock {
		return
	}
	w.effect(sqlclass.KindWrite, "a locking clause ("+strings.TrimSpace(l.ToString())+") locks rows")
	if w.explain > 0 {
		return
	}
	w.written = append(w.written, w.read[mark:]...)
}

// into handles SELECT ... INTO.
func (w *walker) into(x *sqlparser.SelectInto) {
	if x == nil {
		return
	}
	switch x.Type {
	case sqlparser.IntoOutfile, sqlparser.IntoDumpfile:
		w.effect(sqlclass.KindWrite, "SELECT ... INTO OUTFILE/DUMPFILE writes a file on the database server")
		w.effect(sqlclass.KindUtility, "")
	case sqlparser.IntoOutfileS3:
		w.effect(sqlclass.KindWrite, "SELECT ... INTO OUTFILE S3 writes to object storage")
		w.effect(sqlclass.KindUtility, "")
	case sqlparser.IntoVariables:
		w.effect(sqlclass.KindSession, "SELECT ... INTO @variable sets user variables")
	default:
		w.fail("SelectInto", "unknown INTO target")
	}
	for _, v := range x.VarList {
		w.walk(v)
	}
}

// children walks every child of node except the ones in skip (handled by
// the caller). node itself must be a pointer.
func (w *walker) children(node sqlparser.SQLNode, skip ...sqlparser.SQLNode) {
	if w.err != nil {
		return
	}
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		if n == node {
			return true, nil
		}
		for _, s := range skip {
			if isNil(s) {
				continue
			}
			if n == s {
				return false, nil
			}
		}
		return w.visit(n)
	}, node)
}

// walk walks nodes with the allow-list visitor.
func (w *walker) walk(nodes ...sqlparser.SQLNode) {
	for _, n := range nodes {
		if w.err != nil || isNil(n) {
			return
		}
		_ = sqlparser.Walk(w.visit, n)
	}
}

// isNil reports a nil interface or a typed nil pointer (pointers compare
// by identity in children's skip list, so a nil one must never match).
func isNil(n sqlparser.SQLNode) bool {
	if n == nil {
		return true
	}
	switch x := n.(type) {
	case *sqlparser.With:
		return x == nil
	case *sqlparser.SelectInto:
		return x == nil
	case *sqlparser.AliasedTableExpr:
		return x == nil
	}
	return false
}

func nodeName(n any) string {
	return strings.TrimPrefix(strings.TrimPrefix(fmt.Sprintf("%T", n), "*"), "sqlparser.")
}

// quotedDual reports whether the statement names a table `dual` in
// backticks: unquoted, DUAL is a keyword (no table), and the parser
// writes it into every SELECT without FROM.
func (w *walker) quotedDual() bool {
	for _, t := range w.piece.toks {
		if t.typ == sqlparser.ID && strings.EqualFold(t.val, "dual") && t.start < len(w.text) && w.text[t.start] == '`' {
			return true
		}
	}
	return false
}
