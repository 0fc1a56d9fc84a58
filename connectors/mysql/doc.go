// Package mysql is the MySQL and MariaDB connector (go-sql-driver/mysql).
// Every agent statement runs alone (the client's multi-statement flag is
// off), through the text protocol, with Warden's session settings pinned
// (utf8mb4, sql_mode without ANSI_QUOTES or NO_BACKSLASH_ESCAPES, UTC): the
// text is read by the server as the vitess classifier read it. A
// read-only decision runs with the session's default access mode READ
// ONLY as well as inside START TRANSACTION READ ONLY, so that a statement
// that implicitly commits (DDL) is refused too; every statement is bounded
// by the server's own time limit (MariaDB max_statement_time, MySQL
// max_execution_time) and by a KILL QUERY from Warden's reserve when that
// limit is not enough. Results stream row by row; a read-only result
// abandoned early is killed on the server, not drained. Dial gives the
// wire proxy (proxy/mysql) one connection as a credential, with the same
// settings, through vitess's client.
//
// It must never run an agent's statement on a connection whose session an
// earlier statement may have changed (a connection is reused only after a
// pure read; any other statement closes it), never let the server read a
// file from Warden's host (LOAD DATA LOCAL: no file is ever registered or
// allowed, and the classifier refuses LOAD DATA), and never put a password
// in an error, a log line or a statement a server log could keep (minted
// users get a password hash, never the password).
package mysql
