// Package sqlitemigrate applies the embedded SQL migrations of the stores
// that keep tables in a SQLite file (audit/sqlite, approvals/sqlite), each
// store with its own set and its own table of applied versions, so that
// several stores can share one file without sharing a version sequence.
//
// It must never edit or skip a released migration, apply one twice (also
// when two processes open the file at once), or run a database whose
// schema is newer than the binary knows.
package sqlitemigrate
