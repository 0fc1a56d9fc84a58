package sqlclass

import (
	"errors"
	"strings"
	"unicode/utf8"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"github.com/pganalyze/pg_query_go/v6/parser"
)

// parse runs the real PostgreSQL parser (libpg_query, PostgreSQL 17
// grammar) over sql and returns its raw parse tree.
//
// It refuses, before parsing, input the parser and the server could read
// differently: a NUL byte (the C parser would stop there, the server might
// not see the same text) and invalid UTF-8 (the parser assumes UTF-8; a
// server with another client_encoding could tokenize the bytes otherwise).
func parse(sql string) (*pg_query.ParseResult, *Error) {
	if i := strings.IndexByte(sql, 0); i >= 0 {
		return nil, unparseable(i, "SQL contains a NUL byte")
	}
	if !utf8.ValidString(sql) {
		return nil, unparseable(invalidUTF8Offset(sql), "SQL is not valid UTF-8")
	}
	tree, err := pg_query.Parse(sql)
	if err != nil {
		var pe *parser.Error
		if errors.As(err, &pe) {
			return nil, unparseable(charPosToOffset(sql, pe.Cursorpos), pe.Message)
		}
		// Decoding the parser's protobuf output failed (for example a
		// tree nested deeper than the decoder accepts).
		return nil, unparseable(-1, "cannot decode parse tree: "+err.Error())
	}
	if len(tree.GetStmts()) == 0 {
		return nil, unparseable(-1, "no SQL statement (empty, whitespace or comments only)")
	}
	return tree, nil
}

// charPosToOffset converts PostgreSQL's error cursor (1-based, counted in
// characters) into a 0-based byte offset; -1 when there is no cursor.
func charPosToOffset(s string, cursor int) int {
	if cursor <= 0 {
		return -1
	}
	n := 1
	for i := range s {
		if n == cursor {
			return i
		}
		n++
	}
	return len(s)
}

func invalidUTF8Offset(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return i
			}
		}
	}
	return -1
}
