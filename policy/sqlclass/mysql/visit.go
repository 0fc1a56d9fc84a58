package mysql

import (
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/wardenhq/warden/policy/sqlclass"
)

// visit is the allow-list: it judges one node met by sqlparser.Walk inside
// a statement (expressions, clauses, table expressions) and says whether
// to descend into its children. A node type not listed here fails the
// statement.
func (w *walker) visit(node sqlparser.SQLNode) (bool, error) {
	if w.err != nil {
		return false, errStop
	}
	switch x := node.(type) {
	// Queries nested anywhere: subqueries, derived tables, EXISTS, IN.
	case *sqlparser.Select, *sqlparser.Union, *sqlparser.ValuesStatement:
		w.query(x.(sqlparser.TableStatement))
		return false, nil
	case *sqlparser.With:
		w.fail("With", "a WITH clause where the classifier does not expect one")
		return false, errStop

	// Table references: a bare table name met here is a table read.
	// (Column and star qualifiers are not descended into: see below.)
	case sqlparser.TableName:
		w.tableRef(x)
		return false, nil
	case sqlparser.TableNames:
		for _, t := range x {
			w.tableRef(t)
		}
		return false, nil
	case *sqlparser.ColName, *sqlparser.StarExpr:
		// t.c and t.* name a table or alias of the FROM clause, already
		// counted there.
		return false, nil

	// Function calls and expressions with effects.
	case *sqlparser.FuncExpr:
		w.funcExpr(x)
		return true, nil
	case *sqlparser.LockingFunc:
		w.lockingFunc(x)
		return true, nil
	case *sqlparser.GTIDFuncExpr:
		switch x.Type {
		case sqlparser.WaitForExecutedGTIDSetType, sqlparser.WaitUntilSQLThreadAfterGTIDSType:
			w.funcs = append(w.funcs, x.Type.ToString())
			w.add(sqlclass.KindUtility, "function "+x.Type.ToString()+" holds the connection waiting for replication")
		case sqlparser.GTIDSubsetType, sqlparser.GTIDSubtractType:
			w.funcs = append(w.funcs, x.Type.ToString())
		default:
			w.fail("GTIDFuncExpr", "unknown GTID function")
			return false, errStop
		}
		return true, nil
	case *sqlparser.AssignmentExpr:
		w.add(sqlclass.KindSession, "an assignment (@var := ...) sets a user variable")
		return true, nil
	case *sqlparser.Nextval:
		w.add(sqlclass.KindWrite, "NEXT VALUE advances a sequence")
		return true, nil
	case *sqlparser.Variable:
		// Reading @var or @@setting changes nothing; the scope is a
		// plain enum.
		return true, nil

	case *sqlparser.JtColumnDefinition:
		// sqlparser.Walk does not descend into JSON_TABLE columns.
		w.jtColumn(x)
		return false, nil

	// Containers of the statement and clause structure.
	case *sqlparser.SelectExprs, *sqlparser.AliasedExpr, *sqlparser.Where, *sqlparser.GroupBy,
		sqlparser.OrderBy, *sqlparser.Order, *sqlparser.Limit, *sqlparser.ParsedComments,
		sqlparser.NamedWindows, *sqlparser.NamedWindow, sqlparser.WindowDefinitions, *sqlparser.WindowDefinition,
		*sqlparser.WindowSpecification, *sqlparser.OverClause, *sqlparser.FrameClause, *sqlparser.FramePoint,
		*sqlparser.AliasedTableExpr, *sqlparser.JoinTableExpr, *sqlparser.ParenTableExpr, *sqlparser.DerivedTable,
		*sqlparser.JoinCondition, sqlparser.TableExprs, sqlparser.IndexHints, *sqlparser.IndexHint,
		sqlparser.Partitions, sqlparser.Columns, sqlparser.IdentifierCI, sqlparser.IdentifierCS,
		*sqlparser.Subquery, *sqlparser.Exprs, sqlparser.ValTuple, sqlparser.Values,
		sqlparser.UpdateExprs, *sqlparser.UpdateExpr, sqlparser.OnDup, *sqlparser.RowAlias,
		*sqlparser.When, *sqlparser.ConvertType,
		*sqlparser.JSONTableExpr, *sqlparser.Literal, *sqlparser.NullVal,
		sqlparser.BoolVal, *sqlparser.Argument, sqlparser.ListArg, *sqlparser.Default, *sqlparser.SetExpr,
		sqlparser.SetExprs, *sqlparser.ShowFilter:
		return true, nil

	// Harmless expressions: operators, built-in syntax forms and the
	// built-in functions the grammar parses specially (none of them
	// reads or writes anything but its arguments).
	case *sqlparser.AndExpr, *sqlparser.OrExpr, *sqlparser.XorExpr, *sqlparser.NotExpr,
		*sqlparser.ComparisonExpr, *sqlparser.BetweenExpr, *sqlparser.IsExpr, *sqlparser.ExistsExpr,
		*sqlparser.BinaryExpr, *sqlparser.UnaryExpr, *sqlparser.IntroducerExpr, *sqlparser.CollateExpr,
		*sqlparser.CaseExpr, *sqlparser.CastExpr, *sqlparser.ConvertExpr, *sqlparser.ConvertUsingExpr,
		*sqlparser.SubstrExpr, *sqlparser.InsertExpr, *sqlparser.IntervalFuncExpr, *sqlparser.LocateExpr,
		*sqlparser.CharExpr, *sqlparser.MatchExpr, *sqlparser.TrimFuncExpr, *sqlparser.TimestampDiffExpr,
		*sqlparser.ExtractFuncExpr, *sqlparser.WeightStringFuncExpr, *sqlparser.CurTimeFuncExpr,
		*sqlparser.ValuesFuncExpr, *sqlparser.IntervalDateExpr,
		*sqlparser.JSONSchemaValidFuncExpr, *sqlparser.JSONSchemaValidationReportFuncExpr,
		*sqlparser.JSONPrettyExpr, *sqlparser.JSONStorageFreeExpr, *sqlparser.JSONStorageSizeExpr,
		*sqlparser.JSONContainsExpr, *sqlparser.JSONContainsPathExpr, *sqlparser.JSONExtractExpr,
		*sqlparser.JSONKeysExpr, *sqlparser.JSONOverlapsExpr, *sqlparser.JSONSearchExpr,
		*sqlparser.JSONValueExpr, *sqlparser.JSONArrayExpr, *sqlparser.JSONArrayAgg, *sqlparser.JSONObjectExpr,
		*sqlparser.JSONObjectParam, *sqlparser.JSONObjectAgg, *sqlparser.JSONQuoteExpr,
		*sqlparser.JSONAttributesExpr, *sqlparser.JSONValueModifierExpr, *sqlparser.JSONValueMergeExpr,
		*sqlparser.JSONRemoveExpr, *sqlparser.JSONUnquoteExpr,
		*sqlparser.MemberOfExpr, *sqlparser.RegexpInstrExpr, *sqlparser.RegexpLikeExpr,
		*sqlparser.RegexpReplaceExpr, *sqlparser.RegexpSubstrExpr, *sqlparser.ExtractValueExpr,
		*sqlparser.UpdateXMLExpr, *sqlparser.PerformanceSchemaFuncExpr,
		*sqlparser.ArgumentLessWindowExpr, *sqlparser.FirstOrLastValueExpr, *sqlparser.NtileExpr,
		*sqlparser.NTHValueExpr, *sqlparser.LagLeadExpr, *sqlparser.NullTreatmentClause,
		*sqlparser.FromFirstLastClause,
		*sqlparser.Sum, *sqlparser.Min, *sqlparser.Max, *sqlparser.Avg, *sqlparser.CountStar,
		*sqlparser.Count, *sqlparser.GroupConcatExpr, *sqlparser.AnyValue, *sqlparser.BitAnd,
		*sqlparser.BitOr, *sqlparser.BitXor, *sqlparser.Std, *sqlparser.StdDev, *sqlparser.StdPop,
		*sqlparser.StdSamp, *sqlparser.VarPop, *sqlparser.VarSamp, *sqlparser.Variance,
		*sqlparser.PointExpr, *sqlparser.LineStringExpr, *sqlparser.PolygonExpr,
		*sqlparser.MultiPolygonExpr, *sqlparser.MultiPointExpr, *sqlparser.MultiLinestringExpr,
		*sqlparser.GeomFromTextExpr, *sqlparser.GeomFromWKBExpr, *sqlparser.GeomFormatExpr,
		*sqlparser.GeomPropertyFuncExpr, *sqlparser.PointPropertyFuncExpr,
		*sqlparser.LinestrPropertyFuncExpr, *sqlparser.PolygonPropertyFuncExpr,
		*sqlparser.GeomCollPropertyFuncExpr, *sqlparser.GeoHashFromLatLongExpr,
		*sqlparser.GeoHashFromPointExpr, *sqlparser.GeomFromGeoHashExpr,
		*sqlparser.GeoJSONFromGeomExpr, *sqlparser.GeomFromGeoJSONExpr:
		return true, nil
	}
	w.fail(nodeName(node), "a node the classifier does not know")
	return false, errStop
}

// jtColumn walks a JSON_TABLE column definition's expressions (its type
// is a declaration and is not walked).
func (w *walker) jtColumn(c *sqlparser.JtColumnDefinition) {
	switch {
	case c == nil, c.JtOrdinal != nil:
	case c.JtPath != nil:
		w.walk(c.JtPath.Path)
		if r := c.JtPath.EmptyOnResponse; r != nil {
			w.walk(r.Expr)
		}
		if r := c.JtPath.ErrorOnResponse; r != nil {
			w.walk(r.Expr)
		}
	case c.JtNestedPath != nil:
		w.walk(c.JtNestedPath.Path)
		for _, col := range c.JtNestedPath.Columns {
			w.jtColumn(col)
		}
	default:
		w.fail("JtColumnDefinition", "an unknown JSON_TABLE column form")
	}
}
