package policy

import (
	"path"
	"strings"

	"github.com/wardenhq/warden/policy/sqlclass"
)

// DefaultSchema is the schema of an unqualified table on a connection
// kind. Warden pins the search_path of every PostgreSQL transaction to it,
// so that what policy assumes is what the database resolves.
func DefaultSchema(kind string) string {
	if kind == "sqlite" {
		return "main"
	}
	return "public"
}

// splitTable splits a table name as the classifier reports it ("t",
// "s.t", "\"My Schema\".\"T\"") into schema and table, unquoted.
func splitTable(name, defaultSchema string) (schema, table string) {
	if strings.IndexByte(name, '"') < 0 {
		// No quoted part: the dots are the separators (every statement
		// comes here, so without allocating).
		i := strings.LastIndexByte(name, '.')
		if i < 0 {
			return defaultSchema, name
		}
		rest := name[:i]
		return rest[strings.LastIndexByte(rest, '.')+1:], name[i+1:]
	}
	parts := sqlclass.SplitName(name)
	switch len(parts) {
	case 1:
		return defaultSchema, parts[0]
	case 2:
		return parts[0], parts[1]
	}
	// catalog.schema.table: the catalog is the connection's database.
	return parts[len(parts)-2], parts[len(parts)-1]
}

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
