package identity

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// Principal is an authenticated caller.
type Principal struct {
	Subject string
	Groups  []string
	// Issuer says how the principal was established: "local" for stdio,
	// "anonymous-loopback", or an OIDC issuer URL.
	Issuer string
	// TokenID is the identifier of the token used (its jti claim), never
	// the token itself. Empty for local principals.
	TokenID string
	// Expires is when the credential that established the principal stops
	// being valid; zero when it does not expire (local principals).
	Expires time.Time
}

// InGroup reports whether the principal is a member of group.
func (p Principal) InGroup(group string) bool {
	for _, g := range p.Groups {
		if g == group {
			return true
		}
	}
	return false
}

// ErrUnauthenticated means the caller presented no acceptable credentials.
var ErrUnauthenticated = errors.New("unauthenticated")

// Identifier establishes who sent an HTTP request.
type Identifier interface {
	// IdentifyHTTP returns the principal for r, or an error wrapping
	// ErrUnauthenticated when r carries no acceptable credentials.
	IdentifyHTTP(ctx context.Context, r *http.Request) (Principal, error)
}

// Directory maps static identity names to their groups.
type Directory map[string][]string

// Principal returns the local principal for name.
func (d Directory) Principal(name, issuer string) Principal {
	return Principal{Subject: name, Groups: append([]string(nil), d[name]...), Issuer: issuer}
}

// Loopback identifies HTTP clients connecting from a loopback address
// without credentials as a fixed local identity. It exists for demos and
// local use. A request that carries credentials is identified by Tokens
// (refused when Tokens is nil); one without credentials from elsewhere is
// refused.
type Loopback struct {
	Principal Principal
	// Tokens identifies requests that carry credentials; nil refuses them.
	Tokens Identifier
}

// IdentifyHTTP implements Identifier.
func (l Loopback) IdentifyHTTP(ctx context.Context, r *http.Request) (Principal, error) {
	if HasCredentials(r) {
		if l.Tokens != nil {
			return l.Tokens.IdentifyHTTP(ctx, r)
		}
		return Principal{}, &TokenError{Code: CodeInvalidToken, Description: "bearer tokens are not accepted: no identity provider is configured"}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return Principal{}, &TokenError{Description: "a bearer token is required (anonymous access is allowed only from loopback addresses)"}
	}
	return l.Principal, nil
}

// Refuse identifies no one: used when no identity provider is configured.
type Refuse struct{}

// IdentifyHTTP implements Identifier.
func (Refuse) IdentifyHTTP(context.Context, *http.Request) (Principal, error) {
	return Principal{}, &TokenError{Description: "no identity provider is configured for HTTP"}
}

type ctxKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal stored by WithPrincipal.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

var (
	_ Identifier = Loopback{}
	_ Identifier = Refuse{}
)
