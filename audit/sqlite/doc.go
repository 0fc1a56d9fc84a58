// Package sqlite is the audit store in one embedded SQLite file
// (modernc.org/sqlite, WAL mode): an audit.Store. Open takes the store's
// DSN (sqlite://PATH or a file path).
//
// Intents written by BeginAsync, and their outcomes (Intent.Complete), go
// first to the process's intent journal (journal.go), which a Warden
// opening the store replays if this one died; it then closes the events
// still running of processes that are gone as interrupted
// (interrupted.go). Begin, Finish and Record return once committed. Writes are committed in
// groups by a single writer goroutine (writer.go, commit.go), so
// concurrent callers share transactions; the complete events of one
// session in a batch are stored as one row of event_runs (runs.go). Reads
// (Get, List: query.go) use their own connections and read runs and
// single events alike.
//
// Every transaction that writes events or recording chunks appends their
// leaves to the audit log (log.go, package auditlog) with a signed head;
// checkpoint.go keeps checkpoints, verify.go and export.go check and
// export the log.
//
// The schema of the audit tables (events, event runs, leases, instances,
// recording chunks, the log) lives in migrations/, applied in order by Open. Other stores that keep
// their tables in the same file (approvals/sqlite) use DB and own their
// migrations.
//
// What this package must never do:
//
//   - Store a secret. Events arrive already redacted; the store adds
//     nothing of its own to them but the name of the process that wrote
//     them (host, PID, start), and logs no event content.
//   - Lose an intent. A write returns nil only once it is durable: its
//     transaction committed, or, for BeginAsync, the intent in the journal;
//     a write that cannot be made durable (disk full, read-only, file
//     removed) gets the error, and the caller must refuse the operation. It
//     never hangs and never reports success it does not have.
//   - Import a front door or the pipeline: it knows audit's types only.
package sqlite
