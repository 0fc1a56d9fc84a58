package identity

import (
	"errors"
	"net/http"
	"strings"
)

// Error codes of RFC 6750 §3.1, for the WWW-Authenticate challenge.
const (
	CodeInvalidRequest    = "invalid_request"
	CodeInvalidToken      = "invalid_token"
	CodeInsufficientScope = "insufficient_scope"
)

// MaxTokenBytes bounds the bearer tokens Warden reads. Real access tokens
// are a few kilobytes; anything larger is refused before it is parsed.
const MaxTokenBytes = 16 << 10

// ErrInsufficientScope means the caller is authenticated but its token
// lacks a scope the resource requires (HTTP 403).
var ErrInsufficientScope = errors.New("insufficient scope")

// ErrUnavailable means the caller could not be identified for a technical
// reason (the identity provider cannot be reached): not the caller's fault,
// and not a refusal of its credentials (HTTP 503).
var ErrUnavailable = errors.New("identity provider unavailable")

// TokenError is a refused request, in the terms of RFC 6750 §3.1: what a
// front door may tell the caller (Code, Description, Scopes) and, for logs
// only, why (Cause). It never holds the token.
type TokenError struct {
	// Code is CodeInvalidRequest, CodeInvalidToken or CodeInsufficientScope,
	// or "" when the request carried no credentials at all.
	Code string
	// Description says what is wrong, for the caller.
	Description string
	// Scopes are the scopes required, for CodeInsufficientScope.
	Scopes []string
	// Issuer is the issuer the token named, when known (for logs; it is
	// only what the caller claimed unless Code is CodeInsufficientScope).
	Issuer string
	// Cause is the detail of a validation failure, for logs.
	Cause error
}

func (e *TokenError) Error() string {
	if e.Cause != nil {
		return e.Description + ": " + e.Cause.Error()
	}
	return e.Description
}

// Unwrap makes errors.Is(err, ErrUnauthenticated) (or ErrInsufficientScope)
// and the cause visible.
func (e *TokenError) Unwrap() []error {
	sentinel := ErrUnauthenticated
	if e.Code == CodeInsufficientScope {
		sentinel = ErrInsufficientScope
	}
	if e.Cause != nil {
		return []error{sentinel, e.Cause}
	}
	return []error{sentinel}
}

// HasCredentials reports whether r tries to authenticate: an Authorization
// header, or a token in the query string (which BearerToken refuses).
func HasCredentials(r *http.Request) bool {
	return len(r.Header.Values("Authorization")) > 0 || r.URL.Query().Has("access_token")
}

// BearerToken returns the bearer token of r's Authorization header, "" when
// r carries no credentials. A token is accepted only there (RFC 6750 §2.1),
// as the MCP authorization specification requires: one in the query string
// is refused, since URLs end up in logs and browser histories.
func BearerToken(r *http.Request) (string, error) {
	if r.URL.Query().Has("access_token") {
		return "", &TokenError{Code: CodeInvalidRequest, Description: "access tokens are accepted only in the Authorization header, never in the URL"}
	}
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", &TokenError{Code: CodeInvalidRequest, Description: "the request has several Authorization headers"}
	}
	return parseBearer(values[0])
}

// parseBearer parses the value of an Authorization header: the scheme
// "Bearer" (any case), one or more spaces, and a b64token (RFC 6750 §2.1).
func parseBearer(h string) (string, error) {
	scheme, rest, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", &TokenError{Code: CodeInvalidRequest, Description: "only Bearer tokens are accepted in the Authorization header"}
	}
	token := strings.TrimLeft(rest, " ")
	switch {
	case token == "":
		return "", &TokenError{Code: CodeInvalidRequest, Description: "the Authorization header has no token"}
	case len(token) > MaxTokenBytes:
		return "", &TokenError{Code: CodeInvalidToken, Description: "the token is too large"}
	case !isB64Token(token):
		return "", &TokenError{Code: CodeInvalidRequest, Description: "the token has characters a bearer token cannot have"}
	}
	return token, nil
}

// isB64Token reports whether s is 1*( ALPHA / DIGIT / "-" / "." / "_" / "~"
// / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+/", c) >= 0) {
			break
		}
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}
