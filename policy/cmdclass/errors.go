package cmdclass

import (
	"errors"
	"fmt"

	"github.com/wardenhq/warden/policy"
)

// Sentinel errors. Every error Classify returns for bad or unknown input
// is an *Error that unwraps to one of these, and matches
// policy.ErrNotUnderstood; callers must treat either as a denial.
var (
	// ErrUnparseable: the text is not a command line bash would accept
	// (syntax error, empty input, NUL byte, invalid UTF-8, too long).
	ErrUnparseable = errors.New("cmdclass: unparseable command line")
	// ErrUnsupported: the text parses, but holds a construct whose effect
	// cannot be known before the host runs it (eval, sh -c, an expansion
	// in the program's place, ...), or one the classifier refuses.
	ErrUnsupported = errors.New("cmdclass: unsupported shell construct")
)

// Error says why a command line could not be classified.
type Error struct {
	// Construct names what was refused ("eval", "background job",
	// "command substitution"); empty for a parse error.
	Construct string
	// Reason explains it. It names programs, variables and constructs,
	// never the values of arguments (which may hold secrets).
	Reason string
	// Offset is the byte offset in the input, or -1 when unknown.
	Offset int

	sentinel error
}

func (e *Error) Error() string {
	if e.sentinel == ErrUnsupported {
		msg := "refused shell construct " + e.Construct
		if e.Reason != "" {
			msg += ": " + e.Reason
		}
		if e.Offset >= 0 {
			msg += fmt.Sprintf(" (at offset %d)", e.Offset)
		}
		return msg
	}
	if e.Offset >= 0 {
		return fmt.Sprintf("cannot parse command line at offset %d: %s", e.Offset, e.Reason)
	}
	return "cannot parse command line: " + e.Reason
}

// Unwrap returns ErrUnparseable or ErrUnsupported.
func (e *Error) Unwrap() error { return e.sentinel }

// Is lets errors.Is(err, policy.ErrNotUnderstood) match every Error: the
// command line is refused as one the classifier cannot vouch for.
func (e *Error) Is(target error) bool { return target == policy.ErrNotUnderstood }

func unparseable(off int, reason string) *Error {
	return &Error{Reason: reason, Offset: off, sentinel: ErrUnparseable}
}

func refuse(construct string, off int, reason string) *Error {
	return &Error{Construct: construct, Reason: reason, Offset: off, sentinel: ErrUnsupported}
}
