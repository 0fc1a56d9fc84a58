package approvals

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wardenhq/warden/audit"
)

// Store keeps approval requests and their decisions in the audit
// database (tables from audit/migrations/0005_approvals.sql). Every
// method is safe for concurrent use, also by several Warden processes
// sharing the database: state changes are single conditional statements
// or IMMEDIATE transactions.
type Store struct {
	db *sql.DB
}

// NewStore uses db, the pool of audit.Store.DB().
func NewStore(db *sql.DB) *Store { return &Store{db: db} }

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(audit.TimeLayout)
}

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, _ := time.Parse(audit.TimeLayout, s)
	return t
}

func toJSON(v []string) string {
	if len(v) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func fromJSON(s string) []string {
	var v []string
	json.Unmarshal([]byte(s), &v)
	return v
}

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// newID returns a random request id: "apr_" and 20 characters (100 bits).
func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return "apr_" + idEncoding.EncodeToString(b[:])[:20]
}

const approvalColumns = `id, digest, state, subject, issuer, groups_json, session, transport, connection, tool,
  arguments, statement, justification, rule, reason, policy_version, kinds_json, tables_read_json,
  tables_written_json, approver_groups_json, quorum, created, expires, decided, executed, audit_id, error`

type scanner interface{ Scan(dest ...any) error }

func scanApproval(s scanner) (*Approval, error) {
	var a Approval
	var groups, kinds, read, written, approvers, args, created, expires, decided, executed, state string
	if err := s.Scan(&a.ID, &a.Digest, &state, &a.Requester.Subject, &a.Requester.Issuer, &groups,
		&a.Requester.Session, &a.Requester.Transport, &a.Connection, &a.Tool, &args, &a.Statement,
		&a.Justification, &a.Rule, &a.Reason, &a.PolicyVersion, &kinds, &read, &written, &approvers,
		&a.Approvers.Quorum, &created, &expires, &decided, &executed, &a.AuditID, &a.Error); err != nil {
		return nil, err
	}
	a.State = State(state)
	a.Arguments = json.RawMessage(args)
	a.Requester.Groups = fromJSON(groups)
	a.Kinds, a.TablesRead, a.TablesWritten = fromJSON(kinds), fromJSON(read), fromJSON(written)
	a.Approvers.Groups = fromJSON(approvers)
	a.Created, a.Expires, a.Decided, a.Executed = parseTime(created), parseTime(expires), parseTime(decided), parseTime(executed)
	a.Decisions = []Decision{}
	return &a, nil
}

// Create stores a new request.
func (s *Store) Create(ctx context.Context, a *Approval) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO approvals (`+approvalColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Digest, string(a.State), a.Requester.Subject, a.Requester.Issuer, toJSON(a.Requester.Groups),
		a.Requester.Session, a.Requester.Transport, a.Connection, a.Tool, string(a.Arguments), a.Statement,
		a.Justification, a.Rule, a.Reason, a.PolicyVersion, toJSON(a.Kinds), toJSON(a.TablesRead),
		toJSON(a.TablesWritten), toJSON(a.Approvers.Groups), a.Approvers.Quorum, formatTime(a.Created),
		formatTime(a.Expires), formatTime(a.Decided), formatTime(a.Executed), a.AuditID, a.Error)
	if err != nil {
		return fmt.Errorf("approvals: create %s: %w", a.ID, err)
	}
	return nil
}

// Get returns a request with its decisions.
func (s *Store) Get(ctx context.Context, id string) (*Approval, error) {
	return s.get(ctx, s.db, id)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *Store) get(ctx context.Context, q querier, id string) (*Approval, error) {
	a, err := scanApproval(q.QueryRowContext(ctx, `SELECT `+approvalColumns+` FROM approvals WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("approvals: get %s: %w", id, err)
	}
	if err := s.loadDecisions(ctx, q, []*Approval{a}); err != nil {
		return nil, err
	}
	return a, nil
}

func (s *Store) loadDecisions(ctx context.Context, q querier, as []*Approval) error {
	if len(as) == 0 {
		return nil
	}
	byID := map[string]*Approval{}
	ids := make([]any, len(as))
	for i, a := range as {
		byID[a.ID] = a
		ids[i] = a.ID
	}
	rows, err := q.QueryContext(ctx, `SELECT approval, approver, issuer, groups_json, verdict, comment, time, via
FROM approval_decisions WHERE approval IN (?`+strings.Repeat(", ?", len(ids)-1)+`) ORDER BY time, approver`, ids...)
	if err != nil {
		return fmt.Errorf("approvals: decisions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, groups, t string
		var d Decision
		if err := rows.Scan(&id, &d.Approver, &d.Issuer, &groups, &d.Verdict, &d.Comment, &t, &d.Via); err != nil {
			return fmt.Errorf("approvals: decisions: %w", err)
		}
		d.Groups, d.Time = fromJSON(groups), parseTime(t)
		if a := byID[id]; a != nil {
			a.Decisions = append(a.Decisions, d)
		}
	}
	return rows.Err()
}

// Latest returns the newest request with digest, or ErrNotFound.
func (s *Store) Latest(ctx context.Context, digest string) (*Approval, error) {
	a, err := scanApproval(s.db.QueryRowContext(ctx, `SELECT `+approvalColumns+` FROM approvals WHERE digest = ?
ORDER BY created DESC, id DESC LIMIT 1`, digest))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("approvals: find by digest: %w", err)
	}
	return a, s.loadDecisions(ctx, s.db, []*Approval{a})
}

// Filter selects requests. Zero fields do not filter.
type Filter struct {
	States []State
	// Subject: only requests by this requester.
	Subject string
	Limit   int
}

// List returns requests, newest first, with their decisions.
func (s *Store) List(ctx context.Context, f Filter) ([]*Approval, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	q := `SELECT ` + approvalColumns + ` FROM approvals WHERE 1 = 1`
	var args []any
	if len(f.States) > 0 {
		q += ` AND state IN (?` + strings.Repeat(", ?", len(f.States)-1) + `)`
		for _, st := range f.States {
			args = append(args, string(st))
		}
	}
	if f.Subject != "" {
		q += ` AND subject = ?`
		args = append(args, f.Subject)
	}
	q += ` ORDER BY created DESC, id DESC LIMIT ?`
	args = append(args, f.Limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("approvals: list: %w", err)
	}
	var out []*Approval
	for rows.Next() {
		a, err := scanApproval(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("approvals: list: %w", err)
		}
		out = append(out, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("approvals: list: %w", err)
	}
	return out, s.loadDecisions(ctx, s.db, out)
}

// Decide records one verdict in a transaction: the request must be open
// and pending, check (eligibility) must pass, and an approver decides
// once. It returns the request as it is afterwards; its State tells
// whether the verdict settled it (approved once the quorum of distinct
// approvers is reached, denied at the first deny).
func (s *Store) Decide(ctx context.Context, id string, d Decision, check func(*Approval) error) (*Approval, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("approvals: decide %s: %w", id, err)
	}
	defer tx.Rollback()
	a, err := s.get(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if a.State == StatePending && !d.Time.Before(a.Expires) {
		if _, err := tx.ExecContext(ctx, `UPDATE approvals SET state = ? WHERE id = ? AND state = ?`, string(StateExpired), id, string(StatePending)); err != nil {
			return nil, fmt.Errorf("approvals: decide %s: %w", id, err)
		}
		if err := tx.Commit(); err != nil {
			return nil, fmt.Errorf("approvals: decide %s: %w", id, err)
		}
		a.State = StateExpired
		return a, expiredError{at: a.Expires}
	}
	if err := check(a); err != nil {
		return a, err
	}
	if a.State != StatePending {
		return a, fmt.Errorf("%w: the request is already %s", ErrConflict, a.State)
	}
	for _, prev := range a.Decisions {
		if prev.Approver == d.Approver {
			return a, fmt.Errorf("%w: %s already decided on this request (%s)", ErrConflict, d.Approver, prev.Verdict)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO approval_decisions (approval, approver, issuer, groups_json, verdict, comment, time, via)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, id, d.Approver, d.Issuer, toJSON(d.Groups), d.Verdict, d.Comment, formatTime(d.Time), d.Via); err != nil {
		return nil, fmt.Errorf("approvals: record decision on %s: %w", id, err)
	}
	a.Decisions = append(a.Decisions, d)
	next := StatePending
	switch {
	case d.Verdict == VerdictDeny:
		next = StateDenied
	case a.Approvals() >= max(1, a.Approvers.Quorum):
		next = StateApproved
	}
	if next != StatePending {
		if _, err := tx.ExecContext(ctx, `UPDATE approvals SET state = ?, decided = ? WHERE id = ?`, string(next), formatTime(d.Time), id); err != nil {
			return nil, fmt.Errorf("approvals: decide %s: %w", id, err)
		}
		a.State, a.Decided = next, d.Time
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("approvals: decide %s: %w", id, err)
	}
	return a, nil
}

// expiredError is the conflict of a decision on a request that expired:
// Decide has just marked it expired.
type expiredError struct{ at time.Time }

func (e expiredError) Error() string {
	return ErrConflict.Error() + ": the request expired at " + e.at.UTC().Format(time.RFC3339)
}

func (e expiredError) Unwrap() error { return ErrConflict }

// Consume releases an approved request for execution, once: it moves it
// from approved to executed only if it is still approved, unexpired and
// bound to digest. It reports whether this caller won.
func (s *Store) Consume(ctx context.Context, id, digest string, now time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE approvals SET state = ?, executed = ?
WHERE id = ? AND digest = ? AND state = ? AND expires > ?`,
		string(StateExecuted), formatTime(now), id, digest, string(StateApproved), formatTime(now))
	if err != nil {
		return false, fmt.Errorf("approvals: consume %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("approvals: consume %s: %w", id, err)
	}
	return n == 1, nil
}

// Finish records how the released call ended.
func (s *Store) Finish(ctx context.Context, id string, r Result) error {
	state := StateExecuted
	if !r.OK {
		state = StateFailed
	}
	_, err := s.db.ExecContext(ctx, `UPDATE approvals SET state = ?, audit_id = ?, error = ? WHERE id = ? AND state = ?`,
		string(state), r.AuditID, r.Error, id, string(StateExecuted))
	if err != nil {
		return fmt.Errorf("approvals: finish %s: %w", id, err)
	}
	return nil
}

// Fail marks an open request failed, with why (a request whose stored
// call no longer matches its digest).
func (s *Store) Fail(ctx context.Context, id, why string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE approvals SET state = ?, error = ? WHERE id = ? AND state IN (?, ?)`,
		string(StateFailed), why, id, string(StatePending), string(StateApproved))
	if err != nil {
		return fmt.Errorf("approvals: fail %s: %w", id, err)
	}
	return nil
}

// ExpireDue marks every open request past its expiry expired and returns
// those this call changed (each is returned by exactly one caller, also
// across processes).
func (s *Store) ExpireDue(ctx context.Context, now time.Time) ([]*Approval, error) {
	rows, err := s.db.QueryContext(ctx, `UPDATE approvals SET state = ?
WHERE state IN (?, ?) AND expires <= ? RETURNING id`, string(StateExpired), string(StatePending), string(StateApproved), formatTime(now))
	if err != nil {
		return nil, fmt.Errorf("approvals: expire: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("approvals: expire: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("approvals: expire: %w", err)
	}
	var out []*Approval
	for _, id := range ids {
		a, err := s.Get(ctx, id)
		if err != nil {
			return out, err
		}
		out = append(out, a)
	}
	return out, nil
}

// webSession is a signed-in browser of the approval pages.
type webSession struct {
	Subject string
	Issuer  string
	Groups  []string
	CSRF    string
	Expires time.Time
}

func (s *Store) createSession(ctx context.Context, idHash string, ws webSession, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO approval_sessions (id_hash, subject, issuer, groups_json, csrf, created, expires)
VALUES (?, ?, ?, ?, ?, ?, ?)`, idHash, ws.Subject, ws.Issuer, toJSON(ws.Groups), ws.CSRF, formatTime(now), formatTime(ws.Expires))
	if err != nil {
		return fmt.Errorf("approvals: create session: %w", err)
	}
	return nil
}

func (s *Store) session(ctx context.Context, idHash string, now time.Time) (*webSession, error) {
	var ws webSession
	var groups, expires string
	err := s.db.QueryRowContext(ctx, `SELECT subject, issuer, groups_json, csrf, expires FROM approval_sessions
WHERE id_hash = ? AND expires > ?`, idHash, formatTime(now)).Scan(&ws.Subject, &ws.Issuer, &groups, &ws.CSRF, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("approvals: session: %w", err)
	}
	ws.Groups, ws.Expires = fromJSON(groups), parseTime(expires)
	return &ws, nil
}

func (s *Store) deleteSession(ctx context.Context, idHash string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM approval_sessions WHERE id_hash = ? OR expires <= ?`, idHash, formatTime(now))
	if err != nil {
		return fmt.Errorf("approvals: delete session: %w", err)
	}
	return nil
}
