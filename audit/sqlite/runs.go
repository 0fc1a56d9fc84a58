package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/internal/jsonenc"
)

// Runs (table event_runs): the writer stores the complete events of one
// session that reach it in the same batch (a journaled intent with its
// outcome folded in) as one row, the columns they share once and the rest
// of each event in a JSON body. Under a proxy's load a batch holds tens of
// statements of each session, and one SQLite row costs about what the
// proxy spends on a statement otherwise; a run costs one row. Get and List
// read runs and events alike; an event is in one of the two tables, never
// both.

// minRun is the fewest events the writer stores as a run; fewer go to
// events, one row each.
const minRun = 2

// maxRunSpan bounds how far apart (by the time in their IDs) the first and
// last events of a run are, so that a reader looking for an ID knows how
// far before it the run holding it can start.
const maxRunSpan = 10 * time.Second

const insertRunSQL = `INSERT INTO event_runs (
	first_id, last_id, statuses, session, transport, identity, groups_json, issuer, tool,
	connection, credential, approval, token_id, body
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// statusBit is status's bit in event_runs.statuses, which lets List skip
// the runs without an event of the status it looks for unread. Statuses
// it does not know share the last bit.
func statusBit(status string) int64 {
	for i, s := range [...]string{audit.StatusOK, audit.StatusDenied, audit.StatusFailed, audit.StatusError, audit.StatusInvalid, audit.StatusRunning} {
		if s == status {
			return 1 << i
		}
	}
	return 1 << 6
}

// runHoldsSQL counts the runs holding event ?1; ?2 is runFloor(?1).
const runHoldsSQL = `SELECT count(*) FROM event_runs r, json_each(r.body) e
WHERE r.first_id <= ?1 AND r.first_id >= ?2 AND r.last_id >= ?1 AND e.value->>0 = ?1`

// The statements that move event ?1 out of its run (?2 is runFloor(?1))
// into events, for a Finish that must change it: copy it, then drop it
// from the run, then drop the run if nothing is left in it.
const (
	detachCopySQL = `INSERT INTO events (
	id, time, session, transport, identity, groups_json, issuer, tool, connection,
	arguments, statement, decision, rule, reason, status, duration_us, row_count,
	truncated, masked_json, credential, error, approval, token_id)
SELECT e.value->>0, e.value->>1, r.session, r.transport, r.identity, r.groups_json, r.issuer, r.tool, r.connection,
	e.value->>2, e.value->>3, e.value->>4, e.value->>5, e.value->>6, e.value->>7, e.value->>8, e.value->>9,
	e.value->>10, nullif(e.value->11, 'null'), r.credential, e.value->>12, r.approval, r.token_id
FROM event_runs r, json_each(r.body) e
WHERE r.first_id <= ?1 AND r.first_id >= ?2 AND r.last_id >= ?1 AND e.value->>0 = ?1`
	// statuses may keep the bit of the event moved out: List reads
	// such a run in vain, nothing worse.
	detachDropSQL = `UPDATE event_runs SET
	body = (SELECT json_group_array(json(d.value)) FROM json_each(event_runs.body) d WHERE d.value->>0 <> ?1)
WHERE first_id <= ?1 AND first_id >= ?2 AND last_id >= ?1
	AND EXISTS (SELECT 1 FROM json_each(event_runs.body) d WHERE d.value->>0 = ?1)`
	detachEmptySQL = `DELETE FROM event_runs WHERE json_array_length(body) = 0 AND first_id <= ?1 AND first_id >= ?2`
)

// sameRun reports whether a and b have the columns a run shares alike.
func sameRun(a, b *row) bool {
	return a.session == b.session && a.connection == b.connection && a.identity == b.identity &&
		a.tool == b.tool && a.transport == b.transport && a.issuer == b.issuer &&
		a.groups == b.groups && a.credential == b.credential && a.approval == b.approval &&
		a.tokenID == b.tokenID
}

// runnable reports whether o may go into a run: a journaled intent (its ID
// the store's own, so unique) that is complete, its outcome folded in.
func runnable(o *op) bool {
	return o.kind == opInsert && o.journaled && audit.IsOutcome(o.row.status)
}

// groupRuns picks the ops of batch to store as runs, groups of at least
// minRun each in event ID order, and marks them in taken. Ops already taken (folded outcomes) are
// left alone.
func groupRuns(batch []*op, taken []bool) [][]int {
	var (
		groups  [][]int
		firstMS []uint64
	)
	for i, o := range batch {
		if taken[i] || !runnable(o) {
			continue
		}
		ms, _ := audit.IDMillis(o.row.id)
		g := -1
		// The latest group first: a session's ops come in streaks.
		for k := len(groups) - 1; k >= 0; k-- {
			if sameRun(&batch[groups[k][0]].row, &o.row) && ms >= firstMS[k] && ms-firstMS[k] <= uint64(maxRunSpan.Milliseconds()) {
				g = k
				break
			}
		}
		if g < 0 {
			groups = append(groups, nil)
			firstMS = append(firstMS, ms)
			g = len(groups) - 1
		}
		groups[g] = append(groups[g], i)
	}
	runs := groups[:0]
	for _, g := range groups {
		if len(g) < minRun {
			continue
		}
		for _, i := range g {
			taken[i] = true
		}
		slices.SortFunc(g, func(x, y int) int { return strings.Compare(batch[x].row.id, batch[y].row.id) })
		runs = append(runs, g)
	}
	return runs
}

// runArgs appends the values of insertRunSQL for the ops of batch at idx,
// a run of groupRuns. body is scratch space for the body's JSON; the grown
// buffer is returned too.
func runArgs(a []driver.NamedValue, body []byte, batch []*op, idx []int) ([]driver.NamedValue, []byte) {
	body = append(body[:0], '[')
	var statuses int64
	for k, i := range idx {
		if k > 0 {
			body = append(body, ',')
		}
		body = appendRunEvent(body, &batch[i].row)
		statuses |= statusBit(batch[i].row.status)
	}
	body = append(body, ']')
	r := &batch[idx[0]].row
	return appendValues(a, r.id, batch[idx[len(idx)-1]].row.id, statuses, r.session, r.transport,
		r.identity, r.groups, r.issuer, r.tool, r.connection, r.credential, r.approval, r.tokenID,
		string(body)), body
}

// appendRunEvent appends r's own columns as a JSON array, in the order
// event_runs.body documents.
func appendRunEvent(b []byte, r *row) []byte {
	b = append(b, '[')
	b = jsonenc.AppendString(b, r.id)
	b = append(b, ',')
	b = jsonenc.AppendString(b, r.time)
	b = append(b, ',')
	// Arguments as a JSON string of their text: SQLite's JSON functions
	// (a Finish moving the event out) give back a string's text as it
	// was, where they would re-encode an object.
	if a, ok := r.arguments.(string); ok {
		b = jsonenc.AppendString(b, a)
	} else {
		b = append(b, "null"...)
	}
	for _, s := range [...]string{r.statement, r.decision, r.rule, r.reason, r.status} {
		b = append(b, ',')
		b = jsonenc.AppendString(b, s)
	}
	b = append(b, ',')
	b = strconv.AppendInt(b, r.durationUS, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, r.rows, 10)
	if r.truncated {
		b = append(b, ",1,"...)
	} else {
		b = append(b, ",0,"...)
	}
	b = appendRawOrNull(b, r.masked)
	b = append(b, ',')
	b = jsonenc.AppendString(b, r.errorText)
	return append(b, ']')
}

// appendRawOrNull appends v, JSON text (a string) or nil, as JSON.
func appendRawOrNull(b []byte, v any) []byte {
	if s, ok := v.(string); ok && s != "" {
		return append(b, s...)
	}
	return append(b, "null"...)
}

// runFloor is the lowest first_id a run holding an event with ID (or ID
// prefix) id can have; "" if id does not start with a time.
func runFloor(id string) string {
	ms, ok := audit.IDMillis(id)
	if !ok {
		return ""
	}
	span := uint64(maxRunSpan.Milliseconds())
	return audit.FloorID(max(ms, span) - span)
}

// runSelect reads runs; each row of it is scanned by scanRun.
const runSelect = `SELECT first_id, last_id, session, transport, identity, groups_json, issuer, tool,
	connection, credential, approval, token_id, body
FROM event_runs`

// storedRun is a row of event_runs as read: the shared columns as an
// Event, and the body undecoded.
type storedRun struct {
	first, last string
	shared      audit.Event
	body        []byte
}

func scanRun(rows *sql.Rows) (storedRun, error) {
	var (
		r      storedRun
		groups string
	)
	e := &r.shared
	if err := rows.Scan(&r.first, &r.last, &e.Session, &e.Transport, &e.Identity, &groups, &e.Issuer, &e.Tool,
		&e.Connection, &e.Credential, &e.Approval, &e.TokenID, &r.body); err != nil {
		return storedRun{}, err
	}
	if err := json.Unmarshal([]byte(groups), &e.Groups); err != nil {
		return storedRun{}, fmt.Errorf("run %s: groups: %w", r.first, err)
	}
	if len(e.Groups) == 0 {
		e.Groups = nil
	}
	return r, nil
}

// events decodes the run's events, in ID order.
func (r *storedRun) events() ([]audit.Event, error) {
	var items []runItem
	if err := json.Unmarshal(r.body, &items); err != nil {
		return nil, fmt.Errorf("run %s: %w", r.first, err)
	}
	out := make([]audit.Event, len(items))
	for i := range items {
		it := &items[i]
		e := &out[i]
		*e = r.shared
		e.Groups = slices.Clone(r.shared.Groups)
		e.ID, e.Statement, e.Decision, e.Rule, e.Reason = it.id, it.statement, it.decision, it.rule, it.reason
		e.Status, e.Rows, e.Truncated, e.Masked, e.Error = it.status, it.rows, it.truncated != 0, it.masked, it.errorText
		e.Duration = time.Duration(it.durationUS) * time.Microsecond
		if it.arguments != nil {
			e.Arguments = json.RawMessage(*it.arguments)
		}
		var err error
		if e.Time, err = time.Parse(time.RFC3339Nano, it.time); err != nil {
			return nil, fmt.Errorf("run %s: event %s: time: %w", r.first, e.ID, err)
		}
	}
	return out, nil
}

// runItem is an event of a run's body, as appendRunEvent writes it.
type runItem struct {
	id, time                                  string
	arguments                                 *string
	statement, decision, rule, reason, status string
	durationUS, rows                          int64
	truncated                                 int
	masked                                    map[string]int64
	errorText                                 string
}

// UnmarshalJSON reads the array appendRunEvent writes, in one pass.
func (it *runItem) UnmarshalJSON(b []byte) error {
	fields := []any{&it.id, &it.time, &it.arguments, &it.statement, &it.decision, &it.rule, &it.reason,
		&it.status, &it.durationUS, &it.rows, &it.truncated, &it.masked, &it.errorText}
	n := len(fields)
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	if len(fields) != n {
		return fmt.Errorf("event of %d fields, want %d", len(fields), n)
	}
	return nil
}

// runsHolding returns the events whose IDs start with prefix (a whole ID
// or at least minPrefixLen characters of one) from the runs that may hold
// them, stopping once it has limit of them.
func (s *Store) runsHolding(ctx context.Context, prefix string, limit int) ([]audit.Event, error) {
	floor := runFloor(prefix)
	if floor == "" {
		return nil, nil // not the start of an ID
	}
	hi := prefix
	if len(prefix) < audit.IDLen {
		hi = prefix + "~"
	}
	rows, err := s.readDB.QueryContext(ctx, runSelect+` WHERE first_id <= ? AND first_id >= ? AND last_id >= ? ORDER BY first_id`,
		hi, floor, prefix)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var found []audit.Event
	for len(found) < limit && rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		events, err := r.events()
		if err != nil {
			return nil, err
		}
		for _, e := range events {
			if strings.HasPrefix(e.ID, prefix) && len(found) < limit {
				found = append(found, e)
			}
		}
	}
	return found, rows.Err()
}
