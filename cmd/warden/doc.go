// Command warden is a least-privilege gateway between AI agents and
// production systems. See `warden help`.
//
// This package is wiring only: one file per subcommand parses its flags
// and configuration, opens the parts (the store backend by the scheme of
// store:, store.go; connectors; policy; approvals) and runs them. It must
// never hold logic the parts should (policy, storage, protocol), and never
// print a secret (a token only with warden login --print-token).
package main
