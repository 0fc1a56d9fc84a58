package sqlite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	lib "modernc.org/sqlite/lib"

	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/policy/sqlclass"
)

// Schema is the schema of a SQLite database's own tables: what an
// unqualified name means.
const Schema = "main"

// Classifier is SQLite's own grammar as a policy.Classifier: every
// statement is compiled by SQLite (never run) and classified from what
// SQLite's authorizer was asked while it compiled.
type Classifier struct {
	compiler *Compiler
	// MaxBytes bounds the statement text; 0 means sqlclass.DefaultMaxBytes.
	MaxBytes int
}

// NewClassifier classifies statements with c.
func NewClassifier(c *Compiler) *Classifier { return &Classifier{compiler: c} }

// Compiler is the compiler the classifier uses.
func (cl *Classifier) Compiler() *Compiler { return cl.compiler }

// Namespace implements policy.Classifier.
func (*Classifier) Namespace() string { return Schema }

// Error is SQLite's refusal to compile a statement (a syntax error, an
// unknown table, column or function): the caller's mistake. It matches
// policy.ErrSyntax and policy.ErrNotUnderstood.
type Error struct {
	Message string
	// Offset is the byte offset SQLite points at, or -1.
	Offset int
}

func (e *Error) Error() string {
	what := "SQLite rejects the statement" // an unknown name, ...
	if strings.HasSuffix(e.Message, "syntax error") || e.Message == "incomplete input" {
		what = "cannot parse SQL"
	}
	if e.Offset >= 0 {
		return fmt.Sprintf("%s at offset %d: %s", what, e.Offset, e.Message)
	}
	return what + ": " + e.Message
}

// Is makes errors.Is match policy.ErrSyntax and policy.ErrNotUnderstood.
func (e *Error) Is(target error) bool {
	return target == policy.ErrSyntax || target == policy.ErrNotUnderstood
}

// Classify implements policy.Classifier.
func (cl *Classifier) Classify(ctx context.Context, req policy.ClassifyRequest) (policy.Facts, error) {
	f, err := cl.ClassifySQL(ctx, req.Statement, req.MaxBytes)
	if err != nil {
		return policy.Facts{}, err
	}
	return f.Policy(Schema), nil
}

// ClassifySQL classifies every statement of text. maxBytes bounds it (0:
// the classifier's MaxBytes, or sqlclass.DefaultMaxBytes).
func (cl *Classifier) ClassifySQL(ctx context.Context, text string, maxBytes int) (sqlclass.Facts, error) {
	limit := maxBytes
	if limit <= 0 {
		limit = cl.MaxBytes
	}
	if limit <= 0 {
		limit = sqlclass.DefaultMaxBytes
	}
	switch {
	case len(text) > limit:
		return sqlclass.Facts{}, sqlclass.NewUnsupportedError("SQL text", -1, fmt.Sprintf("%d bytes is longer than the %d-byte limit", len(text), limit))
	case strings.IndexByte(text, 0) >= 0:
		return sqlclass.Facts{}, &Error{Message: "the text holds a NUL byte", Offset: strings.IndexByte(text, 0)}
	case !utf8.ValidString(text):
		return sqlclass.Facts{}, &Error{Message: "the text is not valid UTF-8", Offset: -1}
	}
	compiled, err := cl.compiler.Compile(ctx, text)
	var ce *CompileError
	if errors.As(err, &ce) {
		return sqlclass.Facts{}, &Error{Message: ce.Message, Offset: ce.Offset}
	}
	if err != nil {
		return sqlclass.Facts{}, fmt.Errorf("sqlite classifier: %w", err)
	}
	if len(compiled) == 0 {
		return sqlclass.Facts{}, &Error{Message: "the text holds no statement", Offset: -1}
	}
	stmts := make([]sqlclass.Statement, len(compiled))
	for i := range compiled {
		st, err := cl.statement(ctx, text, &compiled[i])
		if err != nil {
			return sqlclass.Facts{}, err
		}
		stmts[i] = st
	}
	return sqlclass.Summarise(stmts), nil
}

// statement classifies one compiled statement.
func (cl *Classifier) statement(ctx context.Context, text string, c *Statement) (sqlclass.Statement, error) {
	b := builder{st: sqlclass.Statement{Location: c.Offset, Length: c.Length}}
	explain := c.Explain != 0
	ddl := slices.ContainsFunc(c.Actions, func(a Action) bool { _, ok := ddlWords[a.Code]; return ok || a.Code == lib.SQLITE_ALTER_TABLE })
	for _, a := range c.Actions {
		if ddl && schemaTable(a) {
			continue // the DDL's own bookkeeping in sqlite_schema
		}
		if err := cl.action(ctx, &b, a, c.Offset); err != nil {
			return sqlclass.Statement{}, err
		}
	}
	b.st.Tag = tagOf(text[c.Offset:c.Offset+c.Length], c)
	switch {
	case explain:
		// EXPLAIN compiles the statement and shows its program; it runs
		// nothing, whatever it explains. What it names counts as read.
		b.kinds = 0
		b.st.TablesRead = append(b.st.TablesRead, b.st.TablesWritten...)
		b.st.TablesWritten = nil
		b.st.Reasons = nil
		b.kinds = b.kinds.With(sqlclass.KindRead)
	case b.st.Tag == "VACUUM":
		b.add(sqlclass.KindWrite, "VACUUM rewrites the database file")
		b.add(sqlclass.KindUtility, "")
	case !c.ReadOnly && !b.writes():
		// SQLite says the statement changes the database, though no
		// action said so (BEGIN IMMEDIATE, ...): a write.
		b.add(sqlclass.KindWrite, "SQLite reports that the statement changes the database")
	}
	if b.kinds == 0 {
		// Nothing was asked (SELECT without FROM asks SQLITE_SELECT;
		// a statement that asks nothing is not vouched for).
		return sqlclass.Statement{}, sqlclass.NewUnsupportedError(b.st.Tag, c.Offset, "SQLite compiled it without saying what it does")
	}
	b.st.Kind = b.kinds.Primary()
	b.st.Kinds = b.kinds.List()
	b.st.TablesRead = unique(b.st.TablesRead)
	b.st.TablesWritten = unique(b.st.TablesWritten)
	b.st.Functions = unique(b.st.Functions)
	return b.st, nil
}

type builder struct {
	st    sqlclass.Statement
	kinds sqlclass.KindSet
}

func (b *builder) add(k sqlclass.Kind, reason string) {
	b.kinds = b.kinds.With(k)
	if reason != "" && !slices.Contains(b.st.Reasons, reason) {
		b.st.Reasons = append(b.st.Reasons, reason)
	}
}

// writes reports whether the statement shows a kind that changes
// something (write or more severe).
func (b *builder) writes() bool {
	for _, k := range b.kinds.List() {
		switch k {
		case sqlclass.KindWrite, sqlclass.KindUtility, sqlclass.KindDDL, sqlclass.KindDCL:
			return true
		}
	}
	return false
}

// schemaTable reports an action on the schema table itself.
func schemaTable(a Action) bool {
	switch a.Code {
	case lib.SQLITE_READ, lib.SQLITE_INSERT, lib.SQLITE_UPDATE, lib.SQLITE_DELETE:
		n := strings.ToLower(a.Arg1)
		return n == "sqlite_master" || n == "sqlite_temp_master"
	}
	return false
}

// action classifies one question of SQLite's authorizer.
func (cl *Classifier) action(ctx context.Context, b *builder, a Action, offset int) error {
	switch a.Code {
	case lib.SQLITE_SELECT, lib.SQLITE_RECURSIVE:
		b.add(sqlclass.KindRead, "")
	case lib.SQLITE_READ:
		b.add(sqlclass.KindRead, "")
		b.st.TablesRead = append(b.st.TablesRead, tableName(a.Database, a.Arg1))
		if strings.EqualFold(a.Arg1, "sqlite_dbpage") {
			b.add(sqlclass.KindUtility, "sqlite_dbpage reads the database file's raw pages")
		}
	case lib.SQLITE_INSERT, lib.SQLITE_UPDATE, lib.SQLITE_DELETE:
		name := tableName(a.Database, a.Arg1)
		verb := map[int32]string{lib.SQLITE_INSERT: "INSERT into", lib.SQLITE_UPDATE: "UPDATE of", lib.SQLITE_DELETE: "DELETE from"}[a.Code]
		reason := verb + " " + name
		if a.Inner != "" {
			reason += " (by trigger or view " + a.Inner + ")"
		}
		b.add(sqlclass.KindWrite, reason)
		b.st.TablesWritten = append(b.st.TablesWritten, name)
		if a.Code != lib.SQLITE_INSERT {
			b.st.TablesRead = append(b.st.TablesRead, name)
		}
		if strings.EqualFold(a.Arg1, "sqlite_dbpage") {
			b.add(sqlclass.KindUtility, "sqlite_dbpage writes the database file's raw pages")
		}
	case lib.SQLITE_CREATE_INDEX, lib.SQLITE_CREATE_TEMP_INDEX, lib.SQLITE_DROP_INDEX, lib.SQLITE_DROP_TEMP_INDEX,
		lib.SQLITE_CREATE_TRIGGER, lib.SQLITE_CREATE_TEMP_TRIGGER, lib.SQLITE_DROP_TRIGGER, lib.SQLITE_DROP_TEMP_TRIGGER:
		// Arg1 is the index or trigger, Arg2 its table.
		b.add(sqlclass.KindDDL, ddlWords[a.Code]+" "+a.Arg1)
		b.st.TablesWritten = append(b.st.TablesWritten, tableName(ddlDatabase(a), a.Arg2))
	case lib.SQLITE_CREATE_TABLE, lib.SQLITE_CREATE_TEMP_TABLE, lib.SQLITE_DROP_TABLE, lib.SQLITE_DROP_TEMP_TABLE,
		lib.SQLITE_CREATE_VIEW, lib.SQLITE_CREATE_TEMP_VIEW, lib.SQLITE_DROP_VIEW, lib.SQLITE_DROP_TEMP_VIEW,
		lib.SQLITE_CREATE_VTABLE, lib.SQLITE_DROP_VTABLE:
		b.add(sqlclass.KindDDL, ddlWords[a.Code]+" "+a.Arg1)
		b.st.TablesWritten = append(b.st.TablesWritten, tableName(ddlDatabase(a), a.Arg1))
	case lib.SQLITE_ALTER_TABLE:
		// Arg1 is the database, Arg2 the table.
		b.add(sqlclass.KindDDL, "ALTER TABLE "+a.Arg2)
		b.st.TablesWritten = append(b.st.TablesWritten, tableName(a.Arg1, a.Arg2))
	case lib.SQLITE_TRANSACTION:
		b.add(sqlclass.KindTransaction, "transaction control ("+a.Arg1+")")
	case lib.SQLITE_SAVEPOINT:
		b.add(sqlclass.KindTransaction, "transaction control (SAVEPOINT "+a.Arg1+")")
	case lib.SQLITE_REINDEX:
		b.add(sqlclass.KindUtility, "REINDEX rebuilds indexes")
	case lib.SQLITE_ANALYZE:
		b.add(sqlclass.KindUtility, "ANALYZE writes statistics tables")
		b.st.TablesWritten = append(b.st.TablesWritten, tableName(a.Database, a.Arg1))
	case lib.SQLITE_FUNCTION:
		name := strings.ToLower(a.Arg2)
		b.st.Functions = append(b.st.Functions, name)
		if name == "load_extension" {
			b.add(sqlclass.KindWrite, "function load_extension loads code")
			b.add(sqlclass.KindUtility, "")
		}
	case lib.SQLITE_PRAGMA:
		// Under EXPLAIN too: a pragma's setting takes effect while it
		// compiles.
		return cl.pragma(ctx, b, a, offset)
	case lib.SQLITE_ATTACH, lib.SQLITE_DETACH:
		word := "ATTACH"
		if a.Code == lib.SQLITE_DETACH {
			word = "DETACH"
		}
		return sqlclass.NewUnsupportedError(word, offset,
			"Warden does not run it on SQLite: ATTACH opens another database file on the Warden host (read-write, whatever the connection's mode), and a connection's attached databases would outlive the call")
	default:
		return sqlclass.NewUnsupportedError(fmt.Sprintf("SQLite action %d", a.Code), offset, "the classifier does not know this action")
	}
	return nil
}

// pragma classifies a PRAGMA (Arg1 its name, Arg2 its argument).
func (cl *Classifier) pragma(ctx context.Context, b *builder, a Action, offset int) error {
	name := strings.ToLower(a.Arg1)
	info := pragmas[name]
	shown := "PRAGMA " + name
	switch {
	case info.class == pragmaUnknown:
		return sqlclass.NewUnsupportedError(shown, offset, "Warden does not know this pragma (SQLite ignores unknown pragmas; Warden refuses them)")
	case info.class == pragmaRefused:
		return sqlclass.NewUnsupportedError(shown, offset, "Warden does not run it on SQLite: it acts on the database or the connection (which later calls share), or undoes a protection of the connector")
	case info.class == pragmaSetting && a.Arg2Set:
		return sqlclass.NewUnsupportedError(shown, offset, "Warden does not run a PRAGMA that sets a value on SQLite: it would change the database file's header or the connection, which later calls share; read the setting with PRAGMA "+name+" alone")
	}
	b.add(sqlclass.KindRead, "")
	if info.schema {
		b.st.TablesRead = append(b.st.TablesRead, tableName(a.Database, "sqlite_schema"))
	}
	if !a.Arg2Set || a.Arg2 == "" {
		return nil
	}
	switch info.arg {
	case argTable:
		b.st.TablesRead = append(b.st.TablesRead, tableName(a.Database, a.Arg2))
	case argIndex:
		table, err := cl.compiler.IndexTable(ctx, a.Database, a.Arg2)
		if err != nil {
			return fmt.Errorf("sqlite classifier: %w", err)
		}
		if table == "" {
			table = a.Arg2 // no such index: named as given (the pragma returns nothing)
		}
		b.st.TablesRead = append(b.st.TablesRead, tableName(a.Database, table))
	}
	return nil
}

var ddlWords = map[int32]string{
	lib.SQLITE_CREATE_INDEX: "CREATE INDEX", lib.SQLITE_CREATE_TEMP_INDEX: "CREATE TEMP INDEX",
	lib.SQLITE_DROP_INDEX: "DROP INDEX", lib.SQLITE_DROP_TEMP_INDEX: "DROP TEMP INDEX",
	lib.SQLITE_CREATE_TRIGGER: "CREATE TRIGGER", lib.SQLITE_CREATE_TEMP_TRIGGER: "CREATE TEMP TRIGGER",
	lib.SQLITE_DROP_TRIGGER: "DROP TRIGGER", lib.SQLITE_DROP_TEMP_TRIGGER: "DROP TEMP TRIGGER",
	lib.SQLITE_CREATE_TABLE: "CREATE TABLE", lib.SQLITE_CREATE_TEMP_TABLE: "CREATE TEMP TABLE",
	lib.SQLITE_DROP_TABLE: "DROP TABLE", lib.SQLITE_DROP_TEMP_TABLE: "DROP TEMP TABLE",
	lib.SQLITE_CREATE_VIEW: "CREATE VIEW", lib.SQLITE_CREATE_TEMP_VIEW: "CREATE TEMP VIEW",
	lib.SQLITE_DROP_VIEW: "DROP VIEW", lib.SQLITE_DROP_TEMP_VIEW: "DROP TEMP VIEW",
	lib.SQLITE_CREATE_VTABLE: "CREATE VIRTUAL TABLE", lib.SQLITE_DROP_VTABLE: "DROP VIRTUAL TABLE",
}

// ddlDatabase is the schema a DDL action is in: temp for the TEMP ones.
func ddlDatabase(a Action) string {
	switch a.Code {
	case lib.SQLITE_CREATE_TEMP_INDEX, lib.SQLITE_DROP_TEMP_INDEX, lib.SQLITE_CREATE_TEMP_TRIGGER, lib.SQLITE_DROP_TEMP_TRIGGER,
		lib.SQLITE_CREATE_TEMP_TABLE, lib.SQLITE_DROP_TEMP_TABLE, lib.SQLITE_CREATE_TEMP_VIEW, lib.SQLITE_DROP_TEMP_VIEW:
		return "temp"
	}
	return a.Database
}

// tableName is a table as the classifier reports it: lower-case (SQLite
// compares names without regard to case), quoted where needed, qualified
// with its schema unless that is main. sqlite_master is reported by its
// documented name, sqlite_schema.
func tableName(db, table string) string {
	table = strings.ToLower(table)
	switch table {
	case "sqlite_master":
		table = "sqlite_schema"
	case "sqlite_temp_master":
		table = "sqlite_temp_schema"
	}
	db = strings.ToLower(db)
	if db == "" || db == Schema {
		return sqlclass.QuoteIdent(table)
	}
	return sqlclass.QuoteIdent(db) + "." + sqlclass.QuoteIdent(table)
}

func unique(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	slices.Sort(s)
	return slices.Compact(s)
}

var _ policy.Classifier = (*Classifier)(nil)
