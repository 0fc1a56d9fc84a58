// Package auditlog is the tamper-evident log of an audit store: an
// append-only Merkle tree (RFC 6962, as golang.org/x/mod/sumdb/tlog
// computes it) whose leaves are audit events as each commit left them
// and session-recording chunks, and signed statements of the tree's size
// and root hash (tree heads and checkpoints, in the note format of
// golang.org/x/mod/sumdb/note, C2SP tlog-checkpoint text).
//
// It defines what a leaf is (leaf.go), the compact range a writer keeps
// to extend the tree (frontier.go), tree heads (head.go), keys
// (key.go), the verification report (report.go) and exports that a
// verifier without the store can check (export.go). It stores nothing:
// a backend (audit/sqlite) keeps the leaves, heads and checkpoints, and
// implements Store.
//
// What this package must never do:
//
//   - Put a secret in a leaf, a head or an export: leaves are events as
//     stored (already redacted) and hashes of recording chunks; a signing
//     key never appears in an error or a log line.
//   - Accept what it cannot check: a head whose signature fails, a proof
//     that does not lead to the signed root, an export line it cannot
//     parse, is a problem reported, never skipped.
package auditlog
