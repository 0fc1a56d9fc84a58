// Package approvalstest is the contract suite every approvals.Store must
// pass: Run drives a store through its interface only — requests and
// their decisions (quorum, deny, eligibility, expiry), releasing an
// approved call once (a replayed approval fails, also when two stores on
// one database race for it), finishing and failing, expiring, listing,
// and the approval pages' sessions.
//
// It must never reach into a backend (no SQL, no files): a backend's own
// layout and migrations are tested in its package. It is imported by
// tests only.
package approvalstest
