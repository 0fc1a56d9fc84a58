package sqlite

import (
	"strings"

	lib "modernc.org/sqlite/lib"
)

// actionTags name statements by the first top-level action SQLite asked
// about that says what they are.
var actionTags = map[int32]string{
	lib.SQLITE_INSERT: "INSERT", lib.SQLITE_UPDATE: "UPDATE", lib.SQLITE_DELETE: "DELETE",
	lib.SQLITE_PRAGMA: "PRAGMA", lib.SQLITE_ATTACH: "ATTACH", lib.SQLITE_DETACH: "DETACH",
	lib.SQLITE_REINDEX: "REINDEX", lib.SQLITE_ANALYZE: "ANALYZE", lib.SQLITE_ALTER_TABLE: "ALTER TABLE",
	lib.SQLITE_SAVEPOINT: "SAVEPOINT",
}

// tagOf names a compiled statement the way command tags do ("SELECT",
// "INSERT", "CREATE TABLE", "PRAGMA", "BEGIN"). Only statements that ask
// the authorizer nothing that names them (VACUUM) are named by their first
// keyword.
func tagOf(text string, c *Statement) string {
	if c.Explain != 0 {
		return "EXPLAIN"
	}
	for _, a := range c.Actions {
		if w, ok := ddlWords[a.Code]; ok && a.Inner == "" {
			return strings.Replace(w, " TEMP", "", 1)
		}
	}
	for _, a := range c.Actions {
		if a.Inner != "" {
			continue
		}
		if a.Code == lib.SQLITE_TRANSACTION {
			return strings.ToUpper(a.Arg1)
		}
		if t, ok := actionTags[a.Code]; ok {
			return t
		}
	}
	for _, a := range c.Actions {
		if a.Code == lib.SQLITE_SELECT {
			return "SELECT"
		}
	}
	return firstKeyword(text)
}

// firstKeyword is the statement's first word, upper-case, after white
// space and comments as SQLite reads them (-- to the end of the line,
// /* to the first */).
func firstKeyword(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\n\r\f\v")
		switch {
		case strings.HasPrefix(s, "--"):
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return ""
			}
			s = s[i+1:]
			continue
		case strings.HasPrefix(s, "/*"):
			i := strings.Index(s[2:], "*/")
			if i < 0 {
				return ""
			}
			s = s[i+4:]
			continue
		}
		end := 0
		for end < len(s) && (s[end] >= 'a' && s[end] <= 'z' || s[end] >= 'A' && s[end] <= 'Z' || s[end] == '_') {
			end++
		}
		return strings.ToUpper(s[:end])
	}
}
