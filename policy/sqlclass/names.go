package sqlclass

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// QuoteIdent shows an identifier the way it must be written to mean the
// same object: as is when it is a plain lower-case identifier, otherwise
// double-quoted. The parser has already folded unquoted identifiers to
// lower case, so "Users" (quoted) and users stay distinct, and a quoted
// name containing a dot cannot pose as a schema-qualified one. Both
// classifiers name tables and functions this way.
func QuoteIdent(s string) string {
	if isPlainIdent(s) {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func quoteIdent(s string) string { return QuoteIdent(s) }

// SplitName splits a name as the classifiers report it ("t", "s.t",
// "\"My Schema\".\"T\"") into its parts, unquoted: the inverse of
// joining QuoteIdent'ed parts with dots.
func SplitName(name string) []string {
	var parts []string
	var cur strings.Builder
	quoted := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '"' && quoted && i+1 < len(name) && name[i+1] == '"':
			cur.WriteByte('"')
			i++
		case c == '"':
			quoted = !quoted
		case c == '.' && !quoted:
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, cur.String())
}

func isPlainIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c == '_':
		case (c >= '0' && c <= '9') || c == '$':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// rangeVarName is a relation's name as written: catalog.schema.relation,
// with the parts that were given.
func rangeVarName(rv *pg_query.RangeVar) string {
	name := quoteIdent(rv.GetRelname())
	if s := rv.GetSchemaname(); s != "" {
		name = quoteIdent(s) + "." + name
		if c := rv.GetCatalogname(); c != "" {
			name = quoteIdent(c) + "." + name
		}
	}
	return name
}

// stringList returns the String values of a name list (function, type,
// operator or object names). ok is false if any element is not a String.
func stringList(nodes []*pg_query.Node) (parts []string, ok bool) {
	parts = make([]string, 0, len(nodes))
	for _, n := range nodes {
		s, isString := n.GetNode().(*pg_query.Node_String_)
		if !isString {
			return nil, false
		}
		parts = append(parts, s.String_.GetSval())
	}
	return parts, true
}

// joinName quotes and dot-joins name parts.
func joinName(parts []string) string {
	q := make([]string, len(parts))
	for i, p := range parts {
		q[i] = quoteIdent(p)
	}
	return strings.Join(q, ".")
}

// builtinName reports whether a qualified name can only mean a built-in:
// unqualified (resolved through the search_path, where pg_catalog comes
// first unless the session says otherwise) or qualified with pg_catalog.
// It returns the bare name.
func builtinName(parts []string) (bare string, builtin bool) {
	switch {
	case len(parts) == 1:
		return parts[0], true
	case len(parts) == 2 && parts[0] == "pg_catalog":
		return parts[1], true
	case len(parts) > 0:
		return parts[len(parts)-1], false
	}
	return "", false
}

// displayName is the name reported in Facts: quoted where needed, with a
// pg_catalog qualification dropped.
func displayName(parts []string) string {
	if len(parts) == 2 && parts[0] == "pg_catalog" {
		return quoteIdent(parts[1])
	}
	return joinName(parts)
}
