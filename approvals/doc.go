// Package approvals holds calls that policy sends to review until a human
// decides. A held call is bound to a digest of exactly what will run; only
// that call may run, once, before it expires.
//
// Service is the workflow: the pipeline's Holder (hold, wait, release
// once), the Tracker behind the approval_status and await_approval tools,
// and what people decide through — the JSON API and the server-rendered
// pages it mounts (api.go, web.go), with webhooks telling them of new
// requests and decisions (webhook.go). Requests, decisions and the pages'
// sessions live behind the Store interface (store.go), whose backends are
// packages of their own (approvals/sqlite) passing approvals/approvalstest;
// every request and decision is an audit event.
//
// This package must never let a requester approve their own request, never
// run anything itself (the pipeline executes an approved call), never
// treat "no answer" as approval, and never import a store backend.
package approvals
