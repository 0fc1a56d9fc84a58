// Package postgres is the PostgreSQL connector: a pgx connection pool per
// connection, statements run through the extended protocol (one statement
// per call, never a multi-statement string) inside a transaction that is
// READ ONLY when the decision says so, bounded by SET LOCAL
// statement_timeout, with results streamed in text format.
//
// It must never run an agent's statement outside such a transaction, never
// use the simple query protocol for an agent's SQL (which would let
// "SELECT 1; DELETE ..." run both), and never include the password in an
// error or log line.
package postgres
