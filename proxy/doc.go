// Package proxy is front door 2's shared layer: what every wire-protocol
// proxy needs whatever its protocol. Server accepts clients on a listener
// within a connection limit and hands each to its Engine; Tokens issues
// and checks the short-lived login tokens of `warden connect`, keeping
// only verifiers (SCRAM-SHA-256, RFC 5802/7677: SCRAM runs a server's side
// of that exchange; and MySQL's double SHA-1 and SHA-256 hashes, which
// Match checks a MySQL login's answer against); LoadTLS and IsLoopback
// decide how a client may send a secret. One Engine per protocol
// (proxy/postgres, proxy/mysql, proxy/ssh) speaks the protocol and takes
// each operation through the gateway.
//
// This package must never keep a token itself (only verifiers and
// digests), log a secret, or let a client past the connection limit.
package proxy
