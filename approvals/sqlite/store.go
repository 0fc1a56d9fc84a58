package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/wardenhq/warden/approvals"
	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/internal/sqlitemigrate"
)

// Store keeps approval requests, their decisions and the approval pages'
// sessions in tables of a SQLite file (migrations/). Every method is safe
// for concurrent use, also by several Warden processes sharing the file:
// state changes are single conditional statements or IMMEDIATE
// transactions.
type Store struct {
	db *sql.DB
}

// migrationFS holds the schema of the approval tables (see
// internal/sqlitemigrate), recorded in table approvals_schema_migrations.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// New returns the store over db, after applying its pending migrations.
// db is the pool of the audit store the approvals share a file with
// (audit/sqlite.Store.DB), or any pool on a SQLite file whose transactions
// begin IMMEDIATE (_txlock=immediate) and wait for locks (busy_timeout).
// A nil logger discards logs.
func New(ctx context.Context, db *sql.DB, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ms, err := sqlitemigrate.Load(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("approvals: %w", err)
	}
	set := sqlitemigrate.Set{Name: "approvals", Table: "approvals_schema_migrations", Migrations: ms}
	if _, err := set.Apply(ctx, db, logger); err != nil {
		return nil, fmt.Errorf("approvals: %w", err)
	}
	return &Store{db: db}, nil
}

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

const approvalColumns = `id, digest, state, subject, issuer, groups_json, session, transport, connection, tool,
  arguments, statement, justification, rule, reason, policy_version, kinds_json, tables_read_json,
  tables_written_json, approver_groups_json, quorum, created, expires, decided, executed, audit_id, error`

type scanner interface{ Scan(dest ...any) error }

func scanApproval(s scanner) (*approvals.Approval, error) {
	var a approvals.Approval
	var groups, kinds, read, written, approvers, args, created, expires, decided, executed, state string
	if err := s.Scan(&a.ID, &a.Digest, &state, &a.Requester.Subject, &a.Requester.Issuer, &groups,
		&a.Requester.Session, &a.Requester.Transport, &a.Connection, &a.Tool, &args, &a.Statement,
		&a.Justification, &a.Rule, &a.Reason, &a.PolicyVersion, &kinds, &read, &written, &approvers,
		&a.Approvers.Quorum, &created, &expires, &decided, &executed, &a.AuditID, &a.Error); err != nil {
		return nil, err
	}
	a.State = approvals.State(state)
	a.Arguments = json.RawMessage(args)
	a.Requester.Groups = fromJSON(groups)
	a.Kinds, a.TablesRead, a.TablesWritten = fromJSON(kinds), fromJSON(read), fromJSON(written)
	a.Approvers.Groups = fromJSON(approvers)
	a.Created, a.Expires, a.Decided, a.Executed = parseTime(created), parseTime(expires), parseTime(decided), parseTime(executed)
	a.Decisions = []approvals.Decision{}
	return &a, nil
}

// Create stores a new request.
func (s *Store) Create(ctx context.Context, a *approvals.Approval) error {
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
func (s *Store) Get(ctx context.Context, id string) (*approvals.Approval, error) {
	return s.get(ctx, s.db, id)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *Store) get(ctx context.Context, q querier, id string) (*approvals.Approval, error) {
	a, err := scanApproval(q.QueryRowContext(ctx, `SELECT `+approvalColumns+` FROM approvals WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, approvals.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("approvals: get %s: %w", id, err)
	}
	if err := s.loadDecisions(ctx, q, []*approvals.Approval{a}); err != nil {
		return nil, err
	}
	return a, nil
}

func (s *Store) loadDecisions(ctx context.Context, q querier, as []*approvals.Approval) error {
	if len(as) == 0 {
		return nil
	}
	byID := map[string]*approvals.Approval{}
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
		var d approvals.Decision
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
func (s *Store) Latest(ctx context.Context, digest string) (*approvals.Approval, error) {
	a, err := scanApproval(s.db.QueryRowContext(ctx, `SELECT `+approvalColumns+` FROM approvals WHERE digest = ?
ORDER BY created DESC, id DESC LIMIT 1`, digest))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, approvals.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("approvals: find by digest: %w", err)
	}
	return a, s.loadDecisions(ctx, s.db, []*approvals.Approval{a})
}

// List returns requests, newest first, with their decisions.
func (s *Store) List(ctx context.Context, f approvals.Filter) ([]*approvals.Approval, error) {
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
	var out []*approvals.Approval
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
func (s *Store) Decide(ctx context.Context, id string, d approvals.Decision, check func(*approvals.Approval) error) (*approvals.Approval, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("approvals: decide %s: %w", id, err)
	}
	defer tx.Rollback()
	a, err := s.get(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if a.State == approvals.StatePending && !d.Time.Before(a.Expires) {
		if _, err := tx.ExecContext(ctx, `UPDATE approvals SET state = ? WHERE id = ? AND state = ?`, string(approvals.StateExpired), id, string(approvals.StatePending)); err != nil {
			return nil, fmt.Errorf("approvals: decide %s: %w", id, err)
		}
		if err := tx.Commit(); err != nil {
			return nil, fmt.Errorf("approvals: decide %s: %w", id, err)
		}
		a.State = approvals.StateExpired
		return a, approvals.ExpiredError{At: a.Expires}
	}
	if err := check(a); err != nil {
		return a, err
	}
	if a.State != approvals.StatePending {
		return a, fmt.Errorf("%w: the request is already %s", approvals.ErrConflict, a.State)
	}
	for _, prev := range a.Decisions {
		if prev.Approver == d.Approver {
			return a, fmt.Errorf("%w: %s already decided on this request (%s)", approvals.ErrConflict, d.Approver, prev.Verdict)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO approval_decisions (approval, approver, issuer, groups_json, verdict, comment, time, via)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, id, d.Approver, d.Issuer, toJSON(d.Groups), d.Verdict, d.Comment, formatTime(d.Time), d.Via); err != nil {
		return nil, fmt.Errorf("approvals: record decision on %s: %w", id, err)
	}
	a.Decisions = append(a.Decisions, d)
	if next := a.StateAfter(); next != approvals.StatePending {
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

// Consume releases an approved request for execution, once: it moves it
// from approved to executed only if it is still approved, unexpired and
// bound to digest. It reports whether this caller won.
func (s *Store) Consume(ctx context.Context, id, digest string, now time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE approvals SET state = ?, executed = ?
WHERE id = ? AND digest = ? AND state = ? AND expires > ?`,
		string(approvals.StateExecuted), formatTime(now), id, digest, string(approvals.StateApproved), formatTime(now))
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
func (s *Store) Finish(ctx context.Context, id string, r approvals.Result) error {
	state := approvals.StateExecuted
	if !r.OK {
		state = approvals.StateFailed
	}
	_, err := s.db.ExecContext(ctx, `UPDATE approvals SET state = ?, audit_id = ?, error = ? WHERE id = ? AND state = ?`,
		string(state), r.AuditID, r.Error, id, string(approvals.StateExecuted))
	if err != nil {
		return fmt.Errorf("approvals: finish %s: %w", id, err)
	}
	return nil
}

// Fail marks an open request failed, with why (a request whose stored
// call no longer matches its digest).
func (s *Store) Fail(ctx context.Context, id, why string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE approvals SET state = ?, error = ? WHERE id = ? AND state IN (?, ?)`,
		string(approvals.StateFailed), why, id, string(approvals.StatePending), string(approvals.StateApproved))
	if err != nil {
		return fmt.Errorf("approvals: fail %s: %w", id, err)
	}
	return nil
}

// ExpireDue marks every open request past its expiry expired and returns
// those this call changed (each is returned by exactly one caller, also
// across processes).
func (s *Store) ExpireDue(ctx context.Context, now time.Time) ([]*approvals.Approval, error) {
	rows, err := s.db.QueryContext(ctx, `UPDATE approvals SET state = ?
WHERE state IN (?, ?) AND expires <= ? RETURNING id`, string(approvals.StateExpired), string(approvals.StatePending), string(approvals.StateApproved), formatTime(now))
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
	var out []*approvals.Approval
	for _, id := range ids {
		a, err := s.Get(ctx, id)
		if err != nil {
			return out, err
		}
		out = append(out, a)
	}
	return out, nil
}

// CreateSession implements approvals.Store.
func (s *Store) CreateSession(ctx context.Context, idHash string, ws approvals.WebSession, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO approval_sessions (id_hash, subject, issuer, groups_json, csrf, created, expires)
VALUES (?, ?, ?, ?, ?, ?, ?)`, idHash, ws.Subject, ws.Issuer, toJSON(ws.Groups), ws.CSRF, formatTime(now), formatTime(ws.Expires))
	if err != nil {
		return fmt.Errorf("approvals: create session: %w", err)
	}
	return nil
}

// Session implements approvals.Store.
func (s *Store) Session(ctx context.Context, idHash string, now time.Time) (*approvals.WebSession, error) {
	var ws approvals.WebSession
	var groups, expires string
	err := s.db.QueryRowContext(ctx, `SELECT subject, issuer, groups_json, csrf, expires FROM approval_sessions
WHERE id_hash = ? AND expires > ?`, idHash, formatTime(now)).Scan(&ws.Subject, &ws.Issuer, &groups, &ws.CSRF, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, approvals.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("approvals: session: %w", err)
	}
	ws.Groups, ws.Expires = fromJSON(groups), parseTime(expires)
	return &ws, nil
}

// DeleteSession implements approvals.Store.
func (s *Store) DeleteSession(ctx context.Context, idHash string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM approval_sessions WHERE id_hash = ? OR expires <= ?`, idHash, formatTime(now))
	if err != nil {
		return fmt.Errorf("approvals: delete session: %w", err)
	}
	return nil
}

var _ approvals.Store = (*Store)(nil)
