// Package builtin is the table of the MCP tools this build has
// (list_connections, describe_schema, run_query, the approval tools), in
// one place, with no init() side effects. It must not hold tool logic: an
// entry's code lives in its tool's package.
package builtin
