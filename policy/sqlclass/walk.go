package sqlclass

import (
	"reflect"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// walker visits every node of one statement's raw parse tree. Node types
// it handles specially (statements, relations, function calls, casts,
// operators) have their own methods; the harmless expression and clause
// nodes listed in walk are descended into generically, through every
// node-valued field the protobuf schema declares (see messageFields), so
// a child is never skipped because a handler forgot it. Any other node
// type stops the walk with ErrUnsupported: the classifier only vouches
// for what it knows.
type walker struct {
	tag   string  // the top-level statement's tag
	kinds KindSet // everything the statement does
	// reasons, relations and functions, in the order met; duplicates are
	// removed at the end.
	reasons []string
	read    []string
	written []string
	funcs   []string
	// unresolved function and type names, for the resolvers.
	unresolvedFuncs []string
	unresolvedTypes []string
	// readsLiteral is set where the walk looks at a constant's value (the
	// setting set_config changes): its result then holds only for that
	// text, never for every text of the same shape.
	readsLiteral bool

	scope *cteScope // WITH names visible here
	depth int       // statements entered; 0 before the top-level one
	inCTE bool      // the next statement entered is the body of a WITH query
	// ddl > 0 while inside a DDL or DCL statement: casts and operators
	// there define things rather than run them, and the statement is
	// already at least as severe as anything they could do.
	ddl int
	err *Error
}

// walkStatement classifies the statement under one RawStmt.
func walkStatement(stmt *pg_query.Node, loc int) (analysis, *Error) {
	w := &walker{}
	if stmt == nil {
		return analysis{}, unsupported("RawStmt", loc, "empty statement")
	}
	w.walk(stmt, false)
	if w.err == nil && w.tag == "" {
		w.err = unsupported(nodeName(stmt), loc, "not a statement")
	}
	if w.err != nil {
		if w.err.Location < 0 {
			w.err.Location = loc
		}
		return analysis{}, w.err
	}
	return analysis{
		stmt: Statement{
			Tag:           w.tag,
			TablesRead:    sortedUnique(w.read),
			TablesWritten: sortedUnique(w.written),
			Functions:     sortedUnique(w.funcs),
			Reasons:       w.reasons,
		},
		kinds:        w.kinds,
		funcs:        sortedUnique(w.unresolvedFuncs),
		types:        sortedUnique(w.unresolvedTypes),
		readsLiteral: w.readsLiteral,
	}, nil
}

// add records that the statement does something of kind k, and why.
func (w *walker) add(k Kind, reason string) {
	w.kinds = w.kinds.With(k)
	if reason != "" {
		w.reasons = appendReason(w.reasons, reason)
	}
}

func (w *walker) fail(m proto.Message, reason string) {
	if w.err == nil {
		w.err = unsupported(nodeName(m), nodeLocation(m), reason)
	}
}

// enter is called by every statement handler. It reports whether the
// statement is the top-level one, whose tag names the whole statement.
func (w *walker) enter(tag string) (top bool) {
	top = w.depth == 0
	if top {
		w.tag = tag
	}
	w.depth++
	return top
}

func (w *walker) leave() { w.depth-- }

// takeCTE reports whether the statement being entered is the body of a
// WITH query, and clears the flag for statements nested deeper.
func (w *walker) takeCTE() bool {
	in := w.inCTE
	w.inCTE = false
	return in
}

// walk dispatches one node. target is true when the node sits in a field
// that names the relation a statement changes (see targetFields).
func (w *walker) walk(m proto.Message, target bool) {
	if w.err != nil {
		return
	}
	if len(m.ProtoReflect().GetUnknown()) > 0 {
		// Fields this version of the bindings does not know: the parser
		// produced something the classifier cannot see.
		w.fail(m, "parse tree contains fields unknown to the classifier")
		return
	}
	switch x := m.(type) {
	case *pg_query.Node:
		inner, empty := unwrapNode(x)
		if empty {
			// An empty Node is PostgreSQL's NULL pointer in a list
			// (for example a function without a column definition list
			// in FROM); it holds nothing.
			return
		}
		if inner == nil {
			w.fail(m, "cannot read the node inside a Node")
			return
		}
		w.walk(inner, target)
	case *pg_query.List:
		for _, item := range x.GetItems() {
			w.walk(item, target)
		}

	// Leaves: their schema has no node-valued field (A_Const's oneof
	// holds only the constant wrappers; TestLeavesHaveNoChildren checks
	// this against the schema).
	case *pg_query.A_Const, *pg_query.String, *pg_query.Integer, *pg_query.Float,
		*pg_query.Boolean, *pg_query.BitString, *pg_query.A_Star, *pg_query.ParamRef,
		*pg_query.RoleSpec:
	// Names: lists of identifiers (and * in a column reference).
	case *pg_query.ColumnRef:
		w.names(x.GetFields(), true, m)
	case *pg_query.Alias:
		w.names(x.GetColnames(), false, m)

	// Relations, functions, types and operators.
	case *pg_query.RangeVar:
		w.rangeVar(x, target)
	case *pg_query.FuncCall:
		w.funcCall(x, m)
	case *pg_query.TypeName:
		w.typeName(x, m)
	case *pg_query.A_Expr:
		w.operator(x.GetName(), m)
		w.children(m, aExprSkip)
	case *pg_query.SubLink:
		if len(x.GetOperName()) > 0 {
			w.operator(x.GetOperName(), m)
		}
		w.children(m, subLinkSkip)
	case *pg_query.SortBy:
		if len(x.GetUseOp()) > 0 {
			w.operator(x.GetUseOp(), m)
		}
		w.children(m, sortBySkip)
	case *pg_query.RangeTableSample:
		w.tableSample(x, m)

	// Queries and data-modifying statements.
	case *pg_query.SelectStmt:
		w.selectStmt(x, m)
	case *pg_query.InsertStmt:
		w.modify("INSERT", m, x.GetRelation(), x.GetWithClause(), x.GetOnConflictClause() != nil, insertSkip)
	case *pg_query.UpdateStmt:
		w.modify("UPDATE", m, x.GetRelation(), x.GetWithClause(), true, updateSkip)
	case *pg_query.DeleteStmt:
		w.modify("DELETE", m, x.GetRelation(), x.GetWithClause(), true, deleteSkip)
	case *pg_query.MergeStmt:
		w.modify("MERGE", m, x.GetRelation(), x.GetWithClause(), true, mergeSkip)
	case *pg_query.ExplainStmt:
		w.explain(x)
	case *pg_query.CopyStmt:
		w.copyStmt(x, m)
	case *pg_query.VariableSetStmt:
		w.setStmt(x, m)
	case *pg_query.TransactionStmt:
		w.transaction(x, m)

	// Harmless expression and clause nodes of the raw parse tree: walked
	// generically. Nothing else is (analysed-tree nodes such as Var,
	// FuncExpr or Query never come out of the raw parser; if one did, it
	// would be refused).
	case *pg_query.ResTarget, *pg_query.MultiAssignRef, *pg_query.TypeCast,
		*pg_query.CollateClause, *pg_query.A_Indices, *pg_query.A_Indirection,
		*pg_query.A_ArrayExpr, *pg_query.BoolExpr, *pg_query.NullTest,
		*pg_query.BooleanTest, *pg_query.CaseExpr, *pg_query.CaseWhen,
		*pg_query.CoalesceExpr, *pg_query.MinMaxExpr, *pg_query.RowExpr,
		*pg_query.NamedArgExpr, *pg_query.GroupingFunc, *pg_query.GroupingSet,
		*pg_query.MergeSupportFunc, *pg_query.XmlExpr, *pg_query.XmlSerialize,
		*pg_query.WindowDef, *pg_query.JoinExpr, *pg_query.RangeSubselect,
		*pg_query.RangeFunction, *pg_query.RangeTableFunc, *pg_query.RangeTableFuncCol,
		*pg_query.IntoClause, *pg_query.OnConflictClause, *pg_query.InferClause,
		*pg_query.IndexElem, *pg_query.MergeWhenClause, *pg_query.CTESearchClause,
		*pg_query.CTECycleClause, *pg_query.DefElem, *pg_query.ReturnStmt,
		*pg_query.JsonFormat, *pg_query.JsonReturning, *pg_query.JsonValueExpr,
		*pg_query.JsonIsPredicate, *pg_query.JsonBehavior, *pg_query.JsonOutput,
		*pg_query.JsonArgument, *pg_query.JsonFuncExpr, *pg_query.JsonTablePathSpec,
		*pg_query.JsonTable, *pg_query.JsonTableColumn, *pg_query.JsonKeyValue,
		*pg_query.JsonParseExpr, *pg_query.JsonScalarExpr, *pg_query.JsonSerializeExpr,
		*pg_query.JsonObjectConstructor, *pg_query.JsonArrayConstructor,
		*pg_query.JsonArrayQueryConstructor, *pg_query.JsonAggConstructor,
		*pg_query.JsonObjectAgg, *pg_query.JsonArrayAgg, *pg_query.SQLValueFunction,
		*pg_query.SetToDefault, *pg_query.CurrentOfExpr,
		// Clauses that only occur inside DDL, DCL and utility statements.
		*pg_query.ColumnDef, *pg_query.Constraint, *pg_query.TableLikeClause,
		*pg_query.PartitionElem, *pg_query.PartitionSpec, *pg_query.PartitionBoundSpec,
		*pg_query.PartitionRangeDatum, *pg_query.PartitionCmd, *pg_query.SinglePartitionSpec,
		*pg_query.AlterTableCmd, *pg_query.ReplicaIdentityStmt, *pg_query.ObjectWithArgs,
		*pg_query.AccessPriv, *pg_query.FunctionParameter, *pg_query.CreateOpClassItem,
		*pg_query.StatsElem, *pg_query.TriggerTransition, *pg_query.PublicationObjSpec,
		*pg_query.PublicationTable, *pg_query.VacuumRelation:
		w.children(m, 0)

	default:
		// Every other statement type is described by statementInfo;
		// anything it does not know is refused.
		if !w.otherStatement(m) {
			w.fail(m, "the classifier does not know this node type")
		}
	}
}

// children walks every message-valued field of m except those in skip.
// The fields come from messageFields (built from the protobuf schema, so
// none is missed) and are read with Go reflection on the generated
// structs, which is several times cheaper than protoreflect.
func (w *walker) children(m proto.Message, skip fieldMask) {
	v := reflect.ValueOf(m)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return
	}
	v = v.Elem()
	fields, ok := messageFields[v.Type()]
	if !ok {
		w.fail(m, "message type outside the parse-tree schema")
		return
	}
	for _, f := range fields {
		if skip.has(f.number) {
			continue
		}
		fv := v.Field(f.index)
		if f.list {
			for i := 0; i < fv.Len() && w.err == nil; i++ {
				if el := fv.Index(i); !el.IsNil() {
					w.walk(el.Interface().(proto.Message), f.target)
				}
			}
		} else if !fv.IsNil() {
			w.walk(fv.Interface().(proto.Message), f.target)
		}
		if w.err != nil {
			return
		}
	}
}

// names checks that a name list holds only identifiers (and, in a column
// reference, *): anything else would be a node the walk did not visit.
func (w *walker) names(list []*pg_query.Node, star bool, m proto.Message) {
	for _, n := range list {
		switch n.GetNode().(type) {
		case *pg_query.Node_String_:
		case *pg_query.Node_AStar:
			if !star {
				w.fail(m, "unexpected * in a name list")
				return
			}
		default:
			w.fail(m, "unexpected node in a name list")
			return
		}
	}
}

// rangeVar records a relation named in the statement.
func (w *walker) rangeVar(rv *pg_query.RangeVar, target bool) {
	name := rangeVarName(rv)
	if target {
		// A relation a statement changes is always a real relation:
		// PostgreSQL never resolves it against WITH names.
		w.written = append(w.written, name)
		return
	}
	if rv.GetSchemaname() == "" && rv.GetCatalogname() == "" && w.scope.has(rv.GetRelname()) {
		return // a reference to a WITH query, not a table
	}
	w.read = append(w.read, name)
}

// unwrapNode returns the message inside a Node's oneof. empty is true
// for a Node with nothing set (PostgreSQL's NULL in a list); inner is nil
// and empty false when the node cannot be unwrapped, which the caller
// must refuse. Every oneof wrapper (Node_SelectStmt, ...) is a struct
// whose one field is the node pointer, read here with Go reflection; any
// other shape is refused.
func unwrapNode(n *pg_query.Node) (inner proto.Message, empty bool) {
	if n == nil || n.Node == nil {
		return nil, true
	}
	if v := reflect.ValueOf(n.Node); v.Kind() == reflect.Pointer && !v.IsNil() &&
		v.Elem().Kind() == reflect.Struct && v.Elem().NumField() == 1 {
		if f := v.Elem().Field(0); f.Kind() == reflect.Pointer && !f.IsNil() {
			if m, ok := f.Interface().(proto.Message); ok {
				return m, false
			}
		}
	}
	return nil, false
}

// nodeName is the node type's name as PostgreSQL spells it
// ("SelectStmt", "A_Expr", ...).
func nodeName(m proto.Message) string {
	if n, ok := m.(*pg_query.Node); ok {
		if inner, _ := unwrapNode(n); inner != nil {
			return nodeName(inner)
		}
	}
	return string(m.ProtoReflect().Descriptor().Name())
}

// nodeLocation returns a node's "location" field, or -1.
func nodeLocation(m proto.Message) int {
	if n, ok := m.(*pg_query.Node); ok {
		if inner, _ := unwrapNode(n); inner != nil {
			return nodeLocation(inner)
		}
		return -1
	}
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByName("location")
	if fd == nil || fd.Kind() != protoreflect.Int32Kind {
		return -1
	}
	loc := int(r.Get(fd).Int())
	if loc < 0 {
		return -1
	}
	return loc
}

// cteScope is one WITH clause's names, linked to the enclosing scopes.
type cteScope struct {
	names  []string
	parent *cteScope
}

func (s *cteScope) has(name string) bool {
	for ; s != nil; s = s.parent {
		for _, n := range s.names {
			if n == name {
				return true
			}
		}
	}
	return false
}
