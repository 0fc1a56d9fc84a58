// Package audit is Warden's record of what happened, independent of where
// it is kept: one Event per governed operation (an MCP tool call, or a
// statement or command arriving on a proxy port), allowed or not; the
// leases of just-in-time credentials and the Warden instances holding
// them; and the contracts a backend implements (store.go): Recorder (with
// its Intent), Reader, LeaseStore, and Store, all of them. Backends live in
// their own packages (audit/sqlite) and pass the contract suite in
// audit/audittest.
//
// The pipeline writes an event twice: the intent before the operation runs
// (Recorder.Begin, or BeginAsync on the hot path, whose Intent the
// operation's gate waits for) and the outcome after (Finish, or
// Intent.Complete). A crash therefore never hides an operation that
// reached a target. Record stores an operation that never ran (a refused
// call) in one step.
//
// This package holds types, rules and event IDs only: it opens no file and
// no connection, and imports no backend.
//
// What no store may ever do:
//
//   - Store a secret. Events arrive already redacted (arguments, statement,
//     error text); a store adds nothing of its own to them (no environment,
//     no connection strings, no credential values; the name of the process
//     that wrote an event at most) and logs no event content. A
//     credential is recorded by name ("static" or a lease ID).
//   - Lose an intent. A write returns nil only once it is durable; a write
//     that cannot be made durable (disk full, read-only, file removed,
//     database unreachable) gets the error, and the caller must refuse the
//     operation. It never hangs and never reports success it does not
//     have.
//   - Overwrite an outcome with Intent.Complete: the first outcome of an
//     intent stands (but for StatusInterrupted, which says the outcome is
//     unknown).
//   - Leave an event running after the process that ran it is gone: a
//     store closes such events as StatusInterrupted when it opens.
package audit
