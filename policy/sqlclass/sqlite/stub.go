package sqlite

import (
	"errors"
	"strings"

	lib "modernc.org/sqlite/lib"
)

// Without the target (warden policy explain and test, on a machine that
// does not have the database file), SQLite still parses the statement, but
// cannot resolve its names. The stub compiler then stands in empty tables
// for the ones a statement names, each with the columns it uses, as
// SQLite's own errors ask for them ("no such table: x", "no such column:
// y"), until the statement compiles. What is classified is the statement
// as SQLite reads it; only what the real schema would add is missing: a
// name that is a view there is a table here, and triggers are not seen.

// NewStubCompiler returns a compiler that needs no database file: it
// infers tables from the statements it compiles (see above).
func NewStubCompiler() *Compiler { return &Compiler{path: ":memory:", stub: true} }

// maxStubSteps bounds how many tables and columns one statement may make
// the stub compiler add.
const maxStubSteps = 256

func (c *Compiler) compileStub(text string) ([]Statement, error) {
	// A fresh database for every text: each is read with the tables it
	// names alone.
	c.closeConn()
	if err := c.open(); err != nil {
		return nil, err
	}
	var created []string // tables created for this text, in order
	tries := map[string]int{}
	for range maxStubSteps {
		out, err := c.compile(text)
		var ce *CompileError
		if !errors.As(err, &ce) {
			return out, err
		}
		tries[ce.Message]++
		ddl, ok := stubFor(ce.Message, &created, tries[ce.Message])
		if !ok {
			return nil, err
		}
		if err := c.exec(ddl); err != nil {
			return nil, ce // the name cannot be made up: SQLite's error stands
		}
	}
	return nil, &CompileError{Message: "too many unknown names", Offset: -1}
}

// stubFor is the statement that makes up what SQLite's error says is
// missing; ok is false for any other error.
// try counts the times the same error came back: a column of an alias
// goes to the next table each time.
func stubFor(msg string, created *[]string, try int) (string, bool) {
	switch {
	case strings.HasPrefix(msg, "no such table: "):
		name := strings.TrimPrefix(msg, "no such table: ")
		db, table := "main", name
		if i := strings.IndexByte(name, '.'); i >= 0 {
			db, table = name[:i], name[i+1:]
		}
		if db != "main" && db != "temp" {
			return "", false
		}
		*created = append(*created, table)
		return "CREATE TABLE " + quoteIdent(db) + "." + quoteIdent(table) + " (" + quoteIdent("warden stub") + ")", true
	case strings.HasPrefix(msg, "no such column: "):
		return stubColumn(strings.TrimPrefix(msg, "no such column: "), *created, try)
	case strings.HasPrefix(msg, "table ") && strings.Contains(msg, " has no column named "):
		rest := strings.TrimPrefix(msg, "table ")
		i := strings.Index(rest, " has no column named ")
		return addColumn(rest[:i], rest[i+len(" has no column named "):]), true
	}
	return "", false
}

// stubColumn adds a missing column: to the table it is qualified with, or
// else (an alias, or no qualifier) to a table made up for the statement:
// the first, then on each new try the next.
func stubColumn(ref string, created []string, try int) (string, bool) {
	table, col := "", ref
	if i := strings.LastIndexByte(ref, '.'); i >= 0 {
		table, col = ref[:i], ref[i+1:]
		if j := strings.LastIndexByte(table, '.'); j >= 0 {
			table = table[j+1:]
		}
	}
	found := false
	for _, t := range created {
		if strings.EqualFold(t, table) {
			found = true
		}
	}
	if !found {
		if try > len(created) {
			return "", false
		}
		table = created[try-1]
	}
	return addColumn(table, col), true
}

func addColumn(table, col string) string {
	return "ALTER TABLE " + quoteIdent(table) + " ADD COLUMN " + quoteIdent(col)
}

// exec runs one statement of the compiler's own on the stub database.
func (c *Compiler) exec(q string) error {
	c.rec = nil
	c.own = true
	defer func() { c.own = false }()
	s, err := c.prepare(q)
	if err != nil {
		return err
	}
	defer lib.Xsqlite3_finalize(c.tls, s)
	if rc := lib.Xsqlite3_step(c.tls, s); rc != lib.SQLITE_DONE {
		return &CompileError{Message: "stub: " + q, Offset: -1}
	}
	return nil
}
