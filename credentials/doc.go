// Package credentials is the mint stage: the credential each decided
// operation runs with. A connection with credentials: static runs as its
// configured identity (and every audit event says so); one with
// credentials: jit gets a principal minted by its connector for the
// session and the decision's grants, recorded as a lease before it exists,
// reused while the session uses it, and revoked when the session ends, when
// it idles, when it expires, or, after a crash, by the reaper of the next
// Warden to start. The connector names its principals and turns a decision
// into its kind's grants; this package knows no target kind.
//
// It must never return or log a credential's secret, and never leave a
// principal it minted without a lease that the reaper can find.
package credentials
