// Package sqlite classifies SQLite statements for the policy engine with
// SQLite's own parser: the statement is compiled (never run) by the same
// SQLite library the connector runs it with, on a read-only connection of
// the classifier's own to the target database, and classified from what
// SQLite's authorizer is asked while it compiles (every table and column
// read, every row inserted, updated or deleted, every function, pragma,
// schema change and transaction statement, inside views and triggers
// too), from sqlite3_stmt_readonly and sqlite3_stmt_isexplain. It reports
// with package sqlclass's types (Statement, Kind, Facts), so policy reads
// SQLite statements as it reads PostgreSQL's.
//
// # What it must never do
//
// It must never report a read for a statement SQLite does not compile, or
// compiles without saying what it does, and it must never run anything:
// PRAGMA (some settings take effect while they compile), ATTACH and DETACH
// are compiled to nothing once recorded. A statement SQLite rejects (syntax
// error, unknown table, column or function) is an *Error matching
// policy.ErrSyntax; a construct Warden does not run on SQLite is an
// sqlclass.Error unwrapping to sqlclass.ErrUnsupported.
//
// # Decisions the policy engine must know
//
//   - Kinds are sqlclass's (read, transaction, session, write, utility,
//     ddl, dcl). Tables read are every table SQLite reads a column of (or
//     the whole of, as count(*) does), through views and triggers, and the
//     views themselves; the target of UPDATE and DELETE is read as well as
//     written; triggers' writes are writes. Names are lower-case (SQLite
//     compares them without regard to case), quoted where needed,
//     qualified only outside main (temp.t); sqlite_master is sqlite_schema.
//   - EXPLAIN and EXPLAIN QUERY PLAN are reads whatever they explain (the
//     tables named count as read). A statement SQLite says changes the
//     database although nothing it was asked says so (BEGIN IMMEDIATE) is a
//     write; VACUUM is a write and a utility; REINDEX and ANALYZE are
//     utilities; reading sqlite_dbpage (the raw pages of the file) is a
//     utility; load_extension is a write and a utility.
//   - PRAGMA: the inspecting ones (table_info, table_xinfo, index_list,
//     index_info, index_xinfo, foreign_key_list, foreign_key_check,
//     table_list, database_list, collation_list, function_list,
//     module_list, pragma_list, compile_options, data_version,
//     freelist_count, page_count, integrity_check, quick_check) are reads,
//     and read the table they name (index_info: the indexed table;
//     table_list: sqlite_schema). A setting read without a value
//     (PRAGMA user_version) is a read. Every PRAGMA that sets a value, acts
//     (wal_checkpoint, optimize, incremental_vacuum, shrink_memory), undoes
//     a protection of the connector (query_only, writable_schema), or is
//     unknown, is refused (ErrUnsupported): it would change the database
//     file's header or the connection, which later calls share. Under
//     EXPLAIN too, since a setting takes effect while it compiles.
//   - ATTACH and DETACH are refused: ATTACH opens another file on the
//     Warden host (read-write, whatever the connection's mode).
//   - Functions are every function SQLite resolves (lower-case), the
//     operators -> and ->> included. SQLite has no SQL-level functions of
//     its own making: all are built in, and none writes.
//
// # Without the target
//
// Offline (warden policy explain and test on a machine that does not have
// the database file), NewStubCompiler compiles against tables inferred
// from the statement's own unknown names (stub.go): the statement is still
// read as SQLite reads it, but a name that is a view in the real database
// is a table there, and triggers are not seen.
//
// # What it cannot see
//
// The classifier compiles against the schema as it is when it classifies;
// a schema changed between classification and execution (by another
// writer) is not seen. The connector's own walls (a read-only handle
// opened with mode=ro and query_only, an authorizer refusing ATTACH and
// query_only) do not depend on it.
package sqlite
