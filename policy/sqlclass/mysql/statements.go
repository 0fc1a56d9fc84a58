package mysql

import (
	"strings"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/wardenhq/warden/policy/sqlclass"
)

// statement classifies one top-level statement.
func (w *walker) statement(st sqlparser.Statement) {
	switch x := st.(type) {
	case *sqlparser.Select:
		w.setTag("SELECT")
		w.query(x)
	case *sqlparser.Union:
		w.setTag("SELECT")
		w.query(x)
	case *sqlparser.ValuesStatement:
		w.setTag("VALUES")
		w.query(x)
	case *sqlparser.Insert:
		w.insert(x)
	case *sqlparser.Update:
		w.update(x)
	case *sqlparser.Delete:
		w.delete(x)
	case *sqlparser.Set:
		w.set(x)
	case *sqlparser.Show:
		w.show(x)
	case *sqlparser.ExplainStmt:
		w.explainStmt(x)
	case *sqlparser.ExplainTab:
		w.setTag("DESCRIBE")
		w.add(sqlclass.KindRead, "")
		w.tableRef(x.Table)

	case *sqlparser.Begin:
		w.setTag("START TRANSACTION")
		w.effect(sqlclass.KindTransaction, "START TRANSACTION/BEGIN is transaction control")
		for _, m := range x.TxAccessModes {
			if m == sqlparser.ReadWrite {
				w.effect(sqlclass.KindTransaction, "START TRANSACTION READ WRITE asks for a READ WRITE transaction")
			}
		}
	case *sqlparser.Commit:
		w.transaction("COMMIT")
	case *sqlparser.Rollback:
		w.transaction("ROLLBACK")
	case *sqlparser.SRollback:
		w.transaction("ROLLBACK TO SAVEPOINT")
	case *sqlparser.Savepoint:
		w.transaction("SAVEPOINT")
	case *sqlparser.Release:
		w.transaction("RELEASE SAVEPOINT")

	case *sqlparser.LockTables:
		w.setTag("LOCK TABLES")
		w.effect(sqlclass.KindWrite, "LOCK TABLES takes table locks (and implicitly commits the current transaction)")
		for _, t := range x.Tables {
			if t == nil {
				continue
			}
			ate, ok := t.Table.(*sqlparser.AliasedTableExpr)
			if !ok {
				w.fail(nodeName(t.Table), "LOCK TABLES of something that is not a table")
				return
			}
			tn, ok := ate.Expr.(sqlparser.TableName)
			if !ok {
				w.fail(nodeName(ate.Expr), "LOCK TABLES of something that is not a table")
				return
			}
			w.write(tableName(tn))
		}
	case *sqlparser.UnlockTables:
		w.setTag("UNLOCK TABLES")
		w.effect(sqlclass.KindWrite, "UNLOCK TABLES releases table locks (and implicitly commits the current transaction)")

	case *sqlparser.CallProc:
		w.setTag("CALL")
		name := funcName(x.Name.Qualifier.String(), x.Name.Name.String())
		w.funcs = append(w.funcs, name)
		w.effect(sqlclass.KindWrite, "CALL runs stored procedure "+name+", whose body the classifier cannot see")
		for _, p := range x.Params {
			w.walk(p)
		}
	case *sqlparser.PrepareStmt:
		w.prepare(x)
	case *sqlparser.ExecuteStmt:
		w.setTag("EXECUTE")
		w.effect(sqlclass.KindWrite, "EXECUTE runs a prepared statement the classifier cannot see")
		for _, a := range x.Arguments {
			w.walk(a)
		}
	case *sqlparser.DeallocateStmt:
		w.setTag("DEALLOCATE PREPARE")
		w.effect(sqlclass.KindSession, "DEALLOCATE PREPARE changes session state")

	case *sqlparser.Kill:
		w.setTag("KILL")
		w.effect(sqlclass.KindUtility, "KILL terminates a connection or query")
	case *sqlparser.Flush:
		w.setTag("FLUSH")
		w.effect(sqlclass.KindUtility, "FLUSH is a server administration statement")
		for _, t := range x.TableNames {
			w.write(tableName(t))
		}
	case *sqlparser.Analyze:
		w.setTag("ANALYZE TABLE")
		w.effect(sqlclass.KindUtility, "ANALYZE TABLE rewrites table statistics")
		w.write(tableName(x.Table))
	case *sqlparser.PurgeBinaryLogs:
		w.setTag("PURGE BINARY LOGS")
		w.effect(sqlclass.KindUtility, "PURGE BINARY LOGS deletes binary log files")
	case *sqlparser.Use:
		w.setTag("USE")
		w.effect(sqlclass.KindSession, "USE changes the default database (unqualified table names would resolve elsewhere)")
	case *sqlparser.OtherAdmin:
		w.otherAdmin()
	case *sqlparser.Load:
		w.loadData()

	case *sqlparser.CreateTable:
		w.setTag("CREATE TABLE")
		w.effect(sqlclass.KindDDL, "CREATE TABLE changes the schema")
		if x.Temp {
			w.effect(sqlclass.KindDDL, "CREATE TEMPORARY TABLE is allowed even in a READ ONLY transaction")
		}
		w.write(tableName(x.Table))
		if x.OptLike != nil {
			w.tableRef(x.OptLike.LikeTable)
		}
		w.query(x.Select)
	case *sqlparser.AlterTable:
		w.setTag("ALTER TABLE")
		w.effect(sqlclass.KindDDL, "ALTER TABLE changes the schema")
		w.write(tableName(x.Table))
		for _, o := range x.AlterOptions {
			if r, ok := o.(*sqlparser.RenameTableName); ok {
				w.write(tableName(r.Table))
			}
		}
	case *sqlparser.DropTable:
		w.setTag("DROP TABLE")
		w.effect(sqlclass.KindDDL, "DROP TABLE changes the schema")
		for _, t := range x.FromTables {
			w.write(tableName(t))
		}
	case *sqlparser.TruncateTable:
		w.setTag("TRUNCATE TABLE")
		w.effect(sqlclass.KindWrite, "TRUNCATE TABLE deletes every row of "+tableName(x.Table))
		w.effect(sqlclass.KindDDL, "")
		w.write(tableName(x.Table))
	case *sqlparser.RenameTable:
		w.setTag("RENAME TABLE")
		w.effect(sqlclass.KindDDL, "RENAME TABLE changes the schema")
		for _, p := range x.TablePairs {
			w.write(tableName(p.FromTable))
			w.write(tableName(p.ToTable))
		}
	case *sqlparser.CreateView:
		w.setTag("CREATE VIEW")
		w.effect(sqlclass.KindDDL, "CREATE VIEW changes the schema")
		w.definer(x.Definer, x.Security)
		w.write(tableName(x.ViewName))
		w.query(x.Select)
	case *sqlparser.AlterView:
		w.setTag("ALTER VIEW")
		w.effect(sqlclass.KindDDL, "ALTER VIEW changes the schema")
		w.definer(x.Definer, x.Security)
		w.write(tableName(x.ViewName))
		w.query(x.Select)
	case *sqlparser.DropView:
		w.setTag("DROP VIEW")
		w.effect(sqlclass.KindDDL, "DROP VIEW changes the schema")
		for _, t := range x.FromTables {
			w.write(tableName(t))
		}
	case *sqlparser.CreateDatabase:
		w.setTag("CREATE DATABASE")
		w.effect(sqlclass.KindDDL, "CREATE DATABASE changes the schema")
	case *sqlparser.AlterDatabase:
		w.setTag("ALTER DATABASE")
		w.effect(sqlclass.KindDDL, "ALTER DATABASE changes the schema")
	case *sqlparser.DropDatabase:
		w.setTag("DROP DATABASE")
		w.effect(sqlclass.KindDDL, "DROP DATABASE drops every table of database "+quoteIdent(x.DBName.String()))
	case *sqlparser.CreateProcedure:
		w.setTag("CREATE PROCEDURE")
		w.effect(sqlclass.KindDDL, "CREATE PROCEDURE changes the schema")
		w.definer(x.Definer, "")
	case *sqlparser.DropProcedure:
		w.setTag("DROP PROCEDURE")
		w.effect(sqlclass.KindDDL, "DROP PROCEDURE changes the schema")

	default:
		// Vitess-only statements (VEXPLAIN, VStream, ALTER VSCHEMA,
		// migrations, ...) and anything newer than this classifier.
		w.fail(nodeName(st), "a statement the classifier does not know")
	}
}

func (w *walker) transaction(tag string) {
	w.setTag(tag)
	w.effect(sqlclass.KindTransaction, tag+" is transaction control")
}

// definer flags DEFINER and SQL SECURITY clauses: the object runs with
// another account's privileges.
func (w *walker) definer(d *sqlparser.Definer, security string) {
	if d != nil {
		w.effect(sqlclass.KindDCL, "a DEFINER clause makes the object run with another account's privileges")
	}
	if strings.EqualFold(security, "definer") {
		w.effect(sqlclass.KindDCL, "SQL SECURITY DEFINER makes the object run with its definer's privileges")
	}
}

// insert handles INSERT and REPLACE.
func (w *walker) insert(x *sqlparser.Insert) {
	tag := "INSERT"
	if x.Action == sqlparser.ReplaceAct {
		tag = "REPLACE"
	}
	w.setTag(tag)
	var target string
	if x.Table != nil {
		tn, ok := x.Table.Expr.(sqlparser.TableName)
		if !ok {
			w.fail(nodeName(x.Table.Expr), "INSERT into something that is not a table")
			return
		}
		target = tableName(tn)
	}
	w.effect(sqlclass.KindWrite, tag+" modifies table "+target)
	w.write(target)
	if len(x.OnDup) > 0 || x.Action == sqlparser.ReplaceAct {
		w.read = append(w.read, target) // ON DUPLICATE KEY UPDATE and REPLACE read the target's existing rows
	}
	w.children(x, x.Table)
}

// update handles single- and multi-table UPDATE. The tables written are
// those whose columns SET assigns; an unqualified column in a multi-table
// UPDATE could belong to any of them, so all are written then.
func (w *walker) update(x *sqlparser.Update) {
	w.setTag("UPDATE")
	outer := w.scope
	defer func() { w.scope = outer }()
	w.with(x.With)
	bases := baseTables(x.TableExprs)
	var targets []string
	all := len(bases) == 1
	for _, e := range x.Exprs {
		if e == nil || e.Name == nil {
			continue
		}
		q := e.Name.Qualifier
		if q.IsEmpty() {
			all = true
			continue
		}
		if t, ok := resolveAlias(bases, q); ok {
			targets = append(targets, t)
		} else {
			all = true
		}
	}
	if all {
		targets = targets[:0]
		for _, b := range bases {
			targets = append(targets, b.name)
		}
	}
	w.effect(sqlclass.KindWrite, "UPDATE modifies table "+strings.Join(targets, ", "))
	for _, t := range targets {
		w.write(t)
	}
	w.children(x, x.With)
}

// delete handles single- and multi-table DELETE.
func (w *walker) delete(x *sqlparser.Delete) {
	w.setTag("DELETE")
	outer := w.scope
	defer func() { w.scope = outer }()
	w.with(x.With)
	bases := baseTables(x.TableExprs)
	var targets []string
	if len(x.Targets) == 0 {
		for _, b := range bases {
			targets = append(targets, b.name)
		}
	}
	for _, t := range x.Targets {
		if name, ok := resolveAlias(bases, t); ok {
			targets = append(targets, name)
		} else {
			targets = append(targets, tableName(t))
		}
	}
	w.effect(sqlclass.KindWrite, "DELETE modifies table "+strings.Join(targets, ", "))
	for _, t := range targets {
		w.write(t)
	}
	// Targets are written above; everything else is walked (the FROM
	// tables are read).
	for _, te := range x.TableExprs {
		w.walk(te)
	}
	w.walk(x.Comments, x.Partitions, x.Where, x.OrderBy, x.Limit)
}

// baseTable is a table named in a FROM list, with the name a query uses
// for it (its alias, or its own name).
type baseTable struct {
	ref  sqlparser.TableName // alias as an unqualified name, or the name
	name string
}

// baseTables lists the tables (not derived tables) of a FROM list.
func baseTables(exprs []sqlparser.TableExpr) []baseTable {
	var out []baseTable
	var visit func(te sqlparser.TableExpr)
	visit = func(te sqlparser.TableExpr) {
		switch x := te.(type) {
		case *sqlparser.AliasedTableExpr:
			if tn, ok := x.Expr.(sqlparser.TableName); ok {
				ref := tn
				if !x.As.IsEmpty() {
					ref = sqlparser.TableName{Name: x.As}
				}
				out = append(out, baseTable{ref: ref, name: tableName(tn)})
			}
		case *sqlparser.JoinTableExpr:
			visit(x.LeftExpr)
			visit(x.RightExpr)
		case *sqlparser.ParenTableExpr:
			for _, e := range x.Exprs {
				visit(e)
			}
		}
	}
	for _, te := range exprs {
		visit(te)
	}
	return out
}

// resolveAlias finds the table a qualifier (t.col, DELETE t FROM ...)
// refers to.
func resolveAlias(bases []baseTable, q sqlparser.TableName) (string, bool) {
	for _, b := range bases {
		if b.ref.Name.String() == q.Name.String() && (q.Qualifier.IsEmpty() || q.Qualifier.String() == b.ref.Qualifier.String()) {
			return b.name, true
		}
	}
	return "", false
}

// explainStmt: EXPLAIN ANALYZE runs the statement and has its effects;
// plain EXPLAIN (any FORMAT) only plans it, and reports the tables it
// names as read. Functions count in both (see walker.explain).
func (w *walker) explainStmt(x *sqlparser.ExplainStmt) {
	w.setTag("EXPLAIN")
	w.add(sqlclass.KindRead, "")
	switch x.Statement.(type) {
	case *sqlparser.Select, *sqlparser.Union, *sqlparser.ValuesStatement, *sqlparser.Insert,
		*sqlparser.Update, *sqlparser.Delete:
	default:
		w.fail(nodeName(x.Statement), "EXPLAIN of a statement the classifier does not expect there")
		return
	}
	if x.Type == sqlparser.AnalyzeType {
		w.statement(x.Statement)
		return
	}
	w.explain++
	w.statement(x.Statement)
	w.explain--
}

// set judges every assignment of a SET statement.
func (w *walker) set(x *sqlparser.Set) {
	w.setTag("SET")
	for _, e := range x.Exprs {
		if e == nil || e.Var == nil {
			continue
		}
		name := strings.ToLower(e.Var.Name.String())
		switch e.Var.Scope {
		case sqlparser.VariableScope:
			w.effect(sqlclass.KindSession, "SET @"+e.Var.Name.String()+" sets a user variable")
		case sqlparser.GlobalScope, sqlparser.PersistSysScope, sqlparser.PersistOnlySysScope:
			w.effect(sqlclass.KindUtility, "")
			w.effect(sqlclass.KindDCL, "SET GLOBAL/PERSIST changes server-wide setting "+name+
				" for every session (server configuration: settings such as read_only, local_infile or general_log_file undo protections or write server files)")
		case sqlparser.NextTxScope:
			w.effect(sqlclass.KindTransaction, "SET TRANSACTION sets the next transaction's characteristics")
			if isReadOnlyVar(name) && !isOn(e.Expr) {
				w.effect(sqlclass.KindTransaction, "SET TRANSACTION READ WRITE asks for a READ WRITE transaction")
			}
		case sqlparser.SessionScope, sqlparser.NoScope:
			w.effect(sqlclass.KindSession, sessionReason(name, e.Expr))
		default:
			w.fail("SetExpr", "a variable scope the classifier does not know")
			return
		}
		w.walk(e.Expr)
	}
}

func isReadOnlyVar(name string) bool {
	return name == "transaction_read_only" || name == "tx_read_only"
}

// isOn reports whether a SET value is the literal ON/1/TRUE.
func isOn(e sqlparser.Expr) bool {
	switch v := e.(type) {
	case *sqlparser.Literal:
		s := strings.ToLower(v.Val)
		return s == "on" || s == "1" || s == "true"
	case sqlparser.BoolVal:
		return bool(v)
	case *sqlparser.ColName:
		s := v.Name.Lowered()
		return s == "on" || s == "true"
	}
	return false
}

// sessionReason names session settings that undo a protection.
func sessionReason(name string, value sqlparser.Expr) string {
	switch {
	case isReadOnlyVar(name):
		if isOn(value) {
			return "SET " + name + " changes the session's transaction access mode"
		}
		return "SET " + name + " can turn off read-only mode (READ WRITE)"
	case name == "autocommit":
		return "SET autocommit changes transaction behaviour (and can commit the current transaction)"
	case name == "sql_mode":
		return "SET sql_mode changes how SQL text is read (ANSI_QUOTES, NO_BACKSLASH_ESCAPES)"
	case name == "names" || name == "charset" || strings.HasPrefix(name, "character_set_") || strings.HasPrefix(name, "collation_"):
		return "SET NAMES/CHARACTER SET changes how SQL text is read (a multi-byte character set can hide quotes)"
	case name == "sql_log_bin" || name == "foreign_key_checks" || name == "unique_checks" || name == "sql_safe_updates":
		return "SET " + name + " turns off a server-side check"
	}
	return "SET " + name + " changes a session setting"
}

// show: SHOW statements read metadata. The tables they name are reported
// read; SHOW BINLOG/RELAYLOG EVENTS reads row changes of every table
// (outside any table policy) and is a utility.
func (w *walker) show(x *sqlparser.Show) {
	w.setTag("SHOW")
	w.add(sqlclass.KindRead, "")
	switch s := x.Internal.(type) {
	case *sqlparser.ShowBasic:
		switch s.Command {
		case sqlparser.UnknownCommandType, sqlparser.VGtidExecGlobal, sqlparser.VitessMigrations,
			sqlparser.VitessReplicationStatus, sqlparser.VitessShards, sqlparser.VitessTablets,
			sqlparser.VitessTarget, sqlparser.VitessVariables, sqlparser.VschemaTables,
			sqlparser.VschemaKeyspaces, sqlparser.VschemaVindexes, sqlparser.Keyspace:
			w.fail("ShowBasic", "a SHOW form that is not MySQL's")
			return
		}
		w.tableRef(s.Tbl)
		w.walk(s.Filter, s.Limit)
	case *sqlparser.ShowCreate:
		w.tableRef(s.Op)
	case *sqlparser.ShowBinlogEvents:
		w.effect(sqlclass.KindUtility, "SHOW BINLOG/RELAYLOG EVENTS reads logged row changes of every table, outside table policy")
		w.walk(s.Position, s.Limit)
	case *sqlparser.ShowEngine, *sqlparser.ShowGrants, *sqlparser.ShowProfile, *sqlparser.ShowCreateUser,
		*sqlparser.ShowReplicationStatus, *sqlparser.ShowReplicationSourceStatus, *sqlparser.ShowReplicas,
		*sqlparser.ShowBinaryLogs:
		// Metadata and status only; nothing below them is an expression.
	default:
		w.fail(nodeName(x.Internal), "a SHOW form the classifier does not know")
	}
}

// prepare: PREPARE is a session statement that also shows the kind of the
// statement it prepares, when that is a literal; prepared from a user
// variable the text is unknown, which is a write.
func (w *walker) prepare(x *sqlparser.PrepareStmt) {
	w.setTag("PREPARE")
	w.effect(sqlclass.KindSession, "PREPARE creates a prepared statement in the session")
	lit, ok := x.Statement.(*sqlparser.Literal)
	if !ok || lit.Type != sqlparser.StrVal {
		w.effect(sqlclass.KindWrite, "PREPARE ... FROM a variable prepares SQL the classifier cannot see")
		w.walk(x.Statement)
		return
	}
	if w.depth >= maxPrepareDepth {
		w.fail("PREPARE", "a prepared statement that itself prepares one")
		return
	}
	inner, err := analyse(lit.Val, w.srv, w.depth+1)
	if err != nil {
		err.Location = w.piece.start
		err.Reason = "in the prepared statement: " + err.Reason
		w.err = err
		return
	}
	if len(inner) != 1 {
		w.fail("PREPARE", "the prepared text holds more than one statement")
		return
	}
	a := inner[0]
	if w.explain == 0 {
		w.kinds |= a.kinds
		for _, r := range a.stmt.Reasons {
			w.reasons = appendReason(w.reasons, "prepared "+a.stmt.Tag+": "+r)
		}
		w.written = append(w.written, a.stmt.TablesWritten...)
	}
	w.read = append(w.read, a.stmt.TablesRead...)
	w.funcs = append(w.funcs, a.stmt.Functions...)
	w.unresolved = append(w.unresolved, a.funcs...)
}
