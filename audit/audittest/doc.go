// Package audittest is the contract suite every audit backend must pass:
// Run(t, newStore) drives an audit.Store through its interface only —
// intents and outcomes, refused calls, reads under every filter and page,
// session recordings, leases and instances — and checks the rules
// audit's interfaces state. RunLog(t, signer, newStore) is the contract
// of a store that keeps an audit log (auditlog.Store): what it writes
// verifies, checkpoints and exports.
//
// It must never reach into a backend (no SQL, no files): what it checks
// holds for every store, and a backend's own layout (journals, runs, WAL)
// is tested in the backend's package. It is imported by tests only.
package audittest
