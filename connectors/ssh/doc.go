// Package ssh is the SSH connector: commands on a host, run as a remote
// user the decision grants, logging in with a user certificate Warden's
// CA signs for each session (a fresh in-memory ed25519 key pair, one
// principal, valid for the lease's TTL, bound to Warden's own source
// address, no forwarding). One SSH connection per lease carries the
// session's commands, each in its own channel.
//
// It must never trust a host key it was not given (no trust on first
// use), never put a private key or certificate in an error or log line,
// never write a key to disk, never request port, agent or X11
// forwarding, and never send a command before the gate said yes.
package ssh
