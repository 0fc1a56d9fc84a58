package identity

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds on what a token may assert. A token over them is refused, not
// trimmed: dropping a group could drop one that a deny rule matches.
const (
	maxNameBytes = 256 // an identity, a group, a token id
	maxGroups    = 256
)

// lookupClaim returns the claim called name: a top-level claim of that
// exact name (names like "https://example.com/groups" contain dots), or
// else a nested one by a dotted path ("realm_access.roles").
func lookupClaim(claims map[string]any, name string) (any, bool) {
	if v, ok := claims[name]; ok {
		return v, true
	}
	var cur any = claims
	for part := range strings.SplitSeq(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// parseGroups reads a groups claim: a list of strings, or one string of
// names separated by spaces or commas. Each name is checked like an
// identity, except that a list element may contain inner spaces.
func parseGroups(v any) ([]string, error) {
	var raw []string
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		raw = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	case []any:
		for _, el := range v {
			s, ok := el.(string)
			if !ok {
				return nil, fmt.Errorf("an element of the list is %s, not a string", jsonKind(el))
			}
			raw = append(raw, s)
		}
	default:
		return nil, fmt.Errorf("it is %s, not a list or a string", jsonKind(v))
	}
	if len(raw) > maxGroups {
		return nil, fmt.Errorf("it names %d groups, more than the %d Warden accepts", len(raw), maxGroups)
	}
	seen := map[string]bool{}
	groups := make([]string, 0, len(raw))
	for _, g := range raw {
		g = strings.TrimSpace(g)
		if g == "" || seen[g] {
			continue
		}
		if !validName(g, true) {
			return nil, fmt.Errorf("a group name is empty, too long or has control characters")
		}
		seen[g] = true
		groups = append(groups, g)
	}
	return groups, nil
}

// scopesOf returns the scopes granted to a token: its scope claim
// (RFC 8693 §4.2, RFC 9068: a space-separated string) and its scp claim
// (a list or a string, as some providers write it).
func scopesOf(claims map[string]any) map[string]bool {
	out := map[string]bool{}
	for _, name := range []string{"scope", "scp"} {
		switch v := claims[name].(type) {
		case string:
			for _, s := range strings.Fields(v) {
				out[s] = true
			}
		case []any:
			for _, el := range v {
				if s, ok := el.(string); ok {
					out[s] = true
				}
			}
		}
	}
	return out
}

// validName reports whether s can be an identity or group name: not empty,
// at most maxNameBytes, valid UTF-8, no control characters and, unless
// spaces is set, no whitespace.
func validName(s string, spaces bool) bool {
	if s == "" || len(s) > maxNameBytes || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || (!spaces && unicode.IsSpace(r)) {
			return false
		}
	}
	return true
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
