package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// List limits.
const (
	DefaultListLimit = 100
	MaxListLimit     = 10000
)

// Filter selects events for List. Zero fields do not filter.
type Filter struct {
	Since      time.Time // events that started at or after Since
	Until      time.Time // events that started before Until
	Identity   string
	Connection string
	Tool       string
	Status     string
	Session    string
	Limit      int    // DefaultListLimit if <= 0, at most MaxListLimit
	Before     string // an event ID: only events older than it, for paging
}

const selectColumns = `SELECT id, time, session, transport, identity, groups_json, issuer, tool,
	connection, arguments, statement, decision, rule, reason, status, duration_us, row_count,
	truncated, masked_json, credential, error, approval, token_id
FROM events`

// Get returns the event with the given ID. id may also be a prefix of at
// least 6 characters that matches one event only; case does not matter.
// It returns ErrNotFound or ErrAmbiguousID, wrapped, when it cannot pick
// one event. Note that an ID starts with its timestamp, so a short prefix
// matches every event of the same minutes.
func (s *Store) Get(ctx context.Context, id string) (Event, error) {
	id = normalizeID(strings.TrimSpace(id))
	if len(id) < minPrefixLen {
		return Event{}, fmt.Errorf("audit: get event %q: id prefix must be at least %d characters", id, minPrefixLen)
	}
	var (
		rows *sql.Rows
		err  error
	)
	if len(id) >= idLen {
		rows, err = s.readDB.QueryContext(ctx, selectColumns+` WHERE id = ?`, id)
	} else {
		// Every ID character sorts below '~', so this range is the prefix.
		rows, err = s.readDB.QueryContext(ctx, selectColumns+` WHERE id >= ? AND id < ? ORDER BY id LIMIT 2`, id, id+"~")
	}
	if err != nil {
		return Event{}, fmt.Errorf("audit: get event %s: %w", id, err)
	}
	events, err := scanEvents(rows)
	if err != nil {
		return Event{}, fmt.Errorf("audit: get event %s: %w", id, err)
	}
	switch len(events) {
	case 0:
		return Event{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	case 1:
		return events[0], nil
	default:
		return Event{}, fmt.Errorf("%w: %s matches %s and others; give more characters", ErrAmbiguousID, id, events[0].ID)
	}
}

// List returns the events f selects, newest first.
func (s *Store) List(ctx context.Context, f Filter) ([]Event, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if !f.Since.IsZero() {
		// IDs start with their time: the primary key bounds the scan.
		add("id >= ?", encodeID(uint64(max(f.Since.UnixMilli()-1, 0)), [10]byte{}))
		add("time >= ?", formatTime(f.Since))
	}
	if !f.Until.IsZero() {
		add("time < ?", formatTime(f.Until))
	}
	for _, eq := range []struct{ column, value string }{
		{"identity", f.Identity},
		{"connection", f.Connection},
		{"tool", f.Tool},
		{"status", f.Status},
		{"session", f.Session},
	} {
		if eq.value != "" {
			add(eq.column+" = ?", eq.value)
		}
	}
	if f.Before != "" {
		add("id < ?", normalizeID(f.Before))
	}

	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)

	query := selectColumns
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit)

	rows, err := s.readDB.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: list events: %w", err)
	}
	events, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("audit: list events: %w", err)
	}
	return events, nil
}

// scanEvents reads rows of selectColumns and closes rows.
func scanEvents(rows *sql.Rows) ([]Event, error) {
	defer rows.Close()
	var events []Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, rows.Err()
}

func scanEvent(rows *sql.Rows) (Event, error) {
	var (
		e                 Event
		t, groups         string
		arguments, masked sql.NullString
		durationUS        int64
	)
	err := rows.Scan(&e.ID, &t, &e.Session, &e.Transport, &e.Identity, &groups, &e.Issuer, &e.Tool,
		&e.Connection, &arguments, &e.Statement, &e.Decision, &e.Rule, &e.Reason, &e.Status, &durationUS, &e.Rows,
		&e.Truncated, &masked, &e.Credential, &e.Error, &e.Approval, &e.TokenID)
	if err != nil {
		return Event{}, err
	}
	if e.Time, err = time.Parse(time.RFC3339Nano, t); err != nil {
		return Event{}, fmt.Errorf("event %s: time: %w", e.ID, err)
	}
	e.Duration = time.Duration(durationUS) * time.Microsecond
	if err := json.Unmarshal([]byte(groups), &e.Groups); err != nil {
		return Event{}, fmt.Errorf("event %s: groups: %w", e.ID, err)
	}
	if len(e.Groups) == 0 {
		e.Groups = nil
	}
	if arguments.Valid {
		e.Arguments = json.RawMessage(arguments.String)
	}
	if masked.Valid {
		if err := json.Unmarshal([]byte(masked.String), &e.Masked); err != nil {
			return Event{}, fmt.Errorf("event %s: masked: %w", e.ID, err)
		}
	}
	return e, nil
}
