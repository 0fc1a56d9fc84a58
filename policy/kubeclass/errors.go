package kubeclass

import (
	"errors"
	"fmt"

	"github.com/wardenhq/warden/policy"
)

// Sentinel errors. Every error Manifest returns is an *Error that unwraps
// to one of these and matches policy.ErrNotUnderstood: the manifest must
// be refused, and nothing of it sent.
var (
	// ErrSyntax: the manifest is not YAML or JSON (it also matches
	// policy.ErrSyntax).
	ErrSyntax = errors.New("kubeclass: manifest does not parse")
	// ErrRefused: the manifest parses, but holds a construct Warden
	// refuses (an anchor, a duplicate key, a document kubectl would read
	// otherwise) or an object it cannot place (an unknown kind, a
	// namespace on a cluster-scoped kind, no name).
	ErrRefused = errors.New("kubeclass: manifest refused")
)

// Error says why a manifest was refused.
type Error struct {
	// Document is the 1-based document of the manifest the error is in
	// (an item of a List counts as its List's document); 0 for the
	// manifest as a whole.
	Document int
	// Line is the 1-based line in the manifest, or 0 when unknown.
	Line int
	// Path is the field ("spec.template.metadata"), when known.
	Path string
	// Reason explains it. It names kinds, fields and keys, never the
	// values of fields (a Secret's data).
	Reason string

	sentinel error
}

func (e *Error) Error() string {
	msg := "manifest"
	if e.Document > 0 {
		msg += fmt.Sprintf(" document %d", e.Document)
	}
	if e.Line > 0 {
		msg += fmt.Sprintf(" (line %d)", e.Line)
	}
	if e.Path != "" {
		msg += " at " + e.Path
	}
	if e.sentinel == ErrSyntax {
		return "cannot parse " + msg + ": " + e.Reason
	}
	return "refused " + msg + ": " + e.Reason
}

// Unwrap returns ErrSyntax or ErrRefused.
func (e *Error) Unwrap() error { return e.sentinel }

// Is lets errors.Is(err, policy.ErrNotUnderstood) match every Error, and
// policy.ErrSyntax a syntax error.
func (e *Error) Is(target error) bool {
	return target == policy.ErrNotUnderstood || (target == policy.ErrSyntax && e.sentinel == ErrSyntax)
}

func syntaxErr(doc, line int, format string, args ...any) *Error {
	return &Error{Document: doc, Line: line, Reason: fmt.Sprintf(format, args...), sentinel: ErrSyntax}
}

func refused(doc, line int, path, format string, args ...any) *Error {
	return &Error{Document: doc, Line: line, Path: path, Reason: fmt.Sprintf(format, args...), sentinel: ErrRefused}
}
