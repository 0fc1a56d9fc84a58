// Command bench measures Warden's run_query against the same query sent
// with pgx directly and through the best-known peer (the reference
// PostgreSQL MCP server, @modelcontextprotocol/server-postgres), in one run,
// and prints a table of medians, p99s, throughput and ratios.
//
// It is run by `make bench` (scripts/bench.sh), which starts PostgreSQL and
// installs the peer.
//
// It must never be part of the binary Warden ships, nor point at anything
// but the throwaway servers its scripts start: it creates and drops
// tables and roles.
package main
