package approvals

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// sqlToken is a piece of SQL and its class for highlighting: kw (keyword),
// str (string literal), num, com (comment), id (quoted identifier), op,
// param ($1), or "" (plain text: names, spaces).
type sqlToken struct {
	Class string
	Text  string
}

// highlightSQL splits SQL into tokens for display. It is a lexer for
// display only: it never decides anything, and every byte of the input
// is in exactly one token, in order (the page shows the full SQL).
func highlightSQL(sql string) []sqlToken {
	var out []sqlToken
	emit := func(class, text string) {
		if text == "" {
			return
		}
		if n := len(out); n > 0 && out[n-1].Class == class && class == "" {
			out[n-1].Text += text
			return
		}
		out = append(out, sqlToken{class, text})
	}
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			j := strings.IndexByte(sql[i:], '\n')
			if j < 0 {
				j = len(sql) - i
			}
			emit("com", sql[i:i+j])
			i += j
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			j := strings.Index(sql[i+2:], "*/")
			end := len(sql)
			if j >= 0 {
				end = i + 2 + j + 2
			}
			emit("com", sql[i:end])
			i = end
		case c == '\'' || ((c == 'E' || c == 'e') && i+1 < len(sql) && sql[i+1] == '\''):
			start := i
			if c != '\'' {
				i++
			}
			i = quoted(sql, i+1, '\'')
			emit("str", sql[start:i])
		case c == '"' || c == '`':
			start := i
			i = quoted(sql, i+1, c)
			emit("id", sql[start:i])
		case c == '$' && i+1 < len(sql) && sql[i+1] >= '0' && sql[i+1] <= '9':
			j := i + 1
			for j < len(sql) && sql[j] >= '0' && sql[j] <= '9' {
				j++
			}
			emit("param", sql[i:j])
			i = j
		case c == '$':
			// Dollar quoting: $tag$ ... $tag$.
			if j := strings.IndexByte(sql[i+1:], '$'); j >= 0 && isTag(sql[i+1:i+1+j]) {
				tag := sql[i : i+j+2]
				if k := strings.Index(sql[i+len(tag):], tag); k >= 0 {
					end := i + len(tag) + k + len(tag)
					emit("str", sql[i:end])
					i = end
					continue
				}
			}
			emit("op", "$")
			i++
		case c >= '0' && c <= '9' || (c == '.' && i+1 < len(sql) && sql[i+1] >= '0' && sql[i+1] <= '9'):
			j := i
			for j < len(sql) && (sql[j] >= '0' && sql[j] <= '9' || sql[j] == '.' || sql[j] == 'e' || sql[j] == 'E' || sql[j] == '_') {
				j++
			}
			emit("num", sql[i:j])
			i = j
		case c == '_' || c >= 0x80 || unicode.IsLetter(rune(c)):
			j := i
			for j < len(sql) {
				r, size := utf8.DecodeRuneInString(sql[j:])
				if r != '_' && r != '$' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
					break
				}
				j += size
			}
			if j == i { // an invalid byte: show it as is
				j = i + 1
			}
			word := sql[i:j]
			if isKeyword(strings.ToUpper(word)) {
				emit("kw", word)
			} else {
				emit("", word)
			}
			i = j
		case strings.IndexByte("(),;.*=<>!+-/%|&^~:[]", c) >= 0:
			emit("op", string(c))
			i++
		default:
			emit("", string(c))
			i++
		}
	}
	return out
}

// quoted returns the index after the closing quote (a doubled quote is an
// escaped one), or len(s) when it is missing.
func quoted(s string, i int, q byte) int {
	for i < len(s) {
		if s[i] == q {
			if i+1 < len(s) && s[i+1] == q {
				i += 2
				continue
			}
			return i + 1
		}
		if s[i] == '\\' && q == '\'' && i+1 < len(s) {
			i += 2
			continue
		}
		i++
	}
	return len(s)
}

func isTag(s string) bool {
	for _, r := range s {
		if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// isKeyword reports whether word, in upper case, is a SQL keyword the
// pages highlight.
func isKeyword(word string) bool {
	switch word {
	case "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "IS", "NULL", "AS", "ON", "JOIN",
		"LEFT", "RIGHT", "INNER", "OUTER", "FULL", "CROSS", "GROUP", "BY", "ORDER", "HAVING", "LIMIT",
		"OFFSET", "DISTINCT", "UNION", "ALL", "INTERSECT", "EXCEPT", "WITH", "RECURSIVE", "INSERT",
		"INTO", "VALUES", "UPDATE", "SET", "DELETE", "RETURNING", "CREATE", "ALTER", "DROP", "TABLE",
		"VIEW", "INDEX", "SCHEMA", "TRUNCATE", "GRANT", "REVOKE", "BEGIN", "COMMIT", "ROLLBACK", "CASE",
		"WHEN", "THEN", "ELSE", "END", "EXISTS", "BETWEEN", "LIKE", "ILIKE", "ASC", "DESC", "PRIMARY",
		"KEY", "FOREIGN", "REFERENCES", "DEFAULT", "CONSTRAINT", "UNIQUE", "CHECK", "CAST", "TRUE",
		"FALSE", "COPY", "MERGE", "USING", "MATCHED", "DO", "NOTHING", "CONFLICT", "FOR", "SHARE",
		"LOCK", "EXPLAIN", "ANALYZE", "CALL", "FUNCTION", "PROCEDURE", "TRIGGER", "SEQUENCE", "ROLE",
		"USER", "IF", "REPLACE", "LATERAL", "WINDOW", "OVER", "PARTITION", "ROWS", "RANGE", "FETCH",
		"FIRST", "NEXT", "ONLY", "TO", "OF", "NULLS", "COLUMN", "ADD", "RENAME", "CASCADE", "RESTRICT",
		"VACUUM":
		return true
	}
	return false
}
