package policy

import (
	"path"
	"strings"
)

// tablePattern is one compiled table glob.
type tablePattern struct {
	schema, table string // "" schema: the connection's default schema
}

func compileTablePatterns(globs []string) []tablePattern {
	out := make([]tablePattern, 0, len(globs))
	for _, g := range globs {
		if s, t, ok := strings.Cut(g, "."); ok {
			out = append(out, tablePattern{schema: s, table: t})
		} else {
			out = append(out, tablePattern{table: g})
		}
	}
	return out
}

// matchTable reports whether schema.table matches any pattern.
func matchTable(patterns []tablePattern, schema, table, defaultSchema string) bool {
	for _, p := range patterns {
		ps := p.schema
		if ps == "" {
			ps = defaultSchema
		}
		if ok, _ := path.Match(ps, schema); !ok {
			continue
		}
		if ok, _ := path.Match(p.table, table); ok {
			return true
		}
	}
	return false
}
