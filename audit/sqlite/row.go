package sqlite

import (
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"

	"github.com/wardenhq/warden/audit"
)

func formatTime(t time.Time) string {
	var b [len(audit.TimeLayout)]byte
	return string(appendTime(b[:0], t))
}

// appendTime appends t in TimeLayout. It spells out the digits itself:
// time.Format, which parses its layout every time, was a visible part of
// an intent's cost.
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, audit.TimeLayout)
	}
	hour, minute, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond(), 9)
	return append(b, 'Z')
}

// appendDigits appends v, which is not negative, in exactly width digits.
func appendDigits(b []byte, v, width int) []byte {
	n := len(b)
	for range width {
		b = append(b, 0)
	}
	for i := len(b) - 1; i >= n; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}

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
	instance                               string // the process that wrote the intent (processInstance); inserts only
}

// args are the values of insertSQL's placeholders, in order.
func (r *row) args() []any {
	nv := r.appendArgs(make([]driver.NamedValue, 0, insertColumns))
	a := make([]any, len(nv))
	for i := range nv {
		a[i] = nv[i].Value
	}
	return a
}

// appendArgs appends the values of insertSQL's placeholders, in order.
func (r *row) appendArgs(a []driver.NamedValue) []driver.NamedValue {
	return appendValues(a, r.id, r.time, r.session, r.transport, r.identity, r.groups, r.issuer, r.tool, r.connection,
		r.arguments, r.statement, r.decision, r.rule, r.reason, r.status, r.durationUS, r.rows,
		r.truncated, r.masked, r.credential, r.errorText, r.approval, r.tokenID, r.instance)
}

// encodeRow turns e into column values. It refuses Arguments that are not
// JSON, because they could not be read back as an Event.
func encodeRow(e *audit.Event) (row, error) {
	if len(e.Arguments) > 0 && !json.Valid(e.Arguments) {
		return row{}, fmt.Errorf("event %s: %w", e.ID, errArgumentsNotJSON)
	}
	r := eventRow(e)
	if len(e.Groups) > 0 {
		r.groups = string(appendGroups(nil, e.Groups))
	}
	if len(e.Masked) > 0 {
		r.masked = string(appendMasked(nil, e.Masked))
	}
	return r, nil
}

// eventRow is e's columns, but for groups and masked counts.
func eventRow(e *audit.Event) row {
	r := row{
		id: e.ID, time: formatTime(e.Time), session: e.Session, transport: e.Transport,
		identity: e.Identity, groups: "[]", issuer: e.Issuer, tool: e.Tool,
		connection: e.Connection, statement: e.Statement, decision: e.Decision,
		rule: e.Rule, reason: e.Reason, status: e.Status,
		durationUS: e.Duration.Microseconds(), rows: e.Rows, truncated: e.Truncated,
		credential: e.Credential, errorText: e.Error, approval: e.Approval, tokenID: e.TokenID,
	}
	if len(e.Arguments) > 0 {
		r.arguments = string(e.Arguments)
	}
	return r
}

// encodeIntent appends e's journal record (its JSON) to b and fills r with
// its columns; groups and masked counts are encoded once, for both.
func encodeIntent(b []byte, e *audit.Event, r *row) ([]byte, error) {
	var sp eventSpans
	b, err := appendEvent(b, e, &sp)
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", e.ID, err)
	}
	*r = eventRow(e)
	if sp.groups[1] > 0 {
		r.groups = string(b[sp.groups[0]:sp.groups[1]])
	}
	if sp.masked[1] > 0 {
		r.masked = string(b[sp.masked[0]:sp.masked[1]])
	}
	return b, nil
}

// eventColumns is the number of columns selectColumns and returningEvent
// read.
const eventColumns = 23

// rowOfValues is the row of an event read as selectColumns reads it,
// through the driver (returningEvent).
func rowOfValues(v []driver.Value) row {
	str := func(i int) string { return driverString(v[i]) }
	num := func(i int) int64 {
		n, _ := v[i].(int64)
		return n
	}
	r := row{
		id: str(0), time: str(1), session: str(2), transport: str(3), identity: str(4), groups: str(5),
		issuer: str(6), tool: str(7), connection: str(8), statement: str(10), decision: str(11),
		rule: str(12), reason: str(13), status: str(14), durationUS: num(15), rows: num(16),
		truncated: num(17) != 0, credential: str(19), errorText: str(20), approval: str(21), tokenID: str(22),
	}
	if v[9] != nil {
		r.arguments = str(9)
	}
	if v[18] != nil {
		r.masked = str(18)
	}
	return r
}

// encodeOutcome appends the journal record of an outcome (Intent.Complete,
// FinishAsync) to b: an event holding only what outcomeRow takes, its
// status an outcome, which tells it from an intent when the journal is
// replayed.
func encodeOutcome(b []byte, e *audit.Event) ([]byte, error) {
	out := audit.Event{
		ID: e.ID, Status: e.Status, Decision: e.Decision, Rule: e.Rule, Reason: e.Reason,
		Duration: e.Duration, Rows: e.Rows, Truncated: e.Truncated, Masked: e.Masked,
		Credential: e.Credential, Error: e.Error, Approval: e.Approval,
	}
	return appendEvent(b, &out, nil)
}

// outcomeRow is the columns of e that Finish records (see finishSQL and
// applyOutcome); the others are left empty.
func outcomeRow(e *audit.Event) row {
	r := row{
		id: e.ID, status: e.Status, decision: e.Decision, rule: e.Rule, reason: e.Reason,
		durationUS: e.Duration.Microseconds(), rows: e.Rows, truncated: e.Truncated,
		credential: e.Credential, errorText: e.Error, approval: e.Approval,
	}
	if len(e.Masked) > 0 {
		r.masked = string(appendMasked(nil, e.Masked))
	}
	return r
}

// scanRow reads a row of returningEvent's columns through database/sql.
func scanRow(rows *sql.Rows) (row, error) {
	vals := make([]any, eventColumns)
	ptrs := make([]any, eventColumns)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return row{}, err
	}
	dv := make([]driver.Value, eventColumns)
	for i, v := range vals {
		dv[i] = v
	}
	return rowOfValues(dv), nil
}
