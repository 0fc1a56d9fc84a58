// Package gateway is Warden's protocol-neutral pipeline, the one both front
// doors (MCP tools and wire-protocol proxies) call for every operation:
//
//	identify ─► decide ─► hold? ─► mint ─► execute ─► mask ─► record
//
// A front door identifies its caller (a Caller), opens a Session on a
// connection, and for each operation (an Operation: tool, arguments, the
// statement and what the connector's classifier made of it) calls
// Session.Authorize, which decides, holds, records the intent and mints,
// and returns a Grant: the decision, the credential, the gate the
// connector must pass before the operation reaches the target, and the
// masker of its results. Grant.Finish records the outcome. Execution is
// the connector's, reached by the front door.
//
// This package knows no protocol and no classifier: it imports none, and
// compares no kind string. It must never let an operation reach a target
// without a decision that allows it and a durable audit intent, and never
// put a secret in an audit event or a log line.
package gateway
