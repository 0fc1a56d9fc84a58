// Package sqlite is the SQLite connector (modernc.org/sqlite, pure Go).
// A read-only decision runs on a handle opened with mode=ro and
// query_only, so SQLite itself refuses every write; a read-write handle is
// opened only when a decision allows writes. Every connection of both
// handles carries an authorizer that refuses ATTACH (and so VACUUM INTO),
// and on the read-only handle any PRAGMA query_only: ATTACH would open the
// target again read-write, or create files on the Warden host.
//
// It must never run a read-only decision on the read-write handle.
package sqlite
