package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/audit/auditlog"
)

// Reading everything, for the audit log: its backfill, verification and
// export read every event and chunk once, in no particular order.

// queryer is a pool, a connection or a transaction.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// eachEvent calls fn with every event whose ID is fromID or later, from
// events and runs alike, in no particular order.
func eachEvent(ctx context.Context, q queryer, fromID string, fn func(e *audit.Event) error) error {
	rows, err := q.QueryContext(ctx, selectColumns+` WHERE id >= ?`, fromID)
	if err != nil {
		return err
	}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err == nil {
			err = fn(&e)
		}
		if err != nil {
			rows.Close()
			return err
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	rows, err = q.QueryContext(ctx, runSelect+` WHERE last_id >= ?`, fromID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return err
		}
		events, err := r.events()
		if err != nil {
			return err
		}
		for i := range events {
			if events[i].ID < fromID {
				continue
			}
			if err := fn(&events[i]); err != nil {
				return err
			}
		}
	}
	return rows.Err()
}

// eachChunk calls fn with every recording chunk of a recording whose ID is
// fromID or later, in (recording, seq) order.
func eachChunk(ctx context.Context, q queryer, fromID string, fn func(id string, seq int, chunk []byte) error) error {
	rows, err := q.QueryContext(ctx, `SELECT id, seq, chunk FROM recording_chunks WHERE id >= ? ORDER BY id, seq`, fromID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id    string
			seq   int
			chunk []byte
		)
		if err := rows.Scan(&id, &seq, &chunk); err != nil {
			return err
		}
		if err := fn(id, seq, chunk); err != nil {
			return err
		}
	}
	return rows.Err()
}

// backfillBatch is how many leaves of the backfill go in one batch row.
const backfillBatch = 4096

// backfillLog logs, once, the events and chunks written before the log
// existed (a store migrated from an earlier version), in ID order, and
// returns how many leaves it appended. A Warden of another process doing
// the same at the same moment finds the work done.
func backfillLog(ctx context.Context, db *sql.DB, lg *auditLog) (int, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE log_origin SET backfill = 0 WHERE backfill = 1`)
	if err != nil {
		return 0, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 0, nil
	}
	var leaves []leaf
	var buf []byte
	err = eachEvent(ctx, tx, "", func(e *audit.Event) error {
		var err error
		if buf, err = eventLeaf(buf[:0], e); err != nil {
			return fmt.Errorf("event %s: %w", e.ID, err)
		}
		leaves = append(leaves, leaf{key: e.ID, hash: auditlog.LeafHash(buf)})
		return nil
	})
	if err != nil {
		return 0, err
	}
	err = eachChunk(ctx, tx, "", func(id string, seq int, chunk []byte) error {
		leaves = append(leaves, leaf{key: auditlog.ChunkKey(id, seq), hash: auditlog.LeafHash(auditlog.ChunkLeaf(id, seq, chunk))})
		return nil
	})
	if err != nil {
		return 0, err
	}
	slices.SortFunc(leaves, func(a, b leaf) int { return strings.Compare(a.key, b.key) })
	for len(leaves) > 0 {
		n := min(len(leaves), backfillBatch)
		if err := lg.appendBatch(ctx, sqlLogDB{tx}, leaves[:n]); err != nil {
			lg.rolledBack()
			return 0, err
		}
		lg.committed() // the next batch extends this one (if the commit fails, Open fails)
		leaves = leaves[n:]
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return int(lg.tree.Size()), nil
}
