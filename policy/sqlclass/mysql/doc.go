// Package mysql classifies MySQL and MariaDB SQL text for the policy
// engine. It is the twin of the PostgreSQL classifier in package sqlclass
// and reports with its types (sqlclass.Facts, sqlclass.Statement,
// sqlclass.Kind, *sqlclass.Error unwrapping to sqlclass.ErrUnparseable or
// sqlclass.ErrUnsupported), so the policy engine works unchanged: for
// every statement, what it does, which tables it reads and writes, which
// functions it calls, and in words why it is not a plain read.
//
// It uses vitess's MySQL parser (vitess.io/vitess/go/vt/sqlparser), never
// regular expressions. The parser's tokenizer splits the text into
// statements at top-level semicolons and reads executable comments (see
// below); every statement is parsed and its whole tree walked: statements,
// WITH clauses, locking and INTO clauses have handlers, and every other
// node is reached through sqlparser.Walk and must be on an explicit
// allow-list of expression and clause node types, or the statement fails
// with ErrUnsupported naming the type.
//
// # What it must never do
//
// It must never report ReadOnly for SQL it does not fully understand.
// Unparseable text, empty text, text with a NUL byte or invalid UTF-8,
// unknown node types, statements the grammar does not cover, and
// constructs that servers could read differently from the parser are
// errors; callers deny on any error. Functions that are not safe built-ins,
// and that the FunctionResolver does not vouch for, make their statement a
// write. The package never connects to a database, never executes SQL and
// keeps no mutable global state.
//
// # Executable comments
//
// MySQL and MariaDB run the text of /*! ... */ comments, of /*!NNNNN ...
// */ comments when the server's version is at least NNNNN, and MariaDB
// runs /*M! ... */ and /*M!NNNNNN ... */. vitess alone reads them for one
// fixed version, compares versions as strings (wrong for MariaDB's
// six-digit ones) and ignores /*M!, so the classifier does not rely on
// it: it finds these comments with the tokenizer and classifies the text
// as each server would read it, with the comment's markers, or the whole
// comment, turned into spaces. With Options.ServerVersion that is one
// reading. Without it, it is every reading some MySQL or MariaDB version
// gives (at each version threshold the comments name); the readings must
// hold the same statements with the same tags, and their facts are
// united, so a write in any reading is a write. Refused (ErrUnsupported):
// a version number that is not five digits (six after /*M!) followed by
// a space, a comment nested in an executable comment, and a string,
// quoted identifier or comment that crosses an executable comment's end
// (servers that run and servers that skip the comment would then read
// different SQL).
//
// # Decisions the policy engine must know
//
//   - Kinds and their order are the PostgreSQL classifier's (read,
//     transaction, session, write, utility, ddl, dcl); a statement's Kind
//     is the most severe of its Kinds. Policies should test Facts.Kinds
//     or ReadOnly.
//   - Writes hidden in reads: SELECT ... FOR UPDATE, FOR SHARE and LOCK IN
//     SHARE MODE are writes, and every table the query block reads is
//     reported written (locked). SELECT ... INTO OUTFILE, INTO DUMPFILE
//     (and Aurora's INTO OUTFILE S3) are utility and write: they write a
//     file on the server. SELECT ... INTO @var and @var := expr are
//     session (they set user variables). Data-modifying statements
//     (INSERT, REPLACE, UPDATE, DELETE) are writes wherever they appear.
//   - UPDATE writes the tables whose columns SET assigns (through their
//     aliases); an unqualified column in a multi-table UPDATE could belong
//     to any table, so all are written then. DELETE writes its targets.
//     INSERT ... ON DUPLICATE KEY UPDATE and REPLACE also read their
//     target. Write targets are never taken for WITH names.
//   - LOAD DATA is a write and a utility (it reads a file on the server,
//     or with LOCAL on the client, that is the gateway's host): its target
//     table is read from its tokens. CALL and EXECUTE are writes (the code
//     they run is not visible; CALL lists the procedure in Functions).
//     PREPARE ... FROM 'text' is a session statement that also shows the
//     kind and tables of the statement it prepares; PREPARE ... FROM @var
//     is also a write. DEALLOCATE PREPARE is session. DO is a write; its
//     expressions are judged like a query's (DO SLEEP() is also utility).
//   - LOCK TABLES and UNLOCK TABLES are writes (the locked tables are
//     written). LOCK TABLE (singular) and HANDLER are not covered by the
//     grammar and are refused.
//   - SET of a session variable, USE, SET NAMES/CHARACTER SET are session;
//     reasons name the settings that undo a protection (transaction_read_
//     only/tx_read_only: READ WRITE, autocommit, sql_mode,
//     character sets, foreign_key_checks, ...). SET TRANSACTION (next
//     transaction only) is a transaction statement, and "READ WRITE" is
//     named in its reasons; SET SESSION TRANSACTION READ WRITE is session.
//     SET GLOBAL (and @@global.) is dcl and utility: it changes
//     server-wide configuration for every session, including settings
//     that undo protections or write server files (read_only,
//     local_infile, general_log_file). SET PERSIST is not covered by the
//     grammar and is refused.
//   - START TRANSACTION/BEGIN, COMMIT, ROLLBACK, SAVEPOINT, ROLLBACK TO,
//     RELEASE SAVEPOINT are transaction statements (READ WRITE is named).
//     XA is refused.
//   - CREATE, ALTER, DROP, RENAME (tables, views, databases, procedures)
//     are ddl, with the objects written (CREATE TEMPORARY TABLE too: it is
//     allowed inside a READ ONLY transaction); TRUNCATE is write and ddl.
//     A DEFINER clause or SQL SECURITY DEFINER makes the statement dcl.
//     KILL, FLUSH, ANALYZE/OPTIMIZE/REPAIR TABLE (tables written) and
//     PURGE BINARY LOGS are utilities.
//   - EXPLAIN (any FORMAT) and DESCRIBE are reads that report the tables
//     they name as read; but the functions of the explained statement
//     count, because the optimizer may evaluate constant expressions,
//     stored functions included, while planning. EXPLAIN ANALYZE runs the
//     statement and has its kind. SHOW is a read (SHOW ... WHERE is
//     walked), except SHOW BINLOG/RELAYLOG EVENTS: a utility, since it
//     reads logged row changes of every table outside table policy.
//   - Functions: SLEEP, BENCHMARK and the replication waits
//     (MASTER_POS_WAIT, SOURCE_POS_WAIT, WAIT_FOR_EXECUTED_GTID_SET, ...)
//     are utilities; LOAD_FILE is a utility (reads server files);
//     GET_LOCK, RELEASE_LOCK, RELEASE_ALL_LOCKS are writes (IS_FREE_LOCK and
//     IS_USED_LOCK only inspect and are reads); LAST_INSERT_ID(expr) is
//     session (without an argument, a read); NEXTVAL, SETVAL and NEXT
//     VALUE FOR (MariaDB sequences) are writes; SYS_EXEC, SYS_EVAL and
//     similar loadable functions are writes. These are matched by name in
//     any database.
//   - Other functions are reads only if unqualified and on the safe list
//     of native built-ins (UUID, RAND, NOW and the like included): MySQL
//     resolves an unqualified call to a native function first. Anything
//     else (stored functions, loadable functions, db.fn) goes to the
//     FunctionResolver; see Options.Functions for what its byte means.
//     Unresolved, it is a write.
//   - Names: tables are database.table when written qualified, otherwise
//     as written; the case is kept (table names are case-sensitive on
//     Linux) and a name that is not a plain lower-case identifier is
//     double-quoted (`Users` is "Users", `my.table` is "my.table"), the
//     form the policy engine splits for every dialect. Functions are
//     lower-case. The policy engine must resolve unqualified tables
//     against the connection's current database (not "public"), and on a
//     server with lower_case_table_names set it must compare names
//     without regard to case. WITH names are matched exactly; the
//     parser's stand-in DUAL is not a table.
//   - Statements the grammar does not parse are ErrUnparseable, or
//     ErrUnsupported naming the statement when their leading keywords are
//     those of a MySQL statement (GRANT, REVOKE, CREATE/ALTER/DROP/RENAME
//     USER, SET PASSWORD, SET ROLE, HANDLER, XA, INSTALL PLUGIN, SHUTDOWN,
//     CREATE FUNCTION/TRIGGER/EVENT/SEQUENCE, LOAD XML, CHECK TABLE, ...).
//     So, unlike PostgreSQL's, this classifier never reports dcl for
//     GRANT: it refuses it. Vitess-only statements are refused as well.
//   - A string literal containing a backslash before a quote ('a\'b') is
//     refused: under sql_mode NO_BACKSLASH_ESCAPES (or ANSI_QUOTES for
//     "...") the server would end the literal there. Double the quote instead.
//   - Parser error messages do not repeat the parser's "near '...'" text,
//     which can be a literal such as a password.
//
// # Cost
//
// The text is tokenized once to find executable comments, once per
// reading to split it, and each statement is parsed once per reading.
// Text longer than Options.MaxBytes (64 KiB by default) is refused. There
// is no cache: vitess parses a typical query in microseconds.
//
// # What it cannot see
//
// The classifier judges the text, not the catalog: triggers fired by a
// write, views and generated columns calling stored functions, and
// function characteristics declared falsely (MySQL does not enforce NO
// SQL or READS SQL DATA) are invisible to it. It assumes the server reads
// the text as the parser does, so the MySQL connector must: use a utf8mb4
// connection character set (in GBK, Big5 or SJIS a multi-byte character
// can swallow a backslash) and never let SET NAMES through; pin sql_mode
// (ANSI_QUOTES and NO_BACKSLASH_ESCAPES change the lexing; strings that
// would be read differently are refused anyway); keep multi-statement
// mode off unless a rule allows several statements, and send them one by
// one; keep LOAD DATA LOCAL disabled in the driver; and run reads in a
// START TRANSACTION READ ONLY with a least-privilege account. Statements
// that implicitly commit (all DDL and DCL, LOCK/UNLOCK TABLES, ANALYZE,
// OPTIMIZE, FLUSH, SET autocommit = 1, ...) end that transaction, so the
// connector must not rely on a transaction surviving any statement that
// is not a read.
package mysql
