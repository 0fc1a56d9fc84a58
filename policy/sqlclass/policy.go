package sqlclass

import (
	"context"
	"slices"
	"strings"

	"github.com/wardenhq/warden/policy"
)

// Classifier is PostgreSQL's grammar as a policy.Classifier: what a
// connector of a SQL kind hands the gateway. Its Options say how to look
// up what is not built in; Namespace is the schema unqualified names
// resolve to (Warden pins every PostgreSQL session's search_path to it).
type Classifier struct {
	Options
	Schema string
}

// Classify implements policy.Classifier.
func (c *Classifier) Classify(ctx context.Context, req policy.ClassifyRequest) (policy.Facts, error) {
	opts := c.Options
	if req.MaxBytes > 0 {
		opts.MaxBytes = req.MaxBytes
	}
	f, err := Classify(ctx, req.Statement, opts)
	if err != nil {
		return policy.Facts{}, err
	}
	return f.Policy(c.Schema), nil
}

// Namespace implements policy.Classifier.
func (c *Classifier) Namespace() string { return c.Schema }

// Policy returns the facts as policy reads them: tables become resources
// with their schema (defaultSchema for an unqualified name) and name,
// unquoted, and the name as written kept as their Text.
func (f *Facts) Policy(defaultSchema string) policy.Facts {
	out := policy.Facts{
		Parts:     make([]policy.Part, len(f.Statements)),
		Kinds:     kindStrings(f.Kinds),
		Read:      tables(f.TablesRead, defaultSchema),
		Written:   tables(f.TablesWritten, defaultSchema),
		Functions: f.Functions,
		ReadOnly:  f.ReadOnly,
	}
	for i := range f.Statements {
		st := &f.Statements[i]
		pt := policy.Part{
			Kind: string(st.Kind), Kinds: kindStrings(st.Kinds), Tag: st.Tag,
			Functions: st.Functions, Reasons: st.Reasons, Offset: st.Location, Length: st.Length,
		}
		// A statement alone reads and writes the whole's tables (most
		// calls): the parts share the whole's resources.
		if len(f.Statements) == 1 && slices.Equal(st.TablesRead, f.TablesRead) {
			pt.Read = out.Read
		} else {
			pt.Read = tables(st.TablesRead, defaultSchema)
		}
		if len(f.Statements) == 1 && slices.Equal(st.TablesWritten, f.TablesWritten) {
			pt.Written = out.Written
		} else {
			pt.Written = tables(st.TablesWritten, defaultSchema)
		}
		out.Parts[i] = pt
	}
	return out
}

// kindStrings are ks as policy names them: a shared list, never to be
// changed.
func kindStrings(ks []Kind) []string {
	if len(ks) == 0 {
		return nil
	}
	return kindStringLists[setOf(ks)]
}

func tables(names []string, defaultSchema string) []policy.Resource {
	if len(names) == 0 {
		return nil
	}
	out := make([]policy.Resource, len(names))
	for i, n := range names {
		schema, table := splitTable(n, defaultSchema)
		out[i] = policy.Resource{Kind: policy.ResourceTable, Namespace: schema, Name: table, Text: n}
	}
	return out
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
	parts := SplitName(name)
	switch len(parts) {
	case 1:
		return defaultSchema, parts[0]
	case 2:
		return parts[0], parts[1]
	}
	// catalog.schema.table: the catalog is the connection's database.
	return parts[len(parts)-2], parts[len(parts)-1]
}

var _ policy.Classifier = (*Classifier)(nil)
