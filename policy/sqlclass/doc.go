// Package sqlclass classifies PostgreSQL SQL text for the policy engine:
// for every statement in a string it reports what the statement does
// (a Kind: read, transaction, session, write, utility, ddl, dcl), which
// tables it reads and writes, which functions it calls, and in words why
// it is not a plain read. It is the fact extraction behind decisions such
// as "agents may only read public.*".
//
// It uses PostgreSQL's own parser (libpg_query, through pg_query_go: the
// PostgreSQL 17 grammar), never regular expressions, and walks the whole
// raw parse tree: every node is either handled explicitly (statements,
// relations, function calls, casts, operators) or is on an explicit list
// of harmless expression and clause nodes that are descended into field
// by field through protobuf reflection, so nothing nested (subqueries,
// WITH queries, LATERAL, function arguments, CASE, sublinks, ...) is ever
// skipped. A node type the classifier does not know fails the statement
// with ErrUnsupported naming the type.
//
// # What it must never do
//
// It must never report ReadOnly for SQL it does not fully understand.
// Unparseable text, empty text, text with a NUL byte or invalid UTF-8,
// unknown node types, and deliberately refused statements (ALTER SYSTEM)
// are errors; callers deny on any error. Functions that are not known
// built-ins with no side effects, and that a FunctionResolver does not
// vouch for as immutable or stable, make their statement a write. The
// package never connects to a database, never executes SQL and keeps no
// global mutable state; a Cache, when given, is owned by the caller.
//
// # Decisions the policy engine must know
//
//   - A statement's Kind is the most severe of everything it does (order:
//     read, transaction, session, write, utility, ddl, dcl); Kinds lists
//     them all, and Facts.Kinds is their union. Policies should test
//     Facts.Kinds or ReadOnly, not only a statement's primary Kind.
//   - Writes hidden in reads count: data-modifying WITH queries at any
//     depth, SELECT ... FOR UPDATE/NO KEY UPDATE/SHARE/KEY SHARE (write;
//     the locked tables are written), SELECT INTO and CREATE TABLE AS
//     (ddl), EXPLAIN ANALYZE of a non-read (EXPLAIN without ANALYZE is a
//     read whatever it explains, and reports the tables it names as read).
//   - COPY FROM is a write. COPY TO is a utility, never a read: it
//     streams rows outside the query protocol, where the gateway's
//     masking cannot apply. COPY with a server file or PROGRAM is a
//     utility and a write.
//   - DO, CALL and EXECUTE are writes (the code they run is not visible
//     here). PREPARE is a session statement that also shows the kind of
//     the statement it prepares. DEALLOCATE, LISTEN, UNLISTEN, SET, RESET
//     and set_config() are session statements; NOTIFY and pg_notify() are
//     writes. SET TRANSACTION, BEGIN, COMMIT, ROLLBACK, SAVEPOINT are
//     transaction statements; a request for READ WRITE is named in the
//     reasons. SHOW, FETCH, MOVE, CLOSE and DECLARE CURSOR (of a read)
//     are reads; DECLARE ... WITH HOLD is also a session statement.
//   - LOCK and TRUNCATE are writes. VACUUM, ANALYZE, CLUSTER, REINDEX,
//     REFRESH MATERIALIZED VIEW (all of which write table storage or
//     statistics), CHECKPOINT, DISCARD and LOAD are utilities. GRANT,
//     REVOKE, roles, ALTER ... OWNER, row-security policies and user
//     mappings are dcl; other CREATE/ALTER/DROP/COMMENT/SECURITY LABEL
//     statements are ddl. ALTER SYSTEM is refused (ErrUnsupported).
//   - pg_sleep, pg_sleep_for and pg_sleep_until are utilities, never
//     reads: a read-only caller has no reason to hold a connection idle.
//   - nextval, setval, txid_current, pg_current_xact_id (they assign a
//     transaction id), advisory locks, large-object functions, dblink*,
//     and functions that run SQL given as text (query_to_xml, table_to_xml
//     and friends, ts_stat, crosstab, ...) are writes. File functions,
//     backend signalling, replication-slot and server administration
//     functions are utilities. These are matched by bare name in any
//     schema.
//   - Other functions: safe if unqualified or pg_catalog-qualified and on
//     the built-in safe list (immutable and stable pg_catalog functions,
//     plus harmless volatile ones such as random() and currval()),
//     otherwise safe only if the FunctionResolver says immutable or
//     stable. A function qualified with any other schema is never taken
//     for a built-in.
//   - In queries, a cast to a type that is not built in is a write unless
//     the TypeResolver says it is a base or enum type (a domain CHECK or
//     composite conversion can run user code); an operator that is not a
//     built-in operator name, or is qualified with a schema other than
//     pg_catalog, is a write.
//   - Table names are as written (schema-qualified only when written so):
//     the policy engine must resolve unqualified names against the
//     session's search_path, or require qualification.
//
// # Cost
//
// Almost all the time goes to libpg_query's parse and the decoding of its
// protobuf tree; the walk itself reads the generated Go structs through
// field tables built once from the protobuf schema, and is a small
// fraction. Repeated statements should share a Cache (a hit costs about a
// microsecond). Text longer than Options.MaxBytes (64 KiB by default) is
// refused before parsing, because the parser's cost grows faster than
// linearly on deeply nested expressions.
//
// # What it cannot see
//
// The classifier judges the text, not the catalog. Code the database
// runs implicitly on behalf of a read is invisible to it: views and
// row-security policies calling volatile functions, user-defined
// overloads of built-in function or operator names in a schema on the
// search_path (CVE-2018-1058), domain checks reached through a table's
// row type (json_populate_record), volatility declared falsely. It also
// assumes the server reads the text the way the parser does: the session
// must use standard_conforming_strings = on and client_encoding UTF8
// (SET of either is itself a session statement). FETCH reads from a
// cursor opened earlier; what the cursor runs was judged when the
// statement that opened it was classified. So it is one wall, not
// the only one: the connector must still run reads in a READ ONLY
// transaction, with a least-privilege credential, and must not let the
// role create objects in schemas on its search_path.
package sqlclass
