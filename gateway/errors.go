package gateway

import (
	"errors"
	"fmt"
)

// Code classifies a refused or failed call.
type Code string

// Codes a call can end with.
const (
	CodeInvalidArgument  Code = "invalid_argument"
	CodeNotFound         Code = "not_found"
	CodeDenied           Code = "denied"
	CodeApprovalRequired Code = "approval_required"
	CodeTargetError      Code = "target_error"
	CodeTimeout          Code = "timeout"
	CodeUnavailable      Code = "unavailable"
	CodeInternal         Code = "internal"
)

// Error is a refused or failed call, worded for the agent: what was refused
// and why, and what it may do instead.
type Error struct {
	Code    Code
	Message string
	Hint    string
	// Rule is the policy rule involved, if any.
	Rule string
	// AuditID is the audit event that records the call, if one was written.
	AuditID string
	err     error
}

func (e *Error) Error() string {
	s := e.Message
	if e.Hint != "" {
		s += ". " + e.Hint
	}
	return s
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.err }

// ErrDenied matches every Error with CodeDenied.
var ErrDenied = errors.New("denied by policy")

// Is lets errors.Is(err, ErrDenied) match denials.
func (e *Error) Is(target error) bool { return target == ErrDenied && e.Code == CodeDenied }

func newError(code Code, hint string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Hint: hint}
}

// AsError returns err as an *Error, wrapping unknown errors as internal.
func AsError(err error) *Error {
	var te *Error
	if errors.As(err, &te) {
		return te
	}
	return &Error{Code: CodeInternal, Message: "internal error: " + err.Error(), err: err}
}

// Invalid is the *Error of a call refused for bad input, with its cause.
func Invalid(message string, cause error) *Error {
	return &Error{Code: CodeInvalidArgument, Message: message, err: cause}
}

// NewError builds an *Error with a hint, its message formatted.
func NewError(code Code, hint string, format string, args ...any) *Error {
	return newError(code, hint, format, args...)
}

// WithCause returns e with cause as what it unwraps to.
func (e *Error) WithCause(cause error) *Error {
	e.err = cause
	return e
}
