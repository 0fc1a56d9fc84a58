package gateway

import (
	"context"

	"github.com/wardenhq/warden/approvals"
	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/credentials"
	"github.com/wardenhq/warden/masking"
	"github.com/wardenhq/warden/policy"
)

// The stages of the pipeline, each an interface the gateway is wired with
// (cmd/warden), in the order a call meets them: identify (the front door's),
// decide, hold, mint, execute (the connector's), mask, record.

// Decider is the decide stage (package policy). It returns an error only
// for a technical failure, which the gateway treats as a denial.
type Decider interface {
	Decide(ctx context.Context, in policy.Input) (policy.Decision, error)
	// Version identifies the rule set, for approvals and audit.
	Version() string
	// AllowsWrites reports whether any rule could let tool change
	// something, so that tool hints are truthful.
	AllowsWrites(tool string) bool
}

// Holder is the hold stage (package approvals).
type Holder = approvals.Holder

// Minter is the mint stage (package credentials): the credential a call
// runs with, and the end of a session's credentials.
type Minter interface {
	Mint(ctx context.Context, req credentials.Request) (connectors.Credential, error)
	// EndSession revokes the session's credentials at once.
	EndSession(ctx context.Context, session string)
	// Close revokes every credential the minter issued.
	Close(ctx context.Context)
}

// Masker is the mask stage (package masking).
type Masker = masking.Masker

// Recorder is the record stage (package audit).
type Recorder interface {
	// BeginAsync submits the intent of a call. The call must not reach its
	// target before Wait on the result returns nil; the gateway hands that
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
	_ Minter   = credentials.Static{}
	_ Minter   = (*credentials.Credentials)(nil)
)
