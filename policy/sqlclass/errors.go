package sqlclass

import (
	"errors"
	"fmt"

	"github.com/wardenhq/warden/policy"
)

// Sentinel errors. Every error Classify returns for bad or unknown input is
// an *Error that unwraps to one of these; callers branch with errors.Is and
// must treat either as a denial.
var (
	// ErrUnparseable: the text is not SQL PostgreSQL would accept (syntax
	// error, empty input, NUL byte, invalid UTF-8).
	ErrUnparseable = errors.New("sqlclass: unparseable SQL")
	// ErrUnsupported: the text parses, but contains a construct the
	// classifier does not understand well enough to vouch for.
	ErrUnsupported = errors.New("sqlclass: unsupported SQL construct")
)

// Error says why a statement could not be classified.
type Error struct {
	// Construct names the parse-tree node that was not understood (for
	// example "AlterSystemStmt"); empty for a parse error.
	Construct string
	// Reason is the parser's message or the classifier's explanation. It
	// never contains literal values from the SQL beyond what the
	// PostgreSQL parser itself quotes in a syntax error.
	Reason string
	// Location is the byte offset in the input, or -1 when unknown.
	Location int

	sentinel error
}

func (e *Error) Error() string {
	if e.sentinel == ErrUnsupported {
		msg := fmt.Sprintf("unsupported SQL construct %q", e.Construct)
		if e.Reason != "" {
			msg += ": " + e.Reason
		}
		if e.Location >= 0 {
			msg += fmt.Sprintf(" (at offset %d)", e.Location)
		}
		return msg
	}
	if e.Location >= 0 {
		return fmt.Sprintf("cannot parse SQL at offset %d: %s", e.Location, e.Reason)
	}
	return "cannot parse SQL: " + e.Reason
}

// Unwrap returns ErrUnparseable or ErrUnsupported.
func (e *Error) Unwrap() error { return e.sentinel }

// Is lets errors.Is(err, policy.ErrNotUnderstood) match every Error (the
// statement is refused as one the classifier cannot vouch for), and
// policy.ErrSyntax one that does not parse.
func (e *Error) Is(target error) bool {
	return target == policy.ErrNotUnderstood || target == policy.ErrSyntax && e.sentinel == ErrUnparseable
}

func unparseable(loc int, reason string) *Error {
	return &Error{Reason: reason, Location: loc, sentinel: ErrUnparseable}
}

func unsupported(construct string, loc int, reason string) *Error {
	return &Error{Construct: construct, Reason: reason, Location: loc, sentinel: ErrUnsupported}
}

// NewUnparseableError returns an *Error that unwraps to ErrUnparseable, for
// classifiers of other SQL dialects (policy/sqlclass/mysql) that report
// through the same types. loc is a byte offset in the input, or -1.
func NewUnparseableError(loc int, reason string) *Error { return unparseable(loc, reason) }

// NewUnsupportedError returns an *Error that unwraps to ErrUnsupported,
// naming the construct that was not understood, for classifiers of other
// SQL dialects. loc is a byte offset in the input, or -1.
func NewUnsupportedError(construct string, loc int, reason string) *Error {
	return unsupported(construct, loc, reason)
}
