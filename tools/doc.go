// Package tools is front door 1's catalogue: the Tool entry every MCP tool
// is (its name, schemas and hints, the connector capability it needs, and
// its Run), the Catalogue front doors call, and the tools that are on no
// connection (list_connections, approval_status, await_approval). The
// tools of a capability live in a package of their own (tools/sql:
// run_query, describe_schema); the table of the build's tools is
// tools/builtin. A tool that reaches a target is: authorize
// (gateway.Session.Authorize), the connector's call, finish
// (gateway.Grant.Finish); the pipeline itself is package gateway's.
//
// This package must never reach a target except through a Grant, and
// never let a failure turn into an allow: every failure refuses the call.
package tools
