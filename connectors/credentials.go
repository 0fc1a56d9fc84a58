package connectors

import (
	"context"
	"time"
)

// Credentialer is implemented by connectors that can issue just-in-time
// credentials: a principal on the target (a database role, ...) that
// exists only for one session and holds only what a decision allows.
type Credentialer interface {
	// Mint creates the principal named after req.Lease with exactly
	// req.Grants, valid for req.TTL, and returns its credential. The
	// secret is random, never logged and never returned in an error. On
	// error nothing may be left behind that Revoke could not remove.
	Mint(ctx context.Context, req MintRequest) (MintResponse, error)
	// Revoke ends every session of the principal, removes what it holds
	// and deletes it. It must not fail if the principal is already gone:
	// revoking twice is fine.
	Revoke(ctx context.Context, req RevokeRequest) error
}

// Grants say what a minted principal may do. A principal gets nothing
// else: no CREATE on any schema, no membership but Role.
type Grants struct {
	// ReadOnly: SELECT only. Otherwise INSERT, UPDATE and DELETE on the
	// tables Write covers, too.
	ReadOnly bool
	// Read and Write are table globs ("public.*", "sales.orders", "t");
	// an unqualified pattern means the connection's default schema. Empty
	// Read means every table; empty Write (when !ReadOnly) every table.
	Read, Write []string
	// Role, if set, replaces table grants with membership in this
	// existing role.
	Role string
}

// MintRequest asks for a new credential.
type MintRequest struct {
	// Lease identifies the credential; the principal's name derives from
	// it. Lower-case letters and digits only.
	Lease  string
	Grants Grants
	TTL    time.Duration
	// ConnectionLimit bounds the principal's concurrent sessions.
	ConnectionLimit int
}

// MintResponse is a minted credential.
type MintResponse struct {
	Credential Credential
	Expires    time.Time
	// Summary describes the grants for the audit trail, without secrets.
	Summary string
}

// RevokeRequest names the credential to revoke.
type RevokeRequest struct {
	Lease string
	// Principal is the name Mint gave the principal.
	Principal string
}
