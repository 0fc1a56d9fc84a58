package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unsafe"

	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
)

// Compiler compiles statements with SQLite's own parser, on a read-only
// connection of its own to the target database, and reports what SQLite
// made of them: every action its authorizer was asked about, whether the
// statement writes, and where each result column comes from. It never
// runs a statement: PRAGMA, ATTACH and DETACH, which could act while they
// compile, are compiled to nothing (the authorizer ignores them) once
// they are recorded.
//
// It is the same SQLite library, at the same version and with the same
// compile options, as the connector's, so it reads every statement as the
// target will. It is safe for concurrent use (calls are serialised).
type Compiler struct {
	path string
	// stub, when set, compiles against an empty in-memory database whose
	// tables are inferred from the statements (see stub.go): for
	// classifying without the target.
	stub bool

	mu      sync.Mutex
	tls     *libc.TLS
	db      uintptr
	version int64 // schema_version when the connection opened
	rec     *recording
	own     bool // the compiler runs a statement of its own (stub tables)
	closed  bool
}

// Action is one question SQLite's authorizer was asked while a statement
// compiled (https://www.sqlite.org/c3ref/c_alter_table.html).
type Action struct {
	Code int32
	// Arg1 and Arg2 are the action's arguments (a table and a column, a
	// pragma and its value, ...); Arg2Set tells an empty Arg2 from none.
	Arg1, Arg2 string
	Arg2Set    bool
	// Database is the schema the action is in ("main", "temp"), and
	// Inner the trigger or view that causes it ("" at the top level).
	Database, Inner string
}

// Column is a result column and, when it is a table column's value
// passed through (through aliases, subqueries, CTEs and views; for a
// compound SELECT, its first arm only), where SQLite says it comes from.
type Column struct {
	Name                    string
	Database, Table, Origin string
}

// Statement is what SQLite compiled of one statement of a text.
type Statement struct {
	// Offset and Length locate the statement in the text, in bytes.
	Offset, Length int
	// Actions are the authorizer's questions, in the order asked.
	Actions []Action
	// ReadOnly is sqlite3_stmt_readonly: the statement makes no direct
	// change to a database file.
	ReadOnly bool
	// Explain is sqlite3_stmt_isexplain: 1 for EXPLAIN, 2 for EXPLAIN
	// QUERY PLAN, 0 otherwise.
	Explain int
	Columns []Column
}

// CompileError is SQLite's refusal to compile a statement: a syntax error,
// an unknown table, column or function, ...
type CompileError struct {
	// Message is SQLite's error message.
	Message string
	// Offset is the byte offset SQLite points at in the text, or -1.
	Offset int
}

func (e *CompileError) Error() string { return e.Message }

// errClosed is returned once the compiler is closed.
var errClosed = errors.New("sqlite compiler: closed")

// NewCompiler returns a compiler of statements against the database file
// at path, which it opens read-only on first use.
func NewCompiler(path string) *Compiler { return &Compiler{path: path} }

// Close releases the connection. Later calls fail.
func (c *Compiler) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.closeConn()
	return nil
}

func (c *Compiler) closeConn() {
	if c.db != 0 {
		unregister(c.db)
		lib.Xsqlite3_close_v2(c.tls, c.db)
		c.db = 0
	}
	if c.tls != nil {
		c.tls.Close()
		c.tls = nil
	}
}

// open opens the connection, or reopens it when the schema changed since
// it was opened: a prepared statement never runs here, so the connection
// would not notice by itself.
func (c *Compiler) open() error {
	if c.closed {
		return errClosed
	}
	if c.db != 0 {
		v, err := c.schemaVersion()
		if err == nil && v == c.version {
			return nil
		}
		c.closeConn()
	}
	if err := c.openConn(); err != nil {
		c.closeConn()
		return err
	}
	register(c.db, c)
	var err error
	if rc := lib.Xsqlite3_set_authorizer(c.tls, c.db, authorizerPointer, c.db); rc != lib.SQLITE_OK {
		c.closeConn()
		return fmt.Errorf("install the compiler's authorizer: code %d", rc)
	}
	if c.version, err = c.schemaVersion(); err != nil {
		c.closeConn()
		return err
	}
	return nil
}

// openConn opens the connection (c.tls and c.db are set even when it
// fails, for closeConn).
func (c *Compiler) openConn() error {
	c.tls = libc.NewTLS()
	name := c.path
	flags := int32(lib.SQLITE_OPEN_READONLY | lib.SQLITE_OPEN_FULLMUTEX)
	if c.stub {
		name, flags = ":memory:", lib.SQLITE_OPEN_READWRITE|lib.SQLITE_OPEN_FULLMUTEX
	}
	cname, err := libc.CString(name)
	if err != nil {
		return err
	}
	defer libc.Xfree(c.tls, cname)
	const ptr = int(unsafe.Sizeof(uintptr(0)))
	pdb := c.tls.Alloc(ptr)
	defer c.tls.Free(ptr)
	poke(pdb, 0)
	rc := lib.Xsqlite3_open_v2(c.tls, cname, pdb, flags, 0)
	c.db = peek(pdb)
	if rc != lib.SQLITE_OK {
		msg := "out of memory"
		if c.db != 0 {
			msg = libc.GoString(lib.Xsqlite3_errmsg(c.tls, c.db))
		}
		return fmt.Errorf("open %s read-only: %s", c.path, msg)
	}
	return nil
}

// schemaVersion reads the database's schema cookie.
func (c *Compiler) schemaVersion() (int64, error) {
	if c.stub {
		return 0, nil
	}
	stmts, err := c.prepare("PRAGMA schema_version")
	if err != nil {
		return 0, err
	}
	defer lib.Xsqlite3_finalize(c.tls, stmts)
	switch rc := lib.Xsqlite3_step(c.tls, stmts); rc {
	case lib.SQLITE_ROW:
		return int64(lib.Xsqlite3_column_int64(c.tls, stmts, 0)), nil
	default:
		return 0, fmt.Errorf("read the schema version of %s: %s", c.path, libc.GoString(lib.Xsqlite3_errmsg(c.tls, c.db)))
	}
}

// prepare compiles the first statement of text, recording the
// authorizer's questions in c.rec when it is set.
func (c *Compiler) prepare(text string) (uintptr, error) {
	csql, err := libc.CString(text)
	if err != nil {
		return 0, err
	}
	defer libc.Xfree(c.tls, csql)
	pp := c.tls.Alloc(int(unsafe.Sizeof(uintptr(0))))
	defer c.tls.Free(int(unsafe.Sizeof(uintptr(0))))
	poke(pp, 0)
	if rc := lib.Xsqlite3_prepare_v3(c.tls, c.db, csql, -1, 0, pp, 0); rc != lib.SQLITE_OK {
		return 0, &CompileError{Message: libc.GoString(lib.Xsqlite3_errmsg(c.tls, c.db)), Offset: -1}
	}
	return peek(pp), nil
}

// Compile compiles every statement of text and reports each. An error is
// a *CompileError (SQLite refuses the text) or a technical failure.
func (c *Compiler) Compile(ctx context.Context, text string) ([]Statement, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stub {
		return c.compileStub(text)
	}
	if err := c.open(); err != nil {
		return nil, err
	}
	return c.compile(text)
}

func (c *Compiler) compile(text string) ([]Statement, error) {
	csql, err := libc.CString(text)
	if err != nil {
		return nil, err
	}
	defer libc.Xfree(c.tls, csql)
	const ptr = int(unsafe.Sizeof(uintptr(0)))
	pp := c.tls.Alloc(2 * ptr)
	defer c.tls.Free(2 * ptr)
	pstmt, ptail := pp, pp+uintptr(ptr)
	var out []Statement
	at := csql
	end := csql + uintptr(len(text))
	for at < end {
		rec := &recording{}
		c.rec = rec
		poke(pstmt, 0)
		poke(ptail, 0)
		rc := lib.Xsqlite3_prepare_v3(c.tls, c.db, at, int32(end-at), 0, pstmt, ptail)
		c.rec = nil
		if rc != lib.SQLITE_OK {
			off := int(lib.Xsqlite3_error_offset(c.tls, c.db))
			if off >= 0 {
				off += int(at - csql)
			}
			return nil, &CompileError{Message: libc.GoString(lib.Xsqlite3_errmsg(c.tls, c.db)), Offset: off}
		}
		s := peek(pstmt)
		tail := peek(ptail)
		if tail <= at || tail > end {
			tail = end
		}
		if s != 0 {
			st := Statement{Offset: int(at - csql), Length: int(tail - at), Actions: rec.actions}
			st.ReadOnly = lib.Xsqlite3_stmt_readonly(c.tls, s) != 0
			st.Explain = int(lib.Xsqlite3_stmt_isexplain(c.tls, s))
			n := int(lib.Xsqlite3_column_count(c.tls, s))
			for i := range n {
				st.Columns = append(st.Columns, Column{
					Name:     libc.GoString(lib.Xsqlite3_column_name(c.tls, s, int32(i))),
					Database: libc.GoString(lib.Xsqlite3_column_database_name(c.tls, s, int32(i))),
					Table:    libc.GoString(lib.Xsqlite3_column_table_name(c.tls, s, int32(i))),
					Origin:   libc.GoString(lib.Xsqlite3_column_origin_name(c.tls, s, int32(i))),
				})
			}
			lib.Xsqlite3_finalize(c.tls, s)
			trimStatement(text, &st)
			out = append(out, st)
		}
		at = tail
	}
	return out, nil
}

// trimStatement leaves leading white space out of a statement's extent.
func trimStatement(text string, st *Statement) {
	for st.Length > 0 && isSpace(text[st.Offset]) {
		st.Offset++
		st.Length--
	}
}

func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f' || b == '\v'
}

// Program is the bytecode SQLite compiles the one statement of text to
// (EXPLAIN's rows, one per instruction, without comments): two texts with
// the same program mean the same to SQLite.
func (c *Compiler) Program(ctx context.Context, text string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.open(); err != nil {
		return nil, err
	}
	rec := &recording{}
	c.rec = rec
	s, err := c.prepare(text)
	c.rec = nil
	if err != nil {
		return nil, err
	}
	if s == 0 {
		return nil, &CompileError{Message: "no statement", Offset: -1}
	}
	defer lib.Xsqlite3_finalize(c.tls, s)
	if rc := lib.Xsqlite3_stmt_explain(c.tls, s, 1); rc != lib.SQLITE_OK {
		return nil, fmt.Errorf("explain: code %d", rc)
	}
	var out []string
	for {
		switch rc := lib.Xsqlite3_step(c.tls, s); rc {
		case lib.SQLITE_ROW:
			// addr, opcode, p1, p2, p3, p4, p5 (comment left out)
			row := ""
			for i := range int32(7) {
				row += libc.GoString(lib.Xsqlite3_column_text(c.tls, s, i)) + "\x00"
			}
			out = append(out, row)
		case lib.SQLITE_DONE:
			return out, nil
		default:
			return nil, fmt.Errorf("explain: %s", libc.GoString(lib.Xsqlite3_errmsg(c.tls, c.db)))
		}
	}
}

// recording collects the authorizer's questions while one statement
// compiles; nil when the compiler prepares a statement of its own.
type recording struct {
	actions []Action
}

// compilers maps a connection handle to its compiler, for the authorizer
// callback (SQLite calls a C function pointer with the handle as its
// argument; a Go pointer cannot be passed that way).
var compilers = struct {
	sync.RWMutex
	m map[uintptr]*Compiler
}{m: map[uintptr]*Compiler{}}

func register(db uintptr, c *Compiler) {
	compilers.Lock()
	compilers.m[db] = c
	compilers.Unlock()
}

func unregister(db uintptr) {
	compilers.Lock()
	delete(compilers.m, db)
	compilers.Unlock()
}

// authorizerPointer is authorize as the C function pointer SQLite calls
// (a Go func value is a pointer to its code: golang.org/s/go11func).
var authorizerPointer = func() uintptr {
	f := authorize
	return *(*uintptr)(unsafe.Pointer(&struct {
		f func(*libc.TLS, uintptr, int32, uintptr, uintptr, uintptr, uintptr) int32
	}{f}))
}()

// authorize records one question and answers it. Every action is
// allowed (compiling changes nothing) except those that could act while
// they compile: PRAGMA (some settings take effect in the compiler, and a
// VFS may act on a pragma's file control), ATTACH and DETACH, which are
// ignored, so they compile to nothing. The compiler's own statements
// (schema_version) pass.
func authorize(_ *libc.TLS, db uintptr, code int32, z1, z2, zdb, zinner uintptr) int32 {
	compilers.RLock()
	c := compilers.m[db]
	compilers.RUnlock()
	if c == nil {
		return lib.SQLITE_DENY
	}
	if c.own {
		return lib.SQLITE_OK
	}
	rec := c.rec
	if rec == nil {
		if code == lib.SQLITE_PRAGMA && cstr(z1) == "schema_version" && z2 == 0 {
			return lib.SQLITE_OK
		}
		if code == lib.SQLITE_READ || code == lib.SQLITE_SELECT || code == lib.SQLITE_FUNCTION {
			return lib.SQLITE_OK
		}
		return lib.SQLITE_DENY
	}
	rec.actions = append(rec.actions, Action{Code: code, Arg1: cstr(z1), Arg2: cstr(z2), Arg2Set: z2 != 0, Database: cstr(zdb), Inner: cstr(zinner)})
	switch code {
	case lib.SQLITE_PRAGMA, lib.SQLITE_ATTACH, lib.SQLITE_DETACH:
		return lib.SQLITE_IGNORE
	}
	return lib.SQLITE_OK
}

func cstr(p uintptr) string {
	if p == 0 {
		return ""
	}
	return libc.GoString(p)
}

// IndexTable is the table an index of database db indexes ("" when there
// is no such index).
func (c *Compiler) IndexTable(ctx context.Context, db, index string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stub {
		return "", nil
	}
	if err := c.open(); err != nil {
		return "", err
	}
	if db == "" {
		db = "main"
	}
	q := "SELECT tbl_name FROM " + quoteIdent(db) + ".sqlite_schema WHERE type = 'index' AND name = " + quoteLiteral(index) + " COLLATE NOCASE"
	s, err := c.prepare(q)
	if err != nil {
		return "", nil // no such database: no such index
	}
	defer lib.Xsqlite3_finalize(c.tls, s)
	switch lib.Xsqlite3_step(c.tls, s) {
	case lib.SQLITE_ROW:
		return libc.GoString(lib.Xsqlite3_column_text(c.tls, s, 0)), nil
	case lib.SQLITE_DONE:
		return "", nil
	}
	return "", fmt.Errorf("look up index %s: %s", index, libc.GoString(lib.Xsqlite3_errmsg(c.tls, c.db)))
}

func quoteIdent(s string) string   { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func quoteLiteral(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

// peek and poke read and write a pointer-sized value in SQLite's memory
// (C memory, outside the Go heap, addressed by uintptr).
func peek(addr uintptr) uintptr { return **(**uintptr)(unsafe.Pointer(&addr)) }

func poke(addr, v uintptr) { **(**uintptr)(unsafe.Pointer(&addr)) = v }
