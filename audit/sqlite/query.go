package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wardenhq/warden/audit"
)

const selectColumns = `SELECT id, time, session, transport, identity, groups_json, issuer, tool,
	connection, arguments, statement, decision, rule, reason, status, duration_us, row_count,
	truncated, masked_json, credential, error, approval, token_id
FROM events`

// Get returns the event with the given ID. id may also be a prefix of at
// least 6 characters that matches one event only; case does not matter.
// It returns ErrNotFound or ErrAmbiguousID, wrapped, when it cannot pick
// one event. Note that an ID starts with its timestamp, so a short prefix
// matches every event of the same minutes.
func (s *Store) Get(ctx context.Context, id string) (audit.Event, error) {
	id = audit.NormalizeID(strings.TrimSpace(id))
	if len(id) < audit.MinIDPrefix {
		return audit.Event{}, fmt.Errorf("audit: get event %q: id prefix must be at least %d characters", id, audit.MinIDPrefix)
	}
	var (
		rows *sql.Rows
		err  error
	)
	if len(id) >= audit.IDLen {
		rows, err = s.readDB.QueryContext(ctx, selectColumns+` WHERE id = ?`, id)
	} else {
		// Every ID character sorts below '~', so this range is the prefix.
		rows, err = s.readDB.QueryContext(ctx, selectColumns+` WHERE id >= ? AND id < ? ORDER BY id LIMIT 2`, id, id+"~")
	}
	if err != nil {
		return audit.Event{}, fmt.Errorf("audit: get event %s: %w", id, err)
	}
	events, err := scanEvents(rows)
	if err != nil {
		return audit.Event{}, fmt.Errorf("audit: get event %s: %w", id, err)
	}
	// An event is in events or in a run, never both: a whole ID found
	// is the one.
	if len(events) == 0 || len(id) < audit.IDLen && len(events) < 2 {
		inRuns, err := s.runsHolding(ctx, id, 2-len(events))
		if err != nil {
			return audit.Event{}, fmt.Errorf("audit: get event %s: %w", id, err)
		}
		events = append(events, inRuns...)
		slices.SortFunc(events, func(a, b audit.Event) int { return strings.Compare(a.ID, b.ID) })
	}
	switch len(events) {
	case 0:
		return audit.Event{}, fmt.Errorf("%w: %s", audit.ErrNotFound, id)
	case 1:
		return events[0], nil
	default:
		return audit.Event{}, fmt.Errorf("%w: %s matches %s and others; give more characters", audit.ErrAmbiguousID, id, events[0].ID)
	}
}

// List returns the events f selects, newest first, from events and runs
// alike.
func (s *Store) List(ctx context.Context, f audit.Filter) ([]audit.Event, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = audit.DefaultListLimit
	}
	limit = min(limit, audit.MaxListLimit)
	if f.Before != "" {
		f.Before = audit.NormalizeID(f.Before)
	}

	events, err := s.listEvents(ctx, f, limit)
	if err != nil {
		return nil, fmt.Errorf("audit: list events: %w", err)
	}
	if events, err = s.listRuns(ctx, f, limit, events); err != nil {
		return nil, fmt.Errorf("audit: list events: %w", err)
	}
	return events, nil
}

// listEvents returns up to limit events of table events f selects, newest
// first.
func (s *Store) listEvents(ctx context.Context, f audit.Filter, limit int) ([]audit.Event, error) {
	var w where
	if !f.Since.IsZero() {
		// IDs start with their time: the primary key bounds the scan.
		w.add("id >= ?", sinceID(f.Since))
		w.add("time >= ?", formatTime(f.Since))
	}
	if !f.Until.IsZero() {
		w.add("time < ?", formatTime(f.Until))
	}
	w.equal("identity", f.Identity)
	w.equal("connection", f.Connection)
	w.equal("tool", f.Tool)
	w.equal("status", f.Status)
	w.equal("session", f.Session)
	if f.Before != "" {
		w.add("id < ?", f.Before)
	}
	rows, err := s.readDB.QueryContext(ctx, selectColumns+w.String()+" ORDER BY id DESC LIMIT ?", append(w.args, limit)...)
	if err != nil {
		return nil, err
	}
	return scanEvents(rows)
}

// where is the WHERE clause of a query being built, and its arguments.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, arg any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, arg)
}

// equal adds column = value, unless value is empty.
func (w *where) equal(column, value string) {
	if value != "" {
		w.add(column+" = ?", value)
	}
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// sinceID is the lowest ID an event that started at or after t can have.
func sinceID(t time.Time) string {
	return audit.FloorID(uint64(max(t.UnixMilli()-1, 0)))
}

// listRuns adds to events, the newest of table events f selects, the
// events of runs f selects, and returns the newest limit of them all. It
// reads runs newest last_id first and stops at the first run that ends
// before the limit-th newest event it has: nothing in that run or after
// it can be newer.
func (s *Store) listRuns(ctx context.Context, f audit.Filter, limit int, events []audit.Event) ([]audit.Event, error) {
	var w where
	if !f.Since.IsZero() {
		w.add("last_id >= ?", sinceID(f.Since))
	}
	// A run ends within maxRunSpan of its start: bounding last_id too lets
	// the scan start where the runs that can match are.
	span := uint64(maxRunSpan.Milliseconds())
	if !f.Until.IsZero() {
		ms := uint64(max(f.Until.UnixMilli()+1, 0))
		w.add("first_id < ?", audit.FloorID(ms))
		w.add("last_id < ?", audit.FloorID(ms+span+1))
	}
	w.equal("identity", f.Identity)
	w.equal("connection", f.Connection)
	w.equal("tool", f.Tool)
	w.equal("session", f.Session)
	if f.Before != "" {
		w.add("first_id < ?", f.Before)
		if ms, ok := audit.IDMillis(f.Before); ok && ms+span+1 < 1<<48 {
			w.add("last_id < ?", audit.FloorID(ms+span+1))
		}
	}
	if f.Status != "" {
		w.add("statuses & ? <> 0", statusBit(f.Status))
	}
	rows, err := s.readDB.QueryContext(ctx, runSelect+w.String()+" ORDER BY last_id DESC", w.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()

	newestFirst := func(a, b audit.Event) int { return strings.Compare(b.ID, a.ID) }
	// floor is, once there are limit events, the limit-th newest of them
	// at the last trim; more events can only raise the true one.
	floor := ""
	trim := func() {
		slices.SortFunc(events, newestFirst)
		if len(events) >= limit {
			events = events[:limit]
			floor = events[limit-1].ID
		}
	}
	trim()
	trimmedAt := len(events)
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		if floor != "" && r.last < floor {
			break
		}
		inRun, err := r.events()
		if err != nil {
			return nil, err
		}
		for _, e := range inRun {
			if matches(&f, &e) {
				events = append(events, e)
			}
		}
		if len(events) >= limit && len(events)-trimmedAt >= max(limit/2, 1) {
			trim()
			trimmedAt = len(events)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	trim()
	return events, nil
}

// matches reports whether e passes f's conditions on an event's own
// columns (those a run does not share).
func matches(f *audit.Filter, e *audit.Event) bool {
	switch {
	case !f.Since.IsZero() && e.Time.Before(f.Since):
		return false
	case !f.Until.IsZero() && !e.Time.Before(f.Until):
		return false
	case f.Status != "" && e.Status != f.Status:
		return false
	case f.Before != "" && e.ID >= f.Before:
		return false
	}
	return true
}

// scanEvents reads rows of selectColumns and closes rows.
func scanEvents(rows *sql.Rows) ([]audit.Event, error) {
	defer rows.Close()
	var events []audit.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, rows.Err()
}

func scanEvent(rows *sql.Rows) (audit.Event, error) {
	var (
		e                 audit.Event
		t, groups         string
		arguments, masked sql.NullString
		durationUS        int64
	)
	err := rows.Scan(&e.ID, &t, &e.Session, &e.Transport, &e.Identity, &groups, &e.Issuer, &e.Tool,
		&e.Connection, &arguments, &e.Statement, &e.Decision, &e.Rule, &e.Reason, &e.Status, &durationUS, &e.Rows,
		&e.Truncated, &masked, &e.Credential, &e.Error, &e.Approval, &e.TokenID)
	if err != nil {
		return audit.Event{}, err
	}
	if e.Time, err = time.Parse(time.RFC3339Nano, t); err != nil {
		return audit.Event{}, fmt.Errorf("event %s: time: %w", e.ID, err)
	}
	e.Duration = time.Duration(durationUS) * time.Microsecond
	if err := json.Unmarshal([]byte(groups), &e.Groups); err != nil {
		return audit.Event{}, fmt.Errorf("event %s: groups: %w", e.ID, err)
	}
	if len(e.Groups) == 0 {
		e.Groups = nil
	}
	if arguments.Valid {
		e.Arguments = json.RawMessage(arguments.String)
	}
	if masked.Valid {
		if err := json.Unmarshal([]byte(masked.String), &e.Masked); err != nil {
			return audit.Event{}, fmt.Errorf("event %s: masked: %w", e.ID, err)
		}
	}
	return e, nil
}
