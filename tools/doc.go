// Package tools is front door 1's catalogue: the MCP tools Warden offers
// (list_connections, describe_schema, run_query, approval_status,
// await_approval), as a registry table of Tool entries (Builtin). Adding a
// tool is adding one entry: its name, schemas and hints (Describe), the
// connector capability it needs, and its Run. A tool that reaches a target
// is: authorize (gateway.Session.Authorize), the connector's call, finish
// (gateway.Grant.Finish); the pipeline itself is package gateway's.
//
// This package must never reach a target except through a Grant, and
// never let a failure turn into an allow: every failure refuses the call.
package tools
