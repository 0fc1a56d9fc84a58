package audit

import (
	"encoding/json"
	"fmt"
	"time"
)

// Transports an event can arrive on (gateway names them; a wire proxy's is
// "<kind>-proxy").
const (
	TransportStdio         = "stdio"
	TransportHTTP          = "http"
	TransportPostgresProxy = "postgres-proxy"
	TransportSSHProxy      = "ssh-proxy"
	TransportMySQLProxy    = "mysql-proxy"
	TransportKubeProxy     = "kubernetes-proxy"
	TransportInternal      = "internal"
)

// Decisions the policy can take.
const (
	DecisionAllow  = "allow"
	DecisionDeny   = "deny"
	DecisionReview = "review"
)

// Statuses of an event. StatusRunning is the status of an intent written by
// Begin; the others are outcomes.
const (
	StatusRunning = "running"
	StatusOK      = "ok"
	StatusDenied  = "denied"
	StatusFailed  = "failed"
	StatusError   = "error"
	StatusInvalid = "invalid" // refused for bad input before policy ran
	// StatusInterrupted closes an event left running by a Warden process
	// that is gone (killed, crashed): the call may or may not have
	// reached its target, and its outcome is unknown. A store sets it,
	// never the pipeline.
	StatusInterrupted = "interrupted"
)

// Event is one governed operation: who asked for what, what policy decided,
// and what happened. Every field must already be free of secrets when it
// reaches the store: Arguments are the tool arguments after redaction and
// Credential names a credential ("static" or a lease ID), never its value.
type Event struct {
	ID         string           `json:"id"`   // assigned by the store; sorts by Time
	Time       time.Time        `json:"time"` // start of the operation, UTC
	Session    string           `json:"session,omitempty"`
	Transport  string           `json:"transport,omitempty"` // TransportStdio, TransportHTTP, TransportPostgresProxy, TransportSSHProxy, TransportMySQLProxy, TransportInternal
	Identity   string           `json:"identity,omitempty"`
	Groups     []string         `json:"groups,omitempty"`
	Issuer     string           `json:"issuer,omitempty"`
	TokenID    string           `json:"token_id,omitempty"` // the token's jti, never the token
	Tool       string           `json:"tool,omitempty"`
	Connection string           `json:"connection,omitempty"`
	Arguments  json.RawMessage  `json:"arguments,omitempty"` // stored byte for byte
	Statement  string           `json:"statement,omitempty"` // the SQL or command
	Decision   string           `json:"decision,omitempty"`  // DecisionAllow, DecisionDeny, DecisionReview
	Rule       string           `json:"rule,omitempty"`
	Reason     string           `json:"reason,omitempty"`
	Status     string           `json:"status"` // StatusRunning, then an outcome
	Duration   time.Duration    `json:"-"`      // stored in microseconds; JSON duration_ms
	Rows       int64            `json:"rows,omitempty"`
	Truncated  bool             `json:"truncated,omitempty"` // the result hit a row limit
	Masked     map[string]int64 `json:"masked,omitempty"`    // entity kind or column -> values masked
	Credential string           `json:"credential,omitempty"`
	Error      string           `json:"error,omitempty"`
	Approval   string           `json:"approval,omitempty"`
}

// eventJSON is Event with Duration replaced by duration_ms. The embedded
// alias has no methods, so encoding it does not recurse.
type eventJSON struct {
	eventAlias
	DurationMS float64 `json:"duration_ms"`
}

type eventAlias Event

// MarshalJSON writes Duration as duration_ms, a float number of
// milliseconds. A store may encode events faster by hand (audit/sqlite
// does, for its journal); it must write these bytes.
func (e Event) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(eventJSON{eventAlias: eventAlias(e), DurationMS: float64(e.Duration) / float64(time.Millisecond)})
	if err != nil {
		return nil, fmt.Errorf("audit: encode event %s: %w", e.ID, err)
	}
	return b, nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (e *Event) UnmarshalJSON(b []byte) error {
	var v eventJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*e = Event(v.eventAlias)
	e.Duration = time.Duration(v.DurationMS * float64(time.Millisecond))
	return nil
}

// IsOutcome reports whether status is one an operation can end with:
// every status but StatusRunning.
func IsOutcome(status string) bool {
	switch status {
	case StatusOK, StatusDenied, StatusFailed, StatusError, StatusInvalid, StatusInterrupted:
		return true
	}
	return false
}
