package masking

import "context"

// SourceResolver describes a target's relations and functions so that
// masking can trace result columns to the columns they come from. A
// connector implements it from its catalog (PostgreSQL: pg_class,
// pg_attribute, pg_namespace, pg_inherits, pg_proc); masking caches the
// answers for a short time, so an implementation need not.
type SourceResolver interface {
	// Sources answers every question of req in one call. A relation or
	// function that does not exist is left out of the answer; that is not
	// an error. An error is only for a technical failure, and refuses the
	// result being masked.
	Sources(ctx context.Context, req SourcesRequest) (SourcesResponse, error)
}

// SourcesRequest asks about relations and functions.
type SourcesRequest struct {
	// OIDs are relations by identifier: the table OIDs a result's
	// RowDescription reports.
	OIDs []uint32
	// Relations are relation names as a query writes them. An empty
	// Schema means the session's search path: pg_catalog, then the
	// connection's default schema.
	Relations []Name
	// Functions are unqualified function names, resolved through the
	// same search path.
	Functions []string
}

// Name is a relation name as written: Schema is empty when unqualified.
// Both are as the catalog stores them (unquoted identifiers lower-case).
type Name struct {
	Schema string
	Name   string
}

func (n Name) String() string {
	if n.Schema == "" {
		return n.Name
	}
	return n.Schema + "." + n.Name
}

// SourcesResponse answers a SourcesRequest.
type SourcesResponse struct {
	// ByOID describes the relations of SourcesRequest.OIDs that exist.
	ByOID map[uint32]Relation
	// ByName describes the relations of SourcesRequest.Relations that
	// exist, keyed by the name as asked.
	ByName map[Name]Relation
	// UserFunctions is true for each function of SourcesRequest.Functions
	// that the search path can resolve to a function outside the system
	// schemas and outside any extension: code masking cannot see into,
	// which may read any table.
	UserFunctions map[string]bool
}

// Relation is a table, view or other relation of the target.
type Relation struct {
	OID    uint32
	Schema string
	Name   string
	// Kind is pg_class.relkind: 'r' table, 'p' partitioned table, 'v'
	// view, 'm' materialized view, 'f' foreign table, ...
	Kind byte
	// Columns are the column names by attribute number (Columns[0] is
	// attribute 1); a dropped column is "".
	Columns []string
	// Ancestors are the tables this one inherits from or is a partition
	// of, nearest first: a column rule on a parent table covers its
	// partitions and children.
	Ancestors []Name
	// Query is the defining query of a view or materialized view, with
	// every relation outside pg_catalog schema-qualified.
	Query string
}

// Relation kinds masking treats specially.
const (
	KindView             = 'v'
	KindMaterializedView = 'm'
)
