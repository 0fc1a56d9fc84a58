package connectors

import (
	"context"
	"encoding/json"
	"time"

	"github.com/wardenhq/warden/policy"
)

// Credentialer is implemented by connectors that can issue just-in-time
// credentials: a principal on the target (a database role, ...) that
// exists only for one session and holds only what a decision allows.
type Credentialer interface {
	// Grants turns a decision into what a principal minted for it may do
	// on this target, in the connector's own kind of Grants. An error
	// means no credential can be minted for the decision.
	Grants(d policy.Decision) (Grants, error)
	// Principal is the name of the principal minted for lease: the mint
	// stage records it before the principal exists, so that the reaper
	// can find what a crash left behind. It must not block.
	Principal(lease string) string
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

// Grants say what a minted principal may do; each capability has its own
// kind (SQLGrants now). Key identifies equal grants: a session's
// credential is reused for calls whose grants are equal.
type Grants interface {
	Key() string
}

// SQLGrants are the grants of a database principal. It gets nothing
// else: no CREATE on any schema, no membership but Role.
type SQLGrants struct {
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

// Key implements Grants.
func (g SQLGrants) Key() string {
	b, _ := json.Marshal(g)
	return "sql" + string(b)
}

// SQLGrantsFor are the grants of a SQL principal minted for d: the rule's
// read-only mode, table scopes and role.
func SQLGrantsFor(d policy.Decision) SQLGrants {
	return SQLGrants{ReadOnly: d.ReadOnly, Read: d.Read, Write: d.Write, Role: d.GrantRole}
}

// ScopedGranter is a Credentialer whose principals are scoped to the
// operation, not only to the decision's rule (Kubernetes: a Role of
// exactly the verbs, resources and namespaces the call needs). The mint
// stage calls ScopedGrants instead of Grants when the operation says
// what it needs; the result must never exceed what need asks for.
type ScopedGranter interface {
	// ScopedGrants checks need (the connector's own kind of Grants, built
	// by the front door from the classified operation) against d and the
	// connection's limits and returns the grants to mint. An error means
	// no credential may be minted for it.
	ScopedGrants(d policy.Decision, need Grants) (Grants, error)
}

// KubeGrants are the grants of a Kubernetes ServiceAccount minted for
// one operation: RBAC rules, each exact (no "*", never escalate, bind or
// impersonate).
type KubeGrants struct {
	Rules []KubeRule
}

// KubeRule is one RBAC rule: Verbs on Resource (with its subresource,
// "pods/log") of Group, in Namespace ("" for cluster scope), limited to
// Names when set.
type KubeRule struct {
	Namespace string   `json:"namespace,omitempty"`
	Group     string   `json:"group"`
	Resource  string   `json:"resource"`
	Names     []string `json:"names,omitempty"`
	Verbs     []string `json:"verbs"`
}

// Key implements Grants.
func (g KubeGrants) Key() string {
	b, _ := json.Marshal(g)
	return "kube" + string(b)
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

// BatchRevoker is a Credentialer that revokes many leases in one go (a
// shutdown, a session table's sweep): far cheaper where the target
// serialises revocations (PostgreSQL's grants take one lock). RevokeAll
// returns nil only if every lease is revoked; on an error the caller
// revokes them one by one to learn which failed.
type BatchRevoker interface {
	RevokeAll(ctx context.Context, reqs []RevokeRequest) error
}

// SSHGrants are the grants of a host login: the one principal (remote
// user) the certificate names, and whether it may ask for a pty.
type SSHGrants struct {
	Principal string
	PTY       bool
}

// Key implements Grants.
func (g SSHGrants) Key() string {
	b, _ := json.Marshal(g)
	return "ssh" + string(b)
}
