package masking

import "context"

// Column is what masking knows about a result column.
type Column struct {
	Name string
	Type string
	// TableOID and Attribute identify the source column when the target
	// reports it; zero for computed columns.
	TableOID  uint32
	Attribute uint16
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
}

// Masker builds the row masker for a result.
type Masker interface {
	For(ctx context.Context, req Request) (RowMasker, error)
}

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
