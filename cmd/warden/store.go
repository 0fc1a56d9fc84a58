package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/wardenhq/warden/approvals"
	approvalsqlite "github.com/wardenhq/warden/approvals/sqlite"
	"github.com/wardenhq/warden/audit"
	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
)

// stores are the stores one `store:` DSN names: the audit store (events,
// leases) and the approval store, which share the backend's database.
type stores struct {
	audit     audit.Store
	approvals approvals.Store
}

// Close closes the stores.
func (s *stores) Close() error { return s.audit.Close() }

// storeBackend opens the stores of DSNs with one of its schemes.
type storeBackend struct {
	schemes []string // "sqlite" for sqlite://...
	open    func(ctx context.Context, dsn string, logger *slog.Logger) (*stores, error)
}

// storeBackends is every store backend this binary has. A DSN without a
// scheme is a SQLite file path.
func storeBackends() []storeBackend {
	return []storeBackend{
		{schemes: []string{"sqlite", "sqlite3"}, open: openSQLiteStores},
	}
}

// openStores opens the stores dsn names, with the backend its scheme
// chooses.
func openStores(ctx context.Context, dsn string, logger *slog.Logger) (*stores, error) {
	scheme := "sqlite"
	if s, _, ok := strings.Cut(dsn, "://"); ok {
		scheme = strings.ToLower(s)
	}
	var known []string
	for _, b := range storeBackends() {
		for _, s := range b.schemes {
			if s == scheme {
				return b.open(ctx, dsn, logger)
			}
			known = append(known, s+"://")
		}
	}
	// Not the DSN itself: it may hold a password.
	return nil, fmt.Errorf("store: unknown scheme %s:// (known: %s, or a file path for SQLite)", scheme, strings.Join(known, ", "))
}

// openSQLiteStores opens a SQLite file: the audit store, and the approval
// tables in the same file.
func openSQLiteStores(ctx context.Context, dsn string, logger *slog.Logger) (*stores, error) {
	st, err := auditsqlite.Open(ctx, dsn, logger.With("component", "audit"))
	if err != nil {
		return nil, err
	}
	as, err := approvalsqlite.New(ctx, st.DB(), logger.With("component", "approvals"))
	if err != nil {
		st.Close()
		return nil, err
	}
	return &stores{audit: st, approvals: as}, nil
}

// redactDSN is dsn as logs may show it: a password in it is replaced.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		return u.Redacted()
	}
	if _, _, ok := strings.Cut(dsn, "://"); ok && strings.Contains(dsn, "@") {
		scheme, _, _ := strings.Cut(dsn, "://")
		return scheme + "://(redacted)"
	}
	return dsn
}
