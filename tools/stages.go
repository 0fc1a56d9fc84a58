package tools

import (
	"context"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/policy"
)

// Decider is the decide stage (package policy). It returns an error only
// for a technical failure, which the pipeline treats as a denial.
type Decider interface {
	Decide(ctx context.Context, in policy.Input) (policy.Decision, error)
	// Version identifies the rule set, for approvals and audit.
	Version() string
}

// MintRequest asks for the credential a decided call runs with.
type MintRequest struct {
	Session    string
	Subject    string
	Connection string
	Decision   policy.Decision
}

// Minter is the mint stage: it returns the credential a call runs with.
type Minter interface {
	Mint(ctx context.Context, req MintRequest) (connectors.Credential, error)
}

// StaticCredentials is the Minter for connections configured with
// credentials: static. The connector uses its configured credential; every
// audit event says so.
type StaticCredentials struct{}

// Mint implements Minter.
func (StaticCredentials) Mint(context.Context, MintRequest) (connectors.Credential, error) {
	return connectors.Credential{Mode: "static"}, nil
}

// Recorder is the record stage (package audit).
type Recorder interface {
	// BeginAsync submits the intent of a call. The call must not reach its
	// target before Wait on the result returns nil; the pipeline hands that
	// wait to the connector as the gate of its request, so that the intent
	// commits while the connector opens its transaction. Complete on the
	// result records the call's outcome; it may return before the outcome
	// is durable.
	BeginAsync(ev *audit.Event) audit.Intent
	// Record writes a complete event (a call refused before it ran) and
	// returns once it is durable.
	Record(ctx context.Context, ev *audit.Event) error
}

var (
	_ Recorder = audit.Recorder(nil)
	_ Decider  = (*policy.Engine)(nil)
	_ Minter   = StaticCredentials{}
)
