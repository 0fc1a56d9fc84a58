package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wardenhq/warden/audit"
)

// CreateLease records a lease before its credential is minted, so that a
// crash in between still leaves something for the reaper to revoke.
func (s *Store) CreateLease(ctx context.Context, l audit.Lease) error {
	_, err := s.readDB.ExecContext(ctx, `INSERT INTO leases
  (id, connection, principal, identity, session, instance, grants, created, expires, state)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		l.ID, l.Connection, l.Principal, l.Identity, l.Session, l.Instance, l.Grants,
		formatTime(l.Created), formatTime(l.Expires), audit.LeaseActive)
	if err != nil {
		return fmt.Errorf("audit: create lease %s: %w", l.ID, err)
	}
	return nil
}

// UpdateLease records a lease's grants and expiry once minted.
func (s *Store) UpdateLease(ctx context.Context, id, grants string, expires time.Time) error {
	_, err := s.readDB.ExecContext(ctx, `UPDATE leases SET grants = ?, expires = ? WHERE id = ?`, grants, formatTime(expires), id)
	if err != nil {
		return fmt.Errorf("audit: update lease %s: %w", id, err)
	}
	return nil
}

// LeaseRevoked marks a lease revoked.
func (s *Store) LeaseRevoked(ctx context.Context, id string, at time.Time) error {
	_, err := s.readDB.ExecContext(ctx, `UPDATE leases SET state = ?, revoked_at = ?, last_error = '' WHERE id = ?`,
		audit.LeaseRevoked, formatTime(at), id)
	if err != nil {
		return fmt.Errorf("audit: revoke lease %s: %w", id, err)
	}
	return nil
}

// LeaseAttempt records a failed revocation; after the last attempt the
// lease is marked failed.
func (s *Store) LeaseAttempt(ctx context.Context, id string, revokeErr error, failed bool) error {
	state := audit.LeaseActive
	if failed {
		state = audit.LeaseFailed
	}
	_, err := s.readDB.ExecContext(ctx, `UPDATE leases SET attempts = attempts + 1, last_error = ?, state = ? WHERE id = ?`,
		revokeErr.Error(), state, id)
	if err != nil {
		return fmt.Errorf("audit: lease %s: %w", id, err)
	}
	return nil
}

// Leases lists leases, newest first.
func (s *Store) Leases(ctx context.Context, f audit.LeaseFilter) ([]audit.Lease, error) {
	if f.Limit <= 0 || f.Limit > audit.MaxListLimit {
		f.Limit = audit.DefaultListLimit
	}
	rows, err := s.readDB.QueryContext(ctx, `SELECT id, connection, principal, identity, session, instance, grants,
  created, expires, revoked_at, state, attempts, last_error
FROM leases WHERE (? = '' OR state = ?) AND (? = '' OR connection = ?)
ORDER BY created DESC, id DESC LIMIT ?`, f.State, f.State, f.Connection, f.Connection, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("audit: list leases: %w", err)
	}
	defer rows.Close()
	var out []audit.Lease
	for rows.Next() {
		var l audit.Lease
		var created, expires, revoked string
		if err := rows.Scan(&l.ID, &l.Connection, &l.Principal, &l.Identity, &l.Session, &l.Instance, &l.Grants,
			&created, &expires, &revoked, &l.State, &l.Attempts, &l.LastError); err != nil {
			return nil, fmt.Errorf("audit: list leases: %w", err)
		}
		l.Created, _ = time.Parse(audit.TimeLayout, created)
		l.Expires, _ = time.Parse(audit.TimeLayout, expires)
		if revoked != "" {
			l.RevokedAt, _ = time.Parse(audit.TimeLayout, revoked)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// Heartbeat records that the instance is alive.
func (s *Store) Heartbeat(ctx context.Context, in audit.Instance) error {
	_, err := s.readDB.ExecContext(ctx, `INSERT INTO instances (id, host, pid, boot, started, heartbeat) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET heartbeat = excluded.heartbeat`,
		in.ID, in.Host, in.PID, in.Boot, formatTime(in.Started), formatTime(in.Heartbeat))
	if err != nil {
		return fmt.Errorf("audit: heartbeat: %w", err)
	}
	return nil
}

// Instances returns every recorded instance.
func (s *Store) Instances(ctx context.Context) ([]audit.Instance, error) {
	rows, err := s.readDB.QueryContext(ctx, `SELECT id, host, pid, boot, started, heartbeat FROM instances`)
	if err != nil {
		return nil, fmt.Errorf("audit: instances: %w", err)
	}
	defer rows.Close()
	var out []audit.Instance
	for rows.Next() {
		var in audit.Instance
		var started, hb string
		if err := rows.Scan(&in.ID, &in.Host, &in.PID, &in.Boot, &started, &hb); err != nil {
			return nil, err
		}
		in.Started, _ = time.Parse(audit.TimeLayout, started)
		in.Heartbeat, _ = time.Parse(audit.TimeLayout, hb)
		out = append(out, in)
	}
	return out, rows.Err()
}

// ForgetInstance removes an instance that ended (cleanly or not) and has
// no active lease left.
func (s *Store) ForgetInstance(ctx context.Context, id string) error {
	_, err := s.readDB.ExecContext(ctx, `DELETE FROM instances WHERE id = ?
  AND NOT EXISTS (SELECT 1 FROM leases WHERE instance = ? AND state = 'active')`, id, id)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("audit: forget instance: %w", err)
	}
	return nil
}
