// Package postgres is Warden's PostgreSQL wire-protocol front door: psql,
// pgx, pgbench and any other client speak the PostgreSQL protocol to it,
// and every statement they send goes through the same pipeline as an MCP
// run_query call (a gateway.Session per client connection; Authorize and
// Grant.Finish per execution): identify, decide, hold, mint,
// execute, mask, record.
//
// A client logs in with a Warden access token as its password (an OIDC
// access token, cleartext over TLS; or a token from `warden connect`, by
// SCRAM-SHA-256). Its database name picks a configured postgres
// connection. The proxy then opens its own upstream connection as the
// just-in-time role minted for the client connection (revoked when it
// disconnects), and relays the protocol: simple and extended queries,
// with statements classified once at Parse, decided per execution, run in
// a transaction that is read-only when the decision says so, and result
// rows masked before they leave.
//
// The proxy owns the shape of transactions: a client's BEGIN, COMMIT,
// ROLLBACK and SAVEPOINT are carried out by the proxy, never forwarded as
// the client wrote them, so a client cannot end the read-only transaction
// a statement runs in (docs/proxy.md).
//
// A client's messages are framed by the proxy (reader.go) before pgproto3
// decodes them, so that a message's memory is taken as its bytes arrive
// and bounded by Options.MaxMessageBytes; a malformed one is answered
// FATAL 08P01 saying what was wrong, as PostgreSQL answers it.
//
// This package must never forward a statement before the pipeline
// released it and its audit intent is durable, never log a password,
// token or protocol message (pgproto3's PasswordMessage prints its
// content), never take memory for a message from what its length field
// claims, and never let a row reach the client unmasked.
package postgres
