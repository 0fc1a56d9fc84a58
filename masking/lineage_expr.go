package masking

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// expr traces an expression. The result is direct only where the value is
// one of its sources' values unchanged (see lineage.go).
func (a *analyser) expr(n *pg_query.Node, sc *scope) taint {
	if n == nil || n.GetNode() == nil {
		return taint{}
	}
	switch x := n.GetNode().(type) {
	case *pg_query.Node_ColumnRef:
		return a.columnRef(x.ColumnRef, sc)
	case *pg_query.Node_AConst, *pg_query.Node_ParamRef, *pg_query.Node_SqlvalueFunction, *pg_query.Node_String_,
		*pg_query.Node_Integer, *pg_query.Node_Float, *pg_query.Node_Boolean, *pg_query.Node_SetToDefault:
		return taint{}
	case *pg_query.Node_TypeCast:
		t := a.expr(x.TypeCast.GetArg(), sc)
		if keepsText(x.TypeCast.GetTypeName()) {
			return t
		}
		return computed(t)
	case *pg_query.Node_CollateClause:
		return a.expr(x.CollateClause.GetArg(), sc)
	case *pg_query.Node_FuncCall:
		return a.funcCall(x.FuncCall, sc)
	case *pg_query.Node_AExpr:
		return a.aExpr(x.AExpr, sc)
	case *pg_query.Node_CaseExpr:
		// The value is one of the results; the conditions only choose.
		var t taint
		for _, w := range x.CaseExpr.GetArgs() {
			t.add(a.expr(w.GetCaseWhen().GetResult(), sc))
		}
		t.add(a.expr(x.CaseExpr.GetDefresult(), sc))
		return t
	case *pg_query.Node_CoalesceExpr:
		return a.union(x.CoalesceExpr.GetArgs(), sc)
	case *pg_query.Node_MinMaxExpr:
		return a.union(x.MinMaxExpr.GetArgs(), sc)
	case *pg_query.Node_SubLink:
		return a.subLink(x.SubLink, sc)
	case *pg_query.Node_SelectStmt:
		var t taint
		for _, c := range a.selectStmt(x.SelectStmt, sc, sc.ctes) {
			t.addAsComputed(c.t)
		}
		return t
	case *pg_query.Node_RangeVar, *pg_query.Node_RangeSubselect, *pg_query.Node_RangeFunction,
		*pg_query.Node_JoinExpr, *pg_query.Node_RangeTableSample, *pg_query.Node_RangeTableFunc, *pg_query.Node_JsonTable:
		// A FROM item where an expression was expected: all it holds.
		tmp := &scope{parent: sc, ctes: sc.ctes}
		a.fromItem(n, tmp)
		var t taint
		for _, it := range tmp.items {
			t.addAsComputed(it.whole())
		}
		return t
	}
	return a.generic(n, sc)
}

// union traces values that are each one of several expressions.
func (a *analyser) union(list []*pg_query.Node, sc *scope) taint {
	var t taint
	for _, e := range list {
		t.add(a.expr(e, sc))
	}
	return t
}

// generic traces a node this file does not know: computed from every node
// beneath it.
func (a *analyser) generic(n *pg_query.Node, sc *scope) taint {
	var t taint
	inner := innerMessage(n)
	if inner == nil {
		return t
	}
	eachNode(inner, func(c *pg_query.Node) { t.addAsComputed(a.expr(c, sc)) })
	return t
}

// innerMessage returns the message a Node wraps.
func innerMessage(n *pg_query.Node) protoreflect.Message {
	if n == nil {
		return nil
	}
	m := n.ProtoReflect()
	od := m.Descriptor().Oneofs().ByName("node")
	if od == nil {
		return nil
	}
	fd := m.WhichOneof(od)
	if fd == nil {
		return nil
	}
	return m.Get(fd).Message()
}

var nodeType = (&pg_query.Node{}).ProtoReflect().Descriptor().FullName()

// eachNode calls fn for every Node directly beneath m, looking through
// messages that are not Nodes (CaseWhen lists, WindowDef, TypeName, ...).
func eachNode(m protoreflect.Message, fn func(*pg_query.Node)) {
	visit := func(v protoreflect.Message) {
		if v.Descriptor().FullName() == nodeType {
			fn(v.Interface().(*pg_query.Node))
			return
		}
		eachNode(v, fn)
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind || fd.IsMap() {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				visit(l.Get(i).Message())
			}
			return true
		}
		visit(v.Message())
		return true
	})
}

// passThroughFunctions return one of their input values unchanged: the
// index of those arguments. Their FILTER and OVER clauses only choose rows.
var passThroughFunctions = map[string][]int{
	"min": {0}, "max": {0}, "any_value": {0}, "first_value": {0}, "last_value": {0},
	"nth_value": {0}, "lag": {0, 2}, "lead": {0, 2},
}

// opaqueBuiltins run SQL given as text, or read data by name: what they
// return cannot be traced. (The SQL classifier refuses them in reads too.)
var opaqueBuiltins = map[string]bool{
	"query_to_xml": true, "query_to_xmlschema": true, "query_to_xml_and_xmlschema": true,
	"table_to_xml": true, "table_to_xmlschema": true, "table_to_xml_and_xmlschema": true,
	"cursor_to_xml": true, "cursor_to_xmlschema": true, "schema_to_xml": true, "schema_to_xmlschema": true,
	"schema_to_xml_and_xmlschema": true, "database_to_xml": true, "database_to_xmlschema": true,
	"database_to_xml_and_xmlschema": true, "ts_stat": true, "lo_get": true, "loread": true,
	"pg_read_file": true, "pg_read_binary_file": true, "dblink": true, "crosstab": true,
}

// funcCall traces a function call.
func (a *analyser) funcCall(f *pg_query.FuncCall, sc *scope) taint {
	schema, bare := funcName(f)
	builtin := schema == "" || systemSchema(schema)
	var t taint
	switch {
	case !builtin:
		t.addOpaque("calls function " + schema + "." + bare + ", whose body masking cannot see")
	case schema == "" && a.cat.userFuncs[bare]:
		t.addOpaque("calls function " + bare + ", which resolves to a user-defined function whose body masking cannot see")
	case opaqueBuiltins[bare]:
		t.addOpaque("calls " + bare + ", which reads data masking cannot trace")
	}
	if len(t.opaque) == 0 {
		if bare == "count" {
			return t // a number of rows, whatever it counts
		}
		if idx, ok := passThroughFunctions[bare]; ok && !f.GetAggWithinGroup() {
			for i, arg := range f.GetArgs() {
				if containsInt(idx, i) {
					t.add(a.expr(arg, sc))
				} else {
					t.addAsComputed(a.expr(arg, sc))
				}
			}
			return t
		}
	}
	for _, arg := range f.GetArgs() {
		t.addAsComputed(a.expr(arg, sc))
	}
	// WITHIN GROUP (ORDER BY x) is an ordered-set aggregate's input
	// (mode(), percentile_disc() return x values); other aggregates' ORDER
	// BY is counted too, conservatively.
	for _, o := range f.GetAggOrder() {
		t.addAsComputed(a.generic(o, sc))
	}
	return t
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// aExpr traces an operator expression.
func (a *analyser) aExpr(e *pg_query.A_Expr, sc *scope) taint {
	var t taint
	if parts, ok := stringsOK(e.GetName()); ok && len(parts) > 1 && !systemSchema(parts[0]) {
		t.addOpaque("uses operator " + strings.Join(parts, ".") + ", whose function masking cannot see")
	}
	if e.GetKind() == pg_query.A_Expr_Kind_AEXPR_NULLIF {
		// NULLIF(a, b) is a or NULL; b only chooses.
		t.add(a.expr(e.GetLexpr(), sc))
		return t
	}
	t.addAsComputed(a.expr(e.GetLexpr(), sc))
	t.addAsComputed(a.expr(e.GetRexpr(), sc))
	return t
}

// subLink traces a subquery used as an expression.
func (a *analyser) subLink(s *pg_query.SubLink, sc *scope) taint {
	if s.GetSubLinkType() == pg_query.SubLinkType_EXISTS_SUBLINK {
		return taint{} // whether rows exist: inference, like WHERE
	}
	cols, ok := a.statementOutputs(s.GetSubselect(), sc, sc.ctes)
	if !ok {
		return opaqueTaint("a subquery cannot be traced")
	}
	if s.GetSubLinkType() == pg_query.SubLinkType_EXPR_SUBLINK && len(cols) == 1 && !cols[0].spread {
		return cols[0].t // (SELECT x ...) is one x value
	}
	var t taint
	for _, c := range cols {
		t.addAsComputed(c.t)
	}
	t.addAsComputed(a.expr(s.GetTestexpr(), sc))
	return t
}

// keepsText reports casts that keep a value's text as it is: to text, or
// to varchar without a length. Other casts compute (char(n) and varchar(n)
// truncate, numeric and date casts reformat).
func keepsText(tn *pg_query.TypeName) bool {
	if tn == nil || len(tn.GetTypmods()) > 0 || len(tn.GetArrayBounds()) > 0 || tn.GetSetof() || tn.GetPctType() {
		return false
	}
	parts, ok := stringsOK(tn.GetNames())
	if !ok || len(parts) == 0 || len(parts) > 2 || (len(parts) == 2 && parts[0] != "pg_catalog") {
		return false
	}
	switch parts[len(parts)-1] {
	case "text", "varchar":
		return true
	}
	return false
}

// funcName splits a function's name into schema ("" when unqualified) and
// bare name.
func funcName(f *pg_query.FuncCall) (schema, bare string) {
	parts, ok := stringsOK(f.GetFuncname())
	if !ok || len(parts) == 0 {
		return "?", "?"
	}
	bare = parts[len(parts)-1]
	if len(parts) >= 2 {
		schema = parts[len(parts)-2]
	}
	return schema, bare
}

// fieldsOf returns a column reference's names and whether it ends in *.
func fieldsOf(cr *pg_query.ColumnRef) (parts []string, star bool) {
	for _, f := range cr.GetFields() {
		switch x := f.GetNode().(type) {
		case *pg_query.Node_String_:
			parts = append(parts, x.String_.GetSval())
		case *pg_query.Node_AStar:
			star = true
		}
	}
	return parts, star
}

func endsWithStar(ind *pg_query.A_Indirection) bool {
	list := ind.GetIndirection()
	return len(list) > 0 && list[len(list)-1].GetAStar() != nil
}

// stringsOf returns the String values of a name list, skipping others.
func stringsOf(nodes []*pg_query.Node) []string {
	out := make([]string, 0, len(nodes))
	for _, n := range nodes {
		if s := n.GetString_(); s != nil {
			out = append(out, s.GetSval())
		}
	}
	return out
}

func stringsOK(nodes []*pg_query.Node) ([]string, bool) {
	out := make([]string, 0, len(nodes))
	for _, n := range nodes {
		s := n.GetString_()
		if s == nil {
			return nil, false
		}
		out = append(out, s.GetSval())
	}
	return out, true
}

func joinParts(parts []string) string { return strings.Join(parts, ".") }

// figureName is the name PostgreSQL gives an output without an alias, for
// the expressions where it is certain; ok is false otherwise.
func figureName(n *pg_query.Node) (string, bool) {
	switch x := n.GetNode().(type) {
	case *pg_query.Node_ColumnRef:
		parts, star := fieldsOf(x.ColumnRef)
		if star || len(parts) == 0 {
			return "", false
		}
		return parts[len(parts)-1], true
	case *pg_query.Node_FuncCall:
		_, bare := funcName(x.FuncCall)
		return bare, bare != "?"
	case *pg_query.Node_TypeCast:
		if name, ok := figureName(x.TypeCast.GetArg()); ok {
			return name, true
		}
	case *pg_query.Node_CollateClause:
		return figureName(x.CollateClause.GetArg())
	case *pg_query.Node_CaseExpr:
		return "case", true
	case *pg_query.Node_CoalesceExpr:
		return "coalesce", true
	}
	return "", false
}

// nodeName names a statement's node type for messages ("CreateStmt").
func nodeName(n *pg_query.Node) string {
	if m := innerMessage(n); m != nil {
		return string(m.Descriptor().Name())
	}
	return "empty"
}
