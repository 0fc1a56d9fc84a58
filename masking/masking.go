package masking

import (
	"context"
	"errors"
)

// Column is what masking knows about a result column.
type Column struct {
	Name string
	Type string
	// TableOID and Attribute identify the source column when the target
	// reports it; zero for computed columns.
	TableOID  uint32
	Attribute uint16
	// Origin is the source column when the target reports it by name
	// (MySQL's column definition: schema, org_table, org_name); zero for
	// computed columns. Like TableOID it adds to what the statement's
	// lineage finds, never replaces it.
	Origin ColumnName
}

// ColumnName names a column of a relation.
type ColumnName struct {
	Schema, Table, Column string
}

// Request selects the masking that applies to one result.
type Request struct {
	Subject    string
	Groups     []string
	Connection string
	// Profile is the masking profile named by the policy decision; empty
	// means none.
	Profile string
	Columns []Column
	// SQL is the statement the result comes from. Column rules trace
	// computed output columns to their source columns through it; without
	// it, an output the target reports no source for cannot be traced.
	SQL string
	// Sources is the target's catalog, when its connector has one
	// (PostgreSQL). Without it, column rules cannot be enforced and a
	// result they would apply to is refused.
	Sources SourceResolver
}

// Masker builds the row masker for a result.
type Masker interface {
	// For returns the masker of one result, before any of its rows is
	// read. An error wrapping ErrRefused means no masking of this result
	// can be sound (an output column computed from a masked column): the
	// caller must not return any of its rows, and may show the error to
	// the caller, whom it names the column and why. Any other error is a
	// technical failure, which must refuse the call too.
	For(ctx context.Context, req Request) (RowMasker, error)
}

// ErrRefused matches the errors of results masking refuses to let through.
var ErrRefused = errors.New("masking refused the result")

// RefusedError says which output column masking cannot make safe, and why.
// It names columns, never values.
type RefusedError struct {
	// Column is the output column's name as the result reports it.
	Column string
	// Reason is a sentence an agent can act on.
	Reason string
}

func (e *RefusedError) Error() string { return e.Reason }

// Is makes errors.Is(err, ErrRefused) match.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// RowMasker masks rows of one result, in place.
type RowMasker interface {
	// MaskRow rewrites sensitive values of one row in place.
	MaskRow(values []any)
	// Summary reports how many values were masked, by column or entity
	// kind. It never contains a value.
	Summary() map[string]int64
}

// None masks nothing. It is the masker when no profile is configured.
type None struct{}

// For implements Masker.
func (None) For(context.Context, Request) (RowMasker, error) { return noop{}, nil }

type noop struct{}

func (noop) MaskRow([]any)             {}
func (noop) Summary() map[string]int64 { return nil }

var _ Masker = None{}

// Noop is the row masker that changes nothing (a result no profile
// applies to).
func Noop() RowMasker { return noop{} }
