package mysql

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/wardenhq/warden/policy/sqlclass"
)

// Options tune Classify. The zero value is valid and strictest.
type Options struct {
	// Functions resolves stored functions that are not known built-ins.
	// Without it every such function makes its statement a write. For
	// MySQL the byte Volatility returns is the function's declared data
	// access, from information_schema.ROUTINES:
	//   'n'  NO SQL
	//   'r'  READS SQL DATA
	//   'd'  CONTAINS SQL and DETERMINISTIC
	//   'c'  CONTAINS SQL and NOT DETERMINISTIC
	//   'm'  MODIFIES SQL DATA (whatever IS_DETERMINISTIC says)
	// Only 'n', 'r' and 'd' are trusted. ok is false for a name that is
	// not a stored function (loadable functions, "UDFs", are not in
	// ROUTINES and so are always writes). An unqualified name must be
	// looked up in the session's current database.
	Functions sqlclass.FunctionResolver
	// ServerVersion is the server's VERSION() ("8.0.36",
	// "10.11.6-MariaDB-1:10.11.6+maria~ubu2204"). It decides which
	// executable comments (/*!80000 ... */, /*M! ... */) the server runs.
	// Empty means unknown: the text is then classified as every MySQL and
	// MariaDB version would read it, and the readings must agree on the
	// statements they contain.
	ServerVersion string
	// MaxBytes bounds the SQL text; 0 means DefaultMaxBytes.
	MaxBytes int
	// Cache, when set, keeps what the text alone decides, so that a
	// statement seen before is not scanned and parsed again.
	Cache *Cache
}

// DefaultMaxBytes is the longest SQL text Classify accepts by default.
const DefaultMaxBytes = 64 << 10

// maxPrepareDepth bounds PREPARE ... FROM 'text' nesting. MySQL cannot
// prepare a PREPARE; one level is all the server runs.
const maxPrepareDepth = 1

// theParser is vitess's MySQL parser. It holds only immutable settings
// (no executable comment reaches it: see views), so it is shared.
var theParser = func() *sqlparser.Parser {
	p, err := sqlparser.New(sqlparser.Options{})
	if err != nil {
		panic("mysql classifier: " + err.Error())
	}
	return p
}()

// Classify parses sql with vitess's MySQL parser and reports what every
// statement in it does, with the same types as the PostgreSQL classifier.
// An error (an *sqlclass.Error unwrapping to sqlclass.ErrUnparseable or
// sqlclass.ErrUnsupported, or a resolver's technical failure) means the SQL
// must be denied; it is never returned for SQL that is merely not
// read-only.
func Classify(ctx context.Context, sql string, opts Options) (sqlclass.Facts, error) {
	limit := opts.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	if len(sql) > limit {
		return sqlclass.Facts{}, sqlclass.NewUnsupportedError("SQL text", -1,
			fmt.Sprintf("%d bytes is longer than the %d-byte limit", len(sql), limit))
	}
	var srv *server
	if opts.ServerVersion != "" {
		s, err := parseServerVersion(opts.ServerVersion)
		if err != nil {
			return sqlclass.Facts{}, err
		}
		srv = &s
	}
	analysed, err := opts.Cache.analyse(sql, srv, opts.ServerVersion)
	if err != nil {
		return sqlclass.Facts{}, err
	}
	stmts := make([]sqlclass.Statement, len(analysed))
	for i := range analysed {
		st, err := analysed[i].resolve(ctx, opts)
		if err != nil {
			return sqlclass.Facts{}, err
		}
		stmts[i] = st
	}
	return sqlclass.Summarise(stmts), nil
}

// parseServerVersion reads VERSION() output. MariaDB may report itself
// behind a "5.5.5-" prefix (its replication handshake does).
func parseServerVersion(v string) (server, *sqlclass.Error) {
	s := server{mariaDB: strings.Contains(strings.ToLower(v), "mariadb")}
	if s.mariaDB {
		v = strings.TrimPrefix(v, "5.5.5-")
	}
	end := strings.IndexFunc(v, func(r rune) bool { return r != '.' && (r < '0' || r > '9') })
	if end >= 0 {
		v = v[:end]
	}
	parts := strings.Split(v, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return server{}, sqlclass.NewUnsupportedError("ServerVersion", -1, "not a MySQL or MariaDB version (want VERSION() output such as 8.0.36)")
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || (i > 0 && n > 99) || (i == 0 && (n < 1 || n > 99)) {
			return server{}, sqlclass.NewUnsupportedError("ServerVersion", -1, "not a MySQL or MariaDB version (want VERSION() output such as 8.0.36)")
		}
		s.version = s.version*100 + n
	}
	if len(parts) == 2 {
		s.version *= 100
	}
	return s, nil
}

// analysis is a statement as the walk saw it, before functions that are
// not built in are resolved.
type analysis struct {
	stmt  sqlclass.Statement
	kinds sqlclass.KindSet
	funcs []string // names to resolve, as reported
}

// analyse classifies every statement of sql under every reading of its
// executable comments, and merges the readings.
func analyse(sql string, srv *server, depth int) ([]analysis, *sqlclass.Error) {
	if err := checkText(sql); err != nil {
		return nil, err
	}
	toks, err := scanTokens(theParser, sql)
	if err != nil {
		return nil, nameStatement(toks, err)
	}
	comments, err := execComments(sql, toks)
	if err != nil {
		return nil, err
	}
	runs, err := views(comments, srv)
	if err != nil {
		return nil, err
	}
	var merged []analysis
	for i, run := range runs {
		text, blanks := viewText(sql, comments, run)
		var scanned []token
		if len(comments) == 0 {
			scanned = toks // the text is its only reading: no need to scan it again
		}
		pieces, err := lexView(theParser, text, blanks, scanned)
		if err != nil {
			return nil, err
		}
		out := make([]analysis, 0, len(pieces))
		for _, pc := range pieces {
			a, err := analyseStatement(text, pc, srv, depth)
			if err != nil {
				return nil, err
			}
			out = append(out, a)
		}
		if i == 0 {
			merged = out
			continue
		}
		if merged, err = mergeViews(merged, out, comments[0].start); err != nil {
			return nil, err
		}
	}
	if len(merged) == 0 {
		return nil, sqlclass.NewUnparseableError(-1, "no SQL statement (empty, whitespace or comments only)")
	}
	return merged, nil
}

// mergeViews unites two readings of the same text. They must hold the
// same statements, in the same order, each with the same tag.
func mergeViews(a, b []analysis, loc int) ([]analysis, *sqlclass.Error) {
	if len(a) != len(b) {
		return nil, sqlclass.NewUnsupportedError("versioned comment", loc,
			"servers of different versions would read a different number of statements")
	}
	for i := range a {
		x, y := &a[i].stmt, b[i].stmt
		if x.Tag != y.Tag {
			return nil, sqlclass.NewUnsupportedError("versioned comment", loc,
				fmt.Sprintf("servers of different versions would read this statement as %s or as %s", x.Tag, y.Tag))
		}
		a[i].kinds |= b[i].kinds
		end := max(x.Location+x.Length, y.Location+y.Length)
		x.Location = min(x.Location, y.Location)
		x.Length = end - x.Location
		x.TablesRead = sortedUnique(append(x.TablesRead, y.TablesRead...))
		x.TablesWritten = sortedUnique(append(x.TablesWritten, y.TablesWritten...))
		x.Functions = sortedUnique(append(x.Functions, y.Functions...))
		for _, r := range y.Reasons {
			x.Reasons = appendReason(x.Reasons, r)
		}
		a[i].funcs = sortedUnique(append(a[i].funcs, b[i].funcs...))
	}
	return a, nil
}

// analyseStatement parses one statement and walks its tree.
func analyseStatement(text string, pc piece, srv *server, depth int) (analysis, *sqlclass.Error) {
	tree, perr := parseStatement(text[pc.start:pc.parseEnd])
	if perr != nil {
		return analysis{}, parseError(perr, pc)
	}
	w := &walker{text: text, piece: pc, srv: srv, depth: depth}
	w.statement(tree)
	if w.err != nil {
		if w.err.Location < 0 {
			w.err.Location = pc.start
		}
		return analysis{}, w.err
	}
	return analysis{
		stmt: sqlclass.Statement{
			Tag:           w.tag,
			TablesRead:    sortedUnique(w.read),
			TablesWritten: sortedUnique(w.written),
			Functions:     sortedUnique(w.funcs),
			Reasons:       w.reasons,
			Location:      pc.start,
			Length:        pc.end - pc.start,
		},
		kinds: w.kinds,
		funcs: sortedUnique(w.unresolved),
	}, nil
}

// errParserPanic stands for a panic inside the parser.
var errParserPanic = errors.New("the MySQL parser failed on this text")

// parseStatement runs the parser on one statement. The parser has
// panicked on some malformed input (SELECT @@global.); that is a parse
// failure like any other, never a crash of the gateway.
func parseStatement(text string) (tree sqlparser.Statement, err error) {
	defer func() {
		if recover() != nil {
			tree, err = nil, errParserPanic
		}
	}()
	return theParser.ParseStrictDDL(text)
}

// parseError turns the parser's error into an *sqlclass.Error. A
// statement MySQL has but the grammar does not cover is named; the
// parser's "near" text is not repeated (it can be a literal, such as a
// password).
func parseError(err error, pc piece) *sqlclass.Error {
	if construct, kind, ok := unparsedStatement(pc.toks); ok {
		return sqlclass.NewUnsupportedError(construct, pc.start,
			fmt.Sprintf("a %s statement that the MySQL grammar in use (vitess) does not parse; refused", kind))
	}
	loc := pc.start
	reason := "syntax error"
	if errors.Is(err, errParserPanic) {
		reason = err.Error()
	}
	var pe sqlparser.PositionedErr
	if errors.As(err, &pe) {
		if pe.Err != "" {
			reason = pe.Err
		}
		if pe.Pos > 0 {
			loc = min(pc.start+pe.Pos-1, pc.end)
		}
	}
	return sqlclass.NewUnparseableError(loc, reason)
}

// resolve asks the resolver about the functions the walk could not vouch
// for, and returns a Statement the caller owns.
func (a *analysis) resolve(ctx context.Context, opts Options) (sqlclass.Statement, error) {
	st := a.stmt
	st.TablesRead = slices.Clone(st.TablesRead)
	st.TablesWritten = slices.Clone(st.TablesWritten)
	st.Functions = slices.Clone(st.Functions)
	st.Reasons = slices.Clone(st.Reasons)
	kinds := a.kinds
	for _, name := range a.funcs {
		if opts.Functions != nil {
			access, ok, err := opts.Functions.Volatility(ctx, name)
			if err != nil {
				return sqlclass.Statement{}, fmt.Errorf("mysql sqlclass: resolve function %s: %w", name, err)
			}
			if ok && (access == 'n' || access == 'r' || access == 'd') {
				continue
			}
		}
		kinds = kinds.With(sqlclass.KindWrite)
		st.Reasons = appendReason(st.Reasons, "function "+name+" is not a known built-in and not declared NO SQL, READS SQL DATA or DETERMINISTIC")
	}
	st.Kind = kinds.Primary()
	st.Kinds = kinds.List()
	return st, nil
}

func sortedUnique(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

func appendReason(reasons []string, r string) []string {
	if slices.Contains(reasons, r) {
		return reasons
	}
	return append(reasons, r)
}
