// Package audit is Warden's record of what happened: one Event per governed
// operation (an MCP tool call, or a statement or command arriving on a proxy
// port), allowed or not, kept in an embedded SQLite file.
//
// The pipeline writes an event twice. Begin records the intent before the
// operation runs and returns only once it is committed; BeginAsync, the hot
// path, returns once the intent is in the process's intent journal
// (journal.go), which a Warden opening the store replays if this one died.
// Finish records the outcome. A crash therefore never hides an operation
// that reached a target. Record stores an operation that never ran (a
// denied call) in one step. Writes are committed in groups by a single
// writer goroutine, so concurrent callers share transactions; reads (Get,
// List) use their own connections.
//
// The schema lives in migrations/, applied in order by Open. Other stores
// that keep their tables in the same file (leases, approvals) add their
// migrations there and use DB.
//
// What this package must never do:
//
//   - Store a secret. Events arrive already redacted (arguments, statement,
//     error text); the store adds nothing of its own to them (no environment,
//     no connection strings, no credential values) and logs no event
//     content. A credential is recorded by name ("static" or a lease ID).
//   - Lose an intent. A write returns nil only once it is durable: its
//     transaction committed, or, for BeginAsync, the intent in the journal;
//     a write that cannot be made durable (disk full, read-only, file
//     removed) gets the error, and the caller must refuse the operation. It
//     never hangs and never reports success it does not have.
package audit
