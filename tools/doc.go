// Package tools is Warden's one pipeline and the catalogue of governed
// operations (list_connections, describe_schema, run_query, ...). Both front
// doors, the MCP server and the wire-protocol proxy, call it; neither
// reimplements any step.
//
// Every call goes through the same stages, each behind a small interface:
//
//	identify ─► decide ─► hold ─► mint ─► execute ─► mask ─► record
//
// identify happens in the front door (it has the transport), which hands a
// Caller in; decide is a Decider (package policy); hold an approvals.Holder;
// mint a Minter; execute a connector; mask a masking.Masker; record a
// Recorder (package audit). An intent event is written before a call
// reaches a target and completed after; if the intent cannot be written the
// call does not run.
//
// This package must never let an error in any stage turn into an allow:
// every failure refuses the call.
package tools
