// Package sqlite is the SQLite connector (modernc.org/sqlite, pure Go).
// A read-only decision runs on a handle opened with mode=ro and
// query_only, so SQLite itself refuses every write; a read-write handle is
// opened only when a decision allows writes.
//
// It must never run a read-only decision on the read-write handle.
package sqlite
