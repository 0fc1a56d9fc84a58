package sqlclass

import (
	"context"
	"fmt"
	"slices"
)

// Kind is what a statement does, coarsely. A statement has one primary Kind
// (the most severe of everything it does) and may show several (Kinds).
type Kind string

// Kinds, from least to most severe. The order decides a statement's
// primary Kind when it does several things: a SELECT that calls nextval()
// is a write; an INSERT that calls pg_terminate_backend() is a utility.
const (
	// KindRead: reads rows or settings and changes nothing.
	KindRead Kind = "read"
	// KindTransaction: transaction control (BEGIN, COMMIT, SAVEPOINT,
	// SET TRANSACTION, ...). COMMIT or ROLLBACK would end a read-only
	// transaction the gateway opened.
	KindTransaction Kind = "transaction"
	// KindSession: changes session state (SET, RESET, PREPARE, LISTEN,
	// set_config(), ...).
	KindSession Kind = "session"
	// KindWrite: changes rows, takes locks, advances sequences, assigns
	// a transaction id, or runs code the classifier cannot see (DO, CALL,
	// EXECUTE, unknown or volatile functions).
	KindWrite Kind = "write"
	// KindUtility: maintenance and server-level operations (VACUUM,
	// CHECKPOINT, COPY TO/FROM a file or program, signalling backends,
	// reading server files, pg_sleep, ...).
	KindUtility Kind = "utility"
	// KindDDL: changes the schema (CREATE, ALTER, DROP, COMMENT, SELECT
	// INTO, CREATE TABLE AS, ...).
	KindDDL Kind = "ddl"
	// KindDCL: changes roles, privileges, ownership or row-level security
	// policies.
	KindDCL Kind = "dcl"
)

// Statement is what the classifier learned about one SQL statement.
type Statement struct {
	// Kind is the most severe kind the statement shows.
	Kind Kind
	// Kinds is every kind the statement shows, least severe first; an
	// INSERT ... SELECT shows [read write].
	Kinds []Kind
	// Tag names the statement the way PostgreSQL's command tags do:
	// "SELECT", "INSERT", "CREATE TABLE", "COPY", "DO", "SET", ...
	Tag string
	// TablesRead are the relations whose rows the statement reads:
	// schema-qualified when written qualified, otherwise as written.
	// Identifiers are lower-case unless they were quoted; an identifier
	// that needs quoting is shown quoted ("My Table"). Names defined by a
	// WITH clause in scope are not tables. The target of an UPDATE,
	// DELETE or MERGE (and of INSERT ... ON CONFLICT) is read as well as
	// written.
	TablesRead []string
	// TablesWritten are the relations the statement changes (targets of
	// INSERT, UPDATE, DELETE, MERGE, COPY FROM, TRUNCATE, LOCK, SELECT
	// INTO, rows locked by SELECT ... FOR UPDATE, and the objects of DDL).
	TablesWritten []string
	// Functions is every function called, lower-case unless quoted,
	// schema-qualified when written so (pg_catalog. is dropped).
	Functions []string
	// Reasons say why the statement is not a plain read; empty for one.
	Reasons []string
	// Location is the statement's byte offset in the input and Length its
	// length in bytes.
	Location int
	Length   int
}

// Facts is the classification of a whole SQL string.
type Facts struct {
	Statements []Statement
	// Kinds is the union of every statement's Kinds, least severe first.
	Kinds []Kind
	// TablesRead, TablesWritten and Functions are the distinct, sorted
	// unions over all statements.
	TablesRead    []string
	TablesWritten []string
	Functions     []string
	// ReadOnly is true only if every statement is a pure read.
	ReadOnly bool
}

// FunctionResolver looks a function up in the target's catalog. The
// connector implements it (with a cache) so that user-defined and
// extension functions can be judged by their declared volatility.
type FunctionResolver interface {
	// Volatility returns the function's pg_proc.provolatile: 'i'
	// immutable, 's' stable, 'v' volatile; ok is false if no such
	// function exists. name is as written in the SQL, quoted where
	// needed ("myschema.fn", "fn", "\"Fn\""); an unqualified name must be
	// resolved through the session's search_path. When several functions
	// match (overloads, or the same name in several schemas on the
	// search_path) it must return the most volatile of them. err is only
	// for a technical failure and makes Classify fail.
	Volatility(ctx context.Context, name string) (vol byte, ok bool, err error)
}

// TypeResolver looks a type up in the target's catalog, for casts to types
// that are not built in.
type TypeResolver interface {
	// TypeKind returns the type's pg_type.typtype ('b' base, 'c'
	// composite, 'd' domain, 'e' enum, 'm' multirange, 'p' pseudo,
	// 'r' range); ok is false if no such type exists. name is as written,
	// quoted where needed. Only 'b' (whose I/O functions need a superuser
	// to create) and 'e' are trusted: a domain's CHECK or a composite's
	// fields can run user-defined code.
	TypeKind(ctx context.Context, name string) (typtype byte, ok bool, err error)
}

// Options tune Classify. The zero value is valid and strictest.
type Options struct {
	// Functions resolves functions that are not known built-ins. Without
	// it every such function makes its statement a write.
	Functions FunctionResolver
	// Types resolves types that are not built in. Without it a cast to
	// such a type makes its statement a write.
	Types TypeResolver
	// Cache, when set, memoises the parse and tree walk by exact SQL
	// text. Resolver look-ups are never cached here.
	Cache *Cache
	// MaxBytes bounds the SQL text; 0 means DefaultMaxBytes. Longer text
	// fails with ErrUnsupported before it reaches the parser, whose cost
	// grows faster than linearly on deeply nested expressions.
	MaxBytes int
}

// DefaultMaxBytes is the longest SQL text Classify accepts by default.
const DefaultMaxBytes = 64 << 10

// Classify parses sql with PostgreSQL's own parser and reports what every
// statement in it does. An error (unwrapping to ErrUnparseable or
// ErrUnsupported, or a resolver's technical failure) means the SQL must
// be denied; it is never returned for SQL that is merely not read-only.
func Classify(ctx context.Context, sql string, opts Options) (Facts, error) {
	limit := opts.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	if len(sql) > limit {
		return Facts{}, unsupported("SQL text", -1, fmt.Sprintf("%d bytes is longer than the %d-byte limit", len(sql), limit))
	}
	analysed, err := opts.Cache.analyse(sql)
	if err != nil {
		return Facts{}, err
	}
	stmts := make([]Statement, len(analysed))
	for i := range analysed {
		st, err := analysed[i].resolve(ctx, opts)
		if err != nil {
			return Facts{}, err
		}
		stmts[i] = st
	}
	return Summarise(stmts), nil
}

// analyse parses and walks sql without consulting any resolver. Its
// result depends on the text alone, so it can be cached.
func analyse(sql string) ([]analysis, error) {
	tree, perr := parse(sql)
	if perr != nil {
		return nil, perr
	}
	raws := tree.GetStmts()
	out := make([]analysis, 0, len(raws))
	for _, raw := range raws {
		loc := int(raw.GetStmtLocation())
		length := int(raw.GetStmtLen())
		if length == 0 || loc+length > len(sql) {
			length = len(sql) - loc
		}
		for length > 0 && isSpace(sql[loc]) {
			loc++
			length--
		}
		a, werr := walkStatement(raw.GetStmt(), loc)
		if werr != nil {
			return nil, werr
		}
		a.stmt.Location = loc
		a.stmt.Length = length
		out = append(out, a)
	}
	return out, nil
}

// analysis is a statement as the tree walk saw it, before functions and
// types that are not built in are resolved. It is shared between callers
// when cached and must not be modified.
type analysis struct {
	stmt  Statement
	kinds KindSet
	funcs []string // names to resolve, as written
	types []string // type names to resolve, as written
	// readsLiteral: the walk looked at a constant's value.
	readsLiteral bool
}

// resolve asks the resolvers about the functions and types the walk could
// not vouch for, and returns a Statement the caller owns.
func (a *analysis) resolve(ctx context.Context, opts Options) (Statement, error) {
	st := a.stmt
	st.TablesRead = slices.Clone(st.TablesRead)
	st.TablesWritten = slices.Clone(st.TablesWritten)
	st.Functions = slices.Clone(st.Functions)
	st.Reasons = slices.Clone(st.Reasons)
	kinds := a.kinds
	for _, name := range a.funcs {
		if opts.Functions != nil {
			vol, ok, err := opts.Functions.Volatility(ctx, name)
			if err != nil {
				return Statement{}, fmt.Errorf("sqlclass: resolve function %s: %w", name, err)
			}
			if ok && (vol == 'i' || vol == 's') {
				continue
			}
		}
		kinds = kinds.With(KindWrite)
		st.Reasons = appendReason(st.Reasons, "function "+name+" is volatile or unknown")
	}
	for _, name := range a.types {
		if opts.Types != nil {
			typ, ok, err := opts.Types.TypeKind(ctx, name)
			if err != nil {
				return Statement{}, fmt.Errorf("sqlclass: resolve type %s: %w", name, err)
			}
			if ok && (typ == 'b' || typ == 'e') {
				continue
			}
		}
		kinds = kinds.With(KindWrite)
		st.Reasons = appendReason(st.Reasons, "type "+name+" is not built in (a domain check or cast may run user-defined code)")
	}
	st.Kind = kinds.Primary()
	st.Kinds = kinds.List()
	return st, nil
}

// Summarise gathers classified statements into Facts: every kind they
// show, read-only only if each is a plain read (and there is one at
// least), and their tables and functions, sorted, without duplicates. The
// MySQL classifier sums up with it too.
func Summarise(stmts []Statement) Facts {
	f := Facts{Statements: stmts, ReadOnly: true}
	var all KindSet
	for i := range stmts {
		st := &stmts[i]
		for _, k := range st.Kinds {
			all = all.With(k)
		}
		if st.Kind != KindRead {
			f.ReadOnly = false
		}
		f.TablesRead = append(f.TablesRead, st.TablesRead...)
		f.TablesWritten = append(f.TablesWritten, st.TablesWritten...)
		f.Functions = append(f.Functions, st.Functions...)
	}
	if len(stmts) == 0 {
		f.ReadOnly = false
	}
	f.Kinds = all.List()
	f.TablesRead = sortedUnique(f.TablesRead)
	f.TablesWritten = sortedUnique(f.TablesWritten)
	f.Functions = sortedUnique(f.Functions)
	return f
}

func sortedUnique(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	slices.Sort(s)
	return slices.Compact(s)
}

func appendReason(reasons []string, r string) []string {
	if slices.Contains(reasons, r) {
		return reasons
	}
	return append(reasons, r)
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}
