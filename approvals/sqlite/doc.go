// Package sqlite is the approval store in a SQLite file: an
// approvals.Store over tables that share the file of the audit store
// (audit/sqlite), through its pool. New applies the package's own
// migrations (migrations/, recorded in approvals_schema_migrations).
//
// Every change of state is one conditional statement or one IMMEDIATE
// transaction, so that several Warden processes sharing the file never
// both win a race: a request is released once, expired once, decided once
// per approver.
//
// What this package must never do: release a request that is not
// approved, expired or bound to another digest; store a cookie instead of
// its hash; touch the audit tables; import a front door or the pipeline.
package sqlite
