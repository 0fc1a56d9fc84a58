package approvals

import (
	"context"
	"encoding/json"
	"fmt"
)

// Request is a call that needs a human decision.
type Request struct {
	Subject       string
	Groups        []string
	Connection    string
	Tool          string
	Arguments     json.RawMessage
	Justification string
	Rule          string
	PolicyVersion string
}

// Outcome is what became of a held call.
type Outcome struct {
	// Approved is true only when the exact call was approved and may run now.
	Approved bool
	// ID identifies the approval request, when one was created.
	ID string
	// Reason explains a call that may not run (yet), for the agent.
	Reason string
}

// Holder decides what happens to a call policy sent to review. It returns an
// error only for a technical failure; the pipeline refuses the call then.
type Holder interface {
	Hold(ctx context.Context, req Request) (Outcome, error)
}

// Disabled is the Holder used when no approval workflow is configured: a
// call that needs review is refused, never let through.
type Disabled struct{}

// Hold implements Holder.
func (Disabled) Hold(_ context.Context, req Request) (Outcome, error) {
	return Outcome{Reason: fmt.Sprintf("rule %q requires human approval for %s on %q, and no approval workflow is enabled on this Warden", req.Rule, req.Tool, req.Connection)}, nil
}

var _ Holder = Disabled{}
