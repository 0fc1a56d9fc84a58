// Command bench measures Warden against direct connections and the
// best-known peers, and prints tables of latency, throughput, CPU per
// operation and ratios:
//
//   - run_query over MCP against the same query sent with pgx directly
//     and through the reference PostgreSQL MCP server,
//     @modelcontextprotocol/server-postgres (the default);
//   - the PostgreSQL wire proxy with pgbench, against direct, PgBouncer
//     and a Go byte relay (-pgbench);
//   - exec_ssh's per-call cost against x/crypto/ssh direct, and a 100 MB
//     cat through exec_ssh and the SSH proxy with every detector on,
//     against OpenSSH's ssh direct and an x/crypto/ssh relay (-ssh).
//
// It is run by `make bench` (scripts/bench.sh), which starts PostgreSQL
// and the test sshd and installs the peers.
//
// It must never be part of the binary Warden ships, nor point at anything
// but the throwaway servers its scripts start: it creates and drops
// tables and roles, and writes a file on the SSH host.
package main
