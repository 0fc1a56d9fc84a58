// Package approvals holds calls that policy sends to review until a human
// decides. A held call is bound to a digest of exactly what will run; only
// that call may run, once, before it expires.
//
// This package must never let a requester approve their own request, never
// run anything itself (the pipeline executes an approved call), and never
// treat "no answer" as approval.
package approvals
