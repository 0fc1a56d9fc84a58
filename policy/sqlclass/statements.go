package sqlclass

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
)

// stmtInfo describes a statement type the walk handles generically: its
// tag, its kind and why it is not a plain read.
type stmtInfo struct {
	tag    string
	kind   Kind
	reason string   // defaults from kind for DDL and DCL
	also   []effect // further kinds the statement shows
	// written are relations the statement changes that the parse tree
	// names with plain strings rather than RangeVars (DROP TABLE a, b).
	written []string
	skip    fieldMask
	// refuse, when set, makes the statement unsupported with this reason.
	refuse string
}

type effect struct {
	kind   Kind
	reason string
}

// otherStatement classifies every statement type walk does not dispatch
// itself. It returns false if m is not a statement type it knows.
func (w *walker) otherStatement(m proto.Message) bool {
	info, ok := statementInfo(m)
	if !ok {
		return false
	}
	if info.refuse != "" {
		w.fail(m, info.refuse)
		return true
	}
	w.takeCTE()
	w.enter(info.tag)
	defer w.leave()
	reason := info.reason
	if reason == "" {
		switch info.kind {
		case KindDDL:
			reason = info.tag + " changes the schema"
		case KindDCL:
			reason = info.tag + " changes roles or privileges"
		}
	}
	w.add(info.kind, reason)
	for _, e := range info.also {
		w.add(e.kind, e.reason)
	}
	w.written = append(w.written, info.written...)
	if info.kind == KindDDL || info.kind == KindDCL {
		w.ddl++
		defer func() { w.ddl-- }()
	}
	if call, isCall := m.(*pg_query.CallStmt); isCall {
		// The procedure is recorded, not judged: CALL is a write anyway.
		if fc := call.GetFunccall(); fc != nil {
			if parts, ok := stringList(fc.GetFuncname()); ok {
				w.funcs = append(w.funcs, displayName(parts))
			}
			w.children(fc, funcCallSkip)
		}
	}
	w.children(m, info.skip)
	return true
}

// statementInfo returns what is known about a statement type, or false.
func statementInfo(msg any) (stmtInfo, bool) {
	switch x := msg.(type) {
	// Reads that are not SELECT.
	case *pg_query.VariableShowStmt:
		return stmtInfo{tag: "SHOW", kind: KindRead}, true
	case *pg_query.DeclareCursorStmt:
		info := stmtInfo{tag: "DECLARE CURSOR", kind: KindRead}
		if x.GetOptions()&cursorOptHold != 0 {
			info.also = []effect{{KindSession, "DECLARE ... WITH HOLD keeps the cursor open after the transaction"}}
		}
		return info, true
	case *pg_query.FetchStmt:
		if x.GetIsmove() {
			return stmtInfo{tag: "MOVE", kind: KindRead}, true
		}
		return stmtInfo{tag: "FETCH", kind: KindRead}, true
	case *pg_query.ClosePortalStmt:
		return stmtInfo{tag: "CLOSE CURSOR", kind: KindRead}, true

	// Session state.
	case *pg_query.PrepareStmt:
		return stmtInfo{tag: "PREPARE", kind: KindSession, reason: "PREPARE stores a statement for a later EXECUTE"}, true
	case *pg_query.ExecuteStmt:
		return stmtInfo{tag: "EXECUTE", kind: KindWrite, reason: "EXECUTE runs a prepared statement whose text the classifier cannot see"}, true
	case *pg_query.DeallocateStmt:
		return stmtInfo{tag: "DEALLOCATE", kind: KindSession, reason: "DEALLOCATE drops a prepared statement"}, true
	case *pg_query.ListenStmt:
		return stmtInfo{tag: "LISTEN", kind: KindSession, reason: "LISTEN subscribes the session to notifications"}, true
	case *pg_query.UnlistenStmt:
		return stmtInfo{tag: "UNLISTEN", kind: KindSession, reason: "UNLISTEN changes the session's notification subscriptions"}, true
	case *pg_query.ConstraintsSetStmt:
		return stmtInfo{tag: "SET CONSTRAINTS", kind: KindTransaction, reason: "SET CONSTRAINTS changes when the transaction checks constraints"}, true

	// Writes.
	case *pg_query.NotifyStmt:
		return stmtInfo{tag: "NOTIFY", kind: KindWrite, reason: "NOTIFY sends a notification to other sessions"}, true
	case *pg_query.LockStmt:
		return stmtInfo{tag: "LOCK TABLE", kind: KindWrite, reason: "LOCK takes table locks"}, true
	case *pg_query.TruncateStmt:
		return stmtInfo{tag: "TRUNCATE TABLE", kind: KindWrite, reason: "TRUNCATE removes every row"}, true
	case *pg_query.DoStmt:
		return stmtInfo{tag: "DO", kind: KindWrite, reason: "DO runs an anonymous procedural code block"}, true
	case *pg_query.CallStmt:
		name := "a procedure"
		if parts, ok := stringList(x.GetFunccall().GetFuncname()); ok && len(parts) > 0 {
			name = "procedure " + displayName(parts)
		}
		return stmtInfo{tag: "CALL", kind: KindWrite, reason: "CALL runs " + name, skip: callSkip}, true

	// Maintenance and server operations.
	case *pg_query.VacuumStmt:
		if x.GetIsVacuumcmd() {
			return stmtInfo{tag: "VACUUM", kind: KindUtility, reason: "VACUUM rewrites table storage and statistics"}, true
		}
		return stmtInfo{tag: "ANALYZE", kind: KindUtility, reason: "ANALYZE writes planner statistics"}, true
	case *pg_query.ClusterStmt:
		return stmtInfo{tag: "CLUSTER", kind: KindUtility, reason: "CLUSTER rewrites a table and locks it exclusively"}, true
	case *pg_query.ReindexStmt:
		return stmtInfo{tag: "REINDEX", kind: KindUtility, reason: "REINDEX rebuilds indexes and locks them"}, true
	case *pg_query.RefreshMatViewStmt:
		return stmtInfo{tag: "REFRESH MATERIALIZED VIEW", kind: KindUtility, reason: "REFRESH MATERIALIZED VIEW rewrites the view's contents"}, true
	case *pg_query.CheckPointStmt:
		return stmtInfo{tag: "CHECKPOINT", kind: KindUtility, reason: "CHECKPOINT forces a write of all dirty buffers"}, true
	case *pg_query.DiscardStmt:
		return stmtInfo{tag: "DISCARD", kind: KindUtility, reason: "DISCARD resets session state"}, true
	case *pg_query.LoadStmt:
		return stmtInfo{tag: "LOAD", kind: KindUtility, reason: "LOAD loads a shared library into the server process"}, true
	case *pg_query.AlterSystemStmt:
		return stmtInfo{refuse: "ALTER SYSTEM rewrites the server's configuration file; it is never classified"}, true

	// Roles, privileges, ownership, row security, user mappings.
	case *pg_query.GrantStmt:
		return stmtInfo{tag: grantTag(x.GetIsGrant()), kind: KindDCL}, true
	case *pg_query.GrantRoleStmt:
		return stmtInfo{tag: grantTag(x.GetIsGrant()), kind: KindDCL}, true
	case *pg_query.AlterDefaultPrivilegesStmt:
		return stmtInfo{tag: "ALTER DEFAULT PRIVILEGES", kind: KindDCL}, true
	case *pg_query.CreateRoleStmt:
		return stmtInfo{tag: "CREATE " + roleWord(x.GetStmtType()), kind: KindDCL}, true
	case *pg_query.AlterRoleStmt:
		return stmtInfo{tag: "ALTER ROLE", kind: KindDCL}, true
	case *pg_query.AlterRoleSetStmt:
		return stmtInfo{tag: "ALTER ROLE", kind: KindDCL, reason: "ALTER ROLE ... SET changes a role's settings for future sessions"}, true
	case *pg_query.DropRoleStmt:
		return stmtInfo{tag: "DROP ROLE", kind: KindDCL}, true
	case *pg_query.DropOwnedStmt:
		return stmtInfo{tag: "DROP OWNED", kind: KindDCL}, true
	case *pg_query.ReassignOwnedStmt:
		return stmtInfo{tag: "REASSIGN OWNED", kind: KindDCL}, true
	case *pg_query.CreatePolicyStmt:
		return stmtInfo{tag: "CREATE POLICY", kind: KindDCL}, true
	case *pg_query.AlterPolicyStmt:
		return stmtInfo{tag: "ALTER POLICY", kind: KindDCL}, true
	case *pg_query.AlterOwnerStmt:
		return stmtInfo{tag: "ALTER " + objectWord(x.GetObjectType()), kind: KindDCL, reason: "ALTER ... OWNER TO changes an object's owner"}, true
	case *pg_query.CreateUserMappingStmt:
		return stmtInfo{tag: "CREATE USER MAPPING", kind: KindDCL}, true
	case *pg_query.AlterUserMappingStmt:
		return stmtInfo{tag: "ALTER USER MAPPING", kind: KindDCL}, true
	case *pg_query.DropUserMappingStmt:
		return stmtInfo{tag: "DROP USER MAPPING", kind: KindDCL}, true

	// Schema changes.
	case *pg_query.CreateStmt:
		info := stmtInfo{tag: "CREATE TABLE", kind: KindDDL}
		if x.GetRelation().GetRelpersistence() == "t" {
			info.reason = "CREATE TEMPORARY TABLE creates a table"
		}
		return info, true
	case *pg_query.CreateTableAsStmt:
		switch {
		case x.GetObjtype() == pg_query.ObjectType_OBJECT_MATVIEW:
			return stmtInfo{tag: "CREATE MATERIALIZED VIEW", kind: KindDDL}, true
		case x.GetIsSelectInto():
			return stmtInfo{tag: "SELECT INTO", kind: KindDDL, reason: "SELECT INTO creates a table"}, true
		}
		return stmtInfo{tag: "CREATE TABLE AS", kind: KindDDL, reason: "CREATE TABLE AS creates a table"}, true
	case *pg_query.CreateExtensionStmt:
		return stmtInfo{tag: "CREATE EXTENSION", kind: KindDDL, reason: "CREATE EXTENSION installs an extension and runs its script"}, true
	case *pg_query.DropStmt:
		return dropInfo(x), true
	case *pg_query.CommentStmt:
		return stmtInfo{tag: "COMMENT", kind: KindDDL, written: objectRelations(x.GetObjtype(), x.GetObject())}, true
	case *pg_query.SecLabelStmt:
		return stmtInfo{tag: "SECURITY LABEL", kind: KindDDL, written: objectRelations(x.GetObjtype(), x.GetObject())}, true
	case *pg_query.AlterTableStmt:
		return stmtInfo{tag: "ALTER " + objectWord(x.GetObjtype()), kind: KindDDL}, true
	case *pg_query.RenameStmt:
		info := stmtInfo{tag: "ALTER " + objectWord(x.GetRenameType()), kind: KindDDL}
		switch x.GetRenameType() {
		case pg_query.ObjectType_OBJECT_ROLE, pg_query.ObjectType_OBJECT_POLICY:
			info.kind = KindDCL
		}
		return info, true
	case *pg_query.AlterObjectSchemaStmt:
		return stmtInfo{tag: "ALTER " + objectWord(x.GetObjectType()), kind: KindDDL}, true
	case *pg_query.AlterObjectDependsStmt:
		return stmtInfo{tag: "ALTER " + objectWord(x.GetObjectType()), kind: KindDDL}, true
	case *pg_query.AlterFunctionStmt:
		return stmtInfo{tag: "ALTER " + objectWord(x.GetObjtype()), kind: KindDDL}, true
	case *pg_query.CreateFunctionStmt:
		if x.GetIsProcedure() {
			return stmtInfo{tag: "CREATE PROCEDURE", kind: KindDDL}, true
		}
		return stmtInfo{tag: "CREATE FUNCTION", kind: KindDDL}, true
	case *pg_query.DefineStmt:
		return stmtInfo{tag: "CREATE " + objectWord(x.GetKind()), kind: KindDDL}, true
	case *pg_query.AlterDatabaseSetStmt:
		return stmtInfo{tag: "ALTER DATABASE", kind: KindDDL, reason: "ALTER DATABASE ... SET changes settings for future sessions"}, true
	case *pg_query.CreateTrigStmt:
		if x.GetIsconstraint() {
			return stmtInfo{tag: "CREATE CONSTRAINT TRIGGER", kind: KindDDL}, true
		}
		return stmtInfo{tag: "CREATE TRIGGER", kind: KindDDL}, true
	case *pg_query.CreateSchemaStmt, *pg_query.ViewStmt, *pg_query.IndexStmt,
		*pg_query.CreateSeqStmt, *pg_query.AlterSeqStmt, *pg_query.CreateDomainStmt,
		*pg_query.AlterDomainStmt, *pg_query.CompositeTypeStmt, *pg_query.CreateEnumStmt,
		*pg_query.CreateRangeStmt, *pg_query.AlterEnumStmt, *pg_query.AlterTypeStmt,
		*pg_query.AlterCollationStmt, *pg_query.RuleStmt, *pg_query.CreateStatsStmt,
		*pg_query.AlterStatsStmt, *pg_query.CreateTableSpaceStmt, *pg_query.DropTableSpaceStmt,
		*pg_query.AlterTableSpaceOptionsStmt, *pg_query.AlterTableMoveAllStmt,
		*pg_query.AlterExtensionStmt, *pg_query.AlterExtensionContentsStmt,
		*pg_query.CreateFdwStmt, *pg_query.AlterFdwStmt, *pg_query.CreateForeignServerStmt,
		*pg_query.AlterForeignServerStmt, *pg_query.CreateForeignTableStmt,
		*pg_query.ImportForeignSchemaStmt, *pg_query.CreateAmStmt, *pg_query.CreateEventTrigStmt,
		*pg_query.AlterEventTrigStmt, *pg_query.CreatePLangStmt, *pg_query.CreateOpClassStmt,
		*pg_query.CreateOpFamilyStmt, *pg_query.AlterOpFamilyStmt, *pg_query.AlterOperatorStmt,
		*pg_query.CreatedbStmt, *pg_query.AlterDatabaseStmt, *pg_query.AlterDatabaseRefreshCollStmt,
		*pg_query.DropdbStmt, *pg_query.CreateConversionStmt, *pg_query.CreateCastStmt,
		*pg_query.CreateTransformStmt, *pg_query.AlterTSDictionaryStmt,
		*pg_query.AlterTSConfigurationStmt, *pg_query.CreatePublicationStmt,
		*pg_query.AlterPublicationStmt, *pg_query.CreateSubscriptionStmt,
		*pg_query.AlterSubscriptionStmt, *pg_query.DropSubscriptionStmt:
		return stmtInfo{tag: ddlTags[string(x.(proto.Message).ProtoReflect().Descriptor().Name())], kind: KindDDL}, true
	}
	return stmtInfo{}, false
}

// cursorOptHold is PostgreSQL's CURSOR_OPT_HOLD (DECLARE ... WITH HOLD).
const cursorOptHold = 0x0020

var ddlTags = map[string]string{
	"CreateSchemaStmt":             "CREATE SCHEMA",
	"ViewStmt":                     "CREATE VIEW",
	"IndexStmt":                    "CREATE INDEX",
	"CreateSeqStmt":                "CREATE SEQUENCE",
	"AlterSeqStmt":                 "ALTER SEQUENCE",
	"CreateDomainStmt":             "CREATE DOMAIN",
	"AlterDomainStmt":              "ALTER DOMAIN",
	"CompositeTypeStmt":            "CREATE TYPE",
	"CreateEnumStmt":               "CREATE TYPE",
	"CreateRangeStmt":              "CREATE TYPE",
	"AlterEnumStmt":                "ALTER TYPE",
	"AlterTypeStmt":                "ALTER TYPE",
	"AlterCollationStmt":           "ALTER COLLATION",
	"RuleStmt":                     "CREATE RULE",
	"CreateStatsStmt":              "CREATE STATISTICS",
	"AlterStatsStmt":               "ALTER STATISTICS",
	"CreateTableSpaceStmt":         "CREATE TABLESPACE",
	"DropTableSpaceStmt":           "DROP TABLESPACE",
	"AlterTableSpaceOptionsStmt":   "ALTER TABLESPACE",
	"AlterTableMoveAllStmt":        "ALTER TABLE",
	"AlterExtensionStmt":           "ALTER EXTENSION",
	"AlterExtensionContentsStmt":   "ALTER EXTENSION",
	"CreateFdwStmt":                "CREATE FOREIGN DATA WRAPPER",
	"AlterFdwStmt":                 "ALTER FOREIGN DATA WRAPPER",
	"CreateForeignServerStmt":      "CREATE SERVER",
	"AlterForeignServerStmt":       "ALTER SERVER",
	"CreateForeignTableStmt":       "CREATE FOREIGN TABLE",
	"ImportForeignSchemaStmt":      "IMPORT FOREIGN SCHEMA",
	"CreateAmStmt":                 "CREATE ACCESS METHOD",
	"CreateEventTrigStmt":          "CREATE EVENT TRIGGER",
	"AlterEventTrigStmt":           "ALTER EVENT TRIGGER",
	"CreatePLangStmt":              "CREATE LANGUAGE",
	"CreateOpClassStmt":            "CREATE OPERATOR CLASS",
	"CreateOpFamilyStmt":           "CREATE OPERATOR FAMILY",
	"AlterOpFamilyStmt":            "ALTER OPERATOR FAMILY",
	"AlterOperatorStmt":            "ALTER OPERATOR",
	"CreatedbStmt":                 "CREATE DATABASE",
	"AlterDatabaseStmt":            "ALTER DATABASE",
	"AlterDatabaseRefreshCollStmt": "ALTER DATABASE",
	"DropdbStmt":                   "DROP DATABASE",
	"CreateConversionStmt":         "CREATE CONVERSION",
	"CreateCastStmt":               "CREATE CAST",
	"CreateTransformStmt":          "CREATE TRANSFORM",
	"AlterTSDictionaryStmt":        "ALTER TEXT SEARCH DICTIONARY",
	"AlterTSConfigurationStmt":     "ALTER TEXT SEARCH CONFIGURATION",
	"CreatePublicationStmt":        "CREATE PUBLICATION",
	"AlterPublicationStmt":         "ALTER PUBLICATION",
	"CreateSubscriptionStmt":       "CREATE SUBSCRIPTION",
	"AlterSubscriptionStmt":        "ALTER SUBSCRIPTION",
	"DropSubscriptionStmt":         "DROP SUBSCRIPTION",
}

func grantTag(isGrant bool) string {
	if isGrant {
		return "GRANT"
	}
	return "REVOKE"
}

func roleWord(t pg_query.RoleStmtType) string {
	switch t {
	case pg_query.RoleStmtType_ROLESTMT_USER:
		return "USER"
	case pg_query.RoleStmtType_ROLESTMT_GROUP:
		return "GROUP"
	}
	return "ROLE"
}

// objectWord spells an ObjectType the way SQL does ("MATERIALIZED VIEW").
func objectWord(t pg_query.ObjectType) string {
	switch t {
	case pg_query.ObjectType_OBJECT_MATVIEW:
		return "MATERIALIZED VIEW"
	case pg_query.ObjectType_OBJECT_FDW:
		return "FOREIGN DATA WRAPPER"
	case pg_query.ObjectType_OBJECT_FOREIGN_SERVER:
		return "SERVER"
	case pg_query.ObjectType_OBJECT_TSCONFIGURATION:
		return "TEXT SEARCH CONFIGURATION"
	case pg_query.ObjectType_OBJECT_TSDICTIONARY:
		return "TEXT SEARCH DICTIONARY"
	case pg_query.ObjectType_OBJECT_TSPARSER:
		return "TEXT SEARCH PARSER"
	case pg_query.ObjectType_OBJECT_TSTEMPLATE:
		return "TEXT SEARCH TEMPLATE"
	case pg_query.ObjectType_OBJECT_LARGEOBJECT:
		return "LARGE OBJECT"
	case pg_query.ObjectType_OBJECT_OPCLASS:
		return "OPERATOR CLASS"
	case pg_query.ObjectType_OBJECT_OPFAMILY:
		return "OPERATOR FAMILY"
	case pg_query.ObjectType_OBJECT_STATISTIC_EXT:
		return "STATISTICS"
	case pg_query.ObjectType_OBJECT_TABCONSTRAINT, pg_query.ObjectType_OBJECT_COLUMN,
		pg_query.ObjectType_OBJECT_ATTRIBUTE:
		return "TABLE"
	case pg_query.ObjectType_OBJECT_DOMCONSTRAINT:
		return "DOMAIN"
	case pg_query.ObjectType_OBJECT_TYPE_UNDEFINED:
		return "OBJECT"
	}
	s := strings.TrimPrefix(t.String(), "OBJECT_")
	return strings.ReplaceAll(s, "_", " ")
}

// dropInfo describes DROP: a schema change, or a privilege change when it
// drops a row-security policy; dropped relations are written.
func dropInfo(x *pg_query.DropStmt) stmtInfo {
	t := x.GetRemoveType()
	info := stmtInfo{tag: "DROP " + objectWord(t), kind: KindDDL}
	if t == pg_query.ObjectType_OBJECT_POLICY {
		info.kind = KindDCL
	}
	for _, obj := range x.GetObjects() {
		info.written = append(info.written, objectRelations(t, obj)...)
	}
	return info
}

// objectRelations returns the relation an object name designates, for the
// object types that are relations (or a column of one); nil otherwise.
func objectRelations(t pg_query.ObjectType, obj *pg_query.Node) []string {
	list := obj.GetList()
	if list == nil {
		return nil
	}
	parts, ok := stringList(list.GetItems())
	if !ok || len(parts) == 0 {
		return nil
	}
	switch t {
	case pg_query.ObjectType_OBJECT_TABLE, pg_query.ObjectType_OBJECT_VIEW,
		pg_query.ObjectType_OBJECT_MATVIEW, pg_query.ObjectType_OBJECT_FOREIGN_TABLE,
		pg_query.ObjectType_OBJECT_SEQUENCE, pg_query.ObjectType_OBJECT_INDEX:
		return []string{joinName(parts)}
	case pg_query.ObjectType_OBJECT_COLUMN:
		if len(parts) >= 2 {
			return []string{joinName(parts[:len(parts)-1])}
		}
	}
	return nil
}

// setStmt handles SET and RESET, including SET TRANSACTION and SET SESSION
// CHARACTERISTICS. Only setting names reach the reasons, never values.
func (w *walker) setStmt(x *pg_query.VariableSetStmt, m proto.Message) {
	w.takeCTE()
	name := strings.ToLower(x.GetName())
	tag := "SET"
	if x.GetKind() == pg_query.VariableSetKind_VAR_RESET || x.GetKind() == pg_query.VariableSetKind_VAR_RESET_ALL {
		tag = "RESET"
	}
	switch name {
	case "transaction", "transaction snapshot":
		w.enter("SET TRANSACTION")
		w.add(KindTransaction, "SET TRANSACTION changes the current transaction's characteristics")
	case "session characteristics":
		w.enter("SET")
		w.add(KindSession, "SET SESSION CHARACTERISTICS changes the default for new transactions")
	default:
		w.enter(tag)
		w.add(KindSession, settingReason(tag, name, x.GetIsLocal()))
	}
	defer w.leave()
	if readWriteRequested(x.GetArgs()) {
		w.add(KindTransaction, "READ WRITE makes the transaction writable")
	}
	w.children(m, 0)
}

// settingReason explains a SET or RESET, singling out the settings that
// undo the gateway's protections.
func settingReason(tag, name string, local bool) string {
	if name == "" {
		return "RESET ALL resets every session setting"
	}
	shown := name
	if !isSettingName(name) {
		shown = "a setting"
	}
	switch name {
	case "default_transaction_read_only", "transaction_read_only":
		return tag + " " + name + " can turn off read-only mode"
	case "role":
		return tag + " ROLE changes the current role"
	case "session_authorization":
		return tag + " SESSION AUTHORIZATION changes the session user"
	case "search_path":
		return tag + " search_path changes how unqualified names resolve"
	case "session_replication_role":
		return tag + " session_replication_role can disable triggers and foreign-key checks"
	case "standard_conforming_strings", "backslash_quote", "client_encoding":
		return tag + " " + name + " changes how the server reads SQL text"
	}
	if local {
		return tag + " LOCAL " + shown + " changes a setting for the transaction"
	}
	return tag + " " + shown + " changes a session setting"
}

func isSettingName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// readWriteRequested reports whether transaction options ask for READ
// WRITE (transaction_read_only = false).
func readWriteRequested(opts []*pg_query.Node) bool {
	for _, o := range opts {
		d := o.GetDefElem()
		if d != nil && d.GetDefname() == "transaction_read_only" && defIsFalse(d.GetArg()) {
			return true
		}
	}
	return false
}

// transaction handles BEGIN, COMMIT, ROLLBACK, SAVEPOINT and two-phase
// commit statements.
func (w *walker) transaction(x *pg_query.TransactionStmt, m proto.Message) {
	w.takeCTE()
	var tag, reason string
	switch x.GetKind() {
	case pg_query.TransactionStmtKind_TRANS_STMT_BEGIN:
		tag, reason = "BEGIN", "BEGIN starts a transaction block"
	case pg_query.TransactionStmtKind_TRANS_STMT_START:
		tag, reason = "START TRANSACTION", "START TRANSACTION starts a transaction block"
	case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT:
		tag, reason = "COMMIT", "COMMIT ends the current transaction"
	case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK:
		tag, reason = "ROLLBACK", "ROLLBACK ends the current transaction"
	case pg_query.TransactionStmtKind_TRANS_STMT_SAVEPOINT:
		tag, reason = "SAVEPOINT", "SAVEPOINT sets a savepoint"
	case pg_query.TransactionStmtKind_TRANS_STMT_RELEASE:
		tag, reason = "RELEASE", "RELEASE releases a savepoint"
	case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:
		tag, reason = "ROLLBACK", "ROLLBACK TO SAVEPOINT undoes part of the transaction"
	case pg_query.TransactionStmtKind_TRANS_STMT_PREPARE:
		tag, reason = "PREPARE TRANSACTION", "PREPARE TRANSACTION detaches the transaction for two-phase commit"
	case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT_PREPARED:
		tag, reason = "COMMIT PREPARED", "COMMIT PREPARED commits a prepared transaction"
	case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_PREPARED:
		tag, reason = "ROLLBACK PREPARED", "ROLLBACK PREPARED aborts a prepared transaction"
	default:
		w.fail(m, "unknown transaction statement kind")
		return
	}
	w.enter(tag)
	defer w.leave()
	w.add(KindTransaction, reason)
	if x.GetChain() {
		w.add(KindTransaction, tag+" AND CHAIN starts a new transaction")
	}
	if readWriteRequested(x.GetOptions()) {
		w.add(KindTransaction, "READ WRITE makes the transaction writable")
	}
	w.children(m, 0)
}
