package sqlitemigrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wardenhq/warden/audit"
)

// ErrSchemaTooNew is returned by Apply when the database was migrated by a
// newer Warden than this one.
var ErrSchemaTooNew = errors.New("database schema is newer than this binary")

// Migration is one file NNNN_name.sql; its version is NNNN.
type Migration struct {
	Version int
	Name    string // file name, for logs and errors
	SQL     string
}

// Set is the schema of one store: its migrations, applied in version
// order, each in its own transaction, and never edited once released
// (change the schema by adding the next file). Table records which
// versions a database has; stores sharing a file use a table each.
type Set struct {
	Name       string // the store, for logs: "audit", "approvals"
	Table      string
	Migrations []Migration
}

// Load reads the files dir/*.sql of fsys and orders them by version.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", base)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: version, Name: base, SQL: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s have the same version", ms[i-1].Name, ms[i].Name)
		}
	}
	return ms, nil
}

// Apply brings db up to the newest migration of s and returns the
// resulting schema version. db must open transactions with BEGIN
// IMMEDIATE, so that two processes migrating the same file take turns.
func (s Set) Apply(ctx context.Context, db *sql.DB, logger *slog.Logger) (int, error) {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+s.Table+` (
		version    INTEGER PRIMARY KEY,
		applied_at TEXT NOT NULL
	)`); err != nil {
		return 0, fmt.Errorf("create %s: %w", s.Table, err)
	}
	current, err := s.version(ctx, db)
	if err != nil {
		return 0, err
	}
	known := 0
	if len(s.Migrations) > 0 {
		known = s.Migrations[len(s.Migrations)-1].Version
	}
	if current > known {
		return 0, fmt.Errorf("%w: the %s schema is at version %d, this binary knows up to %d; upgrade warden",
			ErrSchemaTooNew, s.Name, current, known)
	}
	for _, m := range s.Migrations {
		applied, err := s.apply(ctx, db, m)
		if err != nil {
			return 0, fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if applied {
			logger.Info(s.Name+" migration applied", "version", m.Version, "migration", m.Name)
			current = max(current, m.Version)
		}
	}
	return current, nil
}

// version returns the highest applied migration, 0 for a new database.
func (s Set) version(ctx context.Context, db *sql.DB) (int, error) {
	var v sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT max(version) FROM `+s.Table).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return int(v.Int64), nil
}

// apply runs m unless it is already recorded, and reports whether it ran.
// The check is inside the transaction, so a migration another process
// applied meanwhile is not applied twice.
func (s Set) apply(ctx context.Context, db *sql.DB, m Migration) (applied bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()

	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+s.Table+` WHERE version = ?`, m.Version).Scan(&n); err != nil {
		return false, err
	}
	if n > 0 {
		return false, tx.Rollback()
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO `+s.Table+` (version, applied_at) VALUES (?, ?)`,
		m.Version, time.Now().UTC().Format(audit.TimeLayout)); err != nil {
		return false, err
	}
	return true, tx.Commit()
}
