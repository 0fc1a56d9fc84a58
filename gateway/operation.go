package gateway

import (
	"context"
	"encoding/json"

	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/policy"
)

// Operation is one thing a caller asks to do on a session's connection.
type Operation struct {
	// Tool is the tool the operation is (run_query, describe_schema, ...):
	// what rules name, and what the audit trail records, whichever front
	// door it came through.
	Tool string
	// Arguments are the exact call as received, recorded and bound into
	// an approval's digest.
	Arguments json.RawMessage
	// Redacted, when set, is what the audit trail records in place of
	// Arguments, which hold a secret (a manifest's Secret values): the
	// approval request still binds, keeps and re-runs Arguments.
	Redacted json.RawMessage
	// Statement is the text the connector's classifier reads (the SQL),
	// empty for an operation without one.
	Statement string
	// Facts, when set, is the statement's classification, already made
	// (a proxy classifies a prepared statement once, at Parse); otherwise
	// Authorize classifies Statement with the connector's classifier.
	Facts *policy.Facts
	// Approval is the approval request the operation is about, when a
	// tool follows one (await_approval); a held operation's own request is
	// recorded by the hold stage.
	Approval string
	// Needs is the connector capability the operation needs: a
	// connection without it is refused before its statement is read (a
	// command is never classified as SQL, nor SQL as a command).
	Needs connectors.Capability
	// Credential: the operation runs as a credential minted for it (the
	// Grant carries it), not as the connector's own identity.
	Credential bool
	// Require, when set, is what the operation needs on the target, for
	// connectors that mint a credential per operation's scope (a
	// Kubernetes Role of exactly its verbs, resources and namespaces):
	// see credentials.Request.Require.
	Require connectors.Grants
	// Preview, when set, is asked, once the decision holds the operation
	// for review, for what the approver must see besides the statement (a
	// Kubernetes apply's server-side dry-run and diff), run as the
	// operation's credential (minted then, when Credential is set). Its
	// text is shown to approvers; an error is shown in its place, and the
	// operation stays held.
	Preview func(ctx context.Context, cred connectors.Credential) (string, error)
	// OnHold, when set, is told (repeatedly) that the operation waits for
	// a human decision; the message names the approval request.
	OnHold func(message string)
	// HoldContext, when set, gives the context a hold waits in, and a
	// release called when the hold ends. It is called only when the
	// decision holds the operation.
	HoldContext func(ctx context.Context) (context.Context, func())
}

// Outcome is how an operation that was granted ended.
type Outcome struct {
	// Rows is how many rows (or items) the result held; Truncated that
	// there were more than were returned.
	Rows      int64
	Truncated bool
	// Masked counts the values masking changed, by rule or detector.
	Masked map[string]int64
	// Err is the target's error (*connectors.TargetError), the front
	// door's, or nil.
	Err error
	// Failed, when set (and Err is not), says why an operation that ran
	// did not succeed although its result is returned (a command's
	// non-zero exit): it is recorded as failed with this message, and
	// Finish returns no error.
	Failed string
}
