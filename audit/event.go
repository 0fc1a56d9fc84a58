package audit

import (
	"encoding/json"
	"fmt"
	"time"
)

// Transports an event can arrive on.
const (
	TransportStdio = "stdio"
	TransportHTTP  = "http"
	TransportProxy = "proxy"
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
)

// Event is one governed operation: who asked for what, what policy decided,
// and what happened. Every field must already be free of secrets when it
// reaches the store: Arguments are the tool arguments after redaction and
// Credential names a credential ("static" or a lease ID), never its value.
type Event struct {
	ID         string           `json:"id"`   // assigned by the store; sorts by Time
	Time       time.Time        `json:"time"` // start of the operation, UTC
	Session    string           `json:"session,omitempty"`
	Transport  string           `json:"transport,omitempty"` // TransportStdio, TransportHTTP, TransportProxy
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

// MarshalJSON writes Duration as duration_ms, a float number of milliseconds.
func (e Event) MarshalJSON() ([]byte, error) {
	return json.Marshal(eventJSON{
		eventAlias: eventAlias(e),
		DurationMS: float64(e.Duration) / float64(time.Millisecond),
	})
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

// isOutcome reports whether status is one an operation can end with.
func isOutcome(status string) bool {
	switch status {
	case StatusOK, StatusDenied, StatusFailed, StatusError, StatusInvalid:
		return true
	}
	return false
}

// timeLayout is how times are stored: UTC with a fixed number of fractional
// digits, so that comparing the strings compares the times.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// row is an event encoded into column values. It is built by the caller's
// goroutine, so the writer never touches the caller's Event, which the caller
// may reuse once its context is cancelled.
type row struct {
	id, time, session, transport, identity string
	groups                                 string // JSON array
	issuer, tool, connection               string
	arguments                              any // JSON text or nil
	statement, decision, rule, reason      string
	status                                 string
	durationUS, rows                       int64
	truncated                              bool
	masked                                 any // JSON object or nil
	credential, errorText, approval        string
	tokenID                                string
}

// encodeRow turns e into column values. It refuses Arguments that are not
// JSON, because they could not be read back as an Event.
// args are the values of insertSQL's placeholders, in order.
func (r *row) args() []any {
	return []any{r.id, r.time, r.session, r.transport, r.identity, r.groups, r.issuer, r.tool, r.connection,
		r.arguments, r.statement, r.decision, r.rule, r.reason, r.status, r.durationUS, r.rows,
		r.truncated, r.masked, r.credential, r.errorText, r.approval, r.tokenID}
}

func encodeRow(e *Event) (row, error) {
	if len(e.Arguments) > 0 && !json.Valid(e.Arguments) {
		return row{}, fmt.Errorf("event %s: arguments are not valid JSON", e.ID)
	}
	r := row{
		id: e.ID, time: formatTime(e.Time), session: e.Session, transport: e.Transport,
		identity: e.Identity, groups: "[]", issuer: e.Issuer, tool: e.Tool,
		connection: e.Connection, statement: e.Statement, decision: e.Decision,
		rule: e.Rule, reason: e.Reason, status: e.Status,
		durationUS: e.Duration.Microseconds(), rows: e.Rows, truncated: e.Truncated,
		credential: e.Credential, errorText: e.Error, approval: e.Approval, tokenID: e.TokenID,
	}
	if len(e.Groups) > 0 {
		b, err := json.Marshal(e.Groups)
		if err != nil {
			return row{}, fmt.Errorf("event %s: encode groups: %w", e.ID, err)
		}
		r.groups = string(b)
	}
	if len(e.Arguments) > 0 {
		r.arguments = string(e.Arguments)
	}
	if len(e.Masked) > 0 {
		b, err := json.Marshal(e.Masked)
		if err != nil {
			return row{}, fmt.Errorf("event %s: encode masked counts: %w", e.ID, err)
		}
		r.masked = string(b)
	}
	return r, nil
}
