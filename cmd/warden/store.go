package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/wardenhq/warden/approvals"
	approvalsqlite "github.com/wardenhq/warden/approvals/sqlite"
	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/audit/auditlog"
	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
	"github.com/wardenhq/warden/config"
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
	open    func(ctx context.Context, dsn string, o storeOptions) (*stores, error)
}

// storeOptions are what stores open with besides their DSN.
type storeOptions struct {
	logger *slog.Logger
	// signer signs the audit log (audit.signing_key_*); nil: unsigned.
	signer *auditlog.Signer
	// checkpointEvery is audit.checkpoint_interval.
	checkpointEvery time.Duration
}

// configStoreOptions are the store options of cfg: its audit log's
// signing key, read now, and checkpoint interval.
func configStoreOptions(cfg *config.Config, logger *slog.Logger) (storeOptions, error) {
	o := storeOptions{logger: logger, checkpointEvery: cfg.Audit.CheckpointInterval}
	var err error
	if o.signer, err = loadSigningKey(cfg.Audit.SigningKey()); err != nil {
		return storeOptions{}, err
	}
	return o, nil
}

// loadSigningKey reads the audit log's signing key from ref; nil if none
// is configured. A key file others may read is refused. Errors name where
// the key comes from, never the key.
func loadSigningKey(ref config.SecretRef) (*auditlog.Signer, error) {
	if ref.IsZero() {
		return nil, nil
	}
	if ref.File != "" {
		if fi, err := os.Stat(ref.File); err == nil && fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("audit.signing_key_file %s: others may read it (mode %04o); chmod 600 it", ref.File, fi.Mode().Perm())
		}
	}
	sec, err := ref.Resolve()
	if err != nil {
		return nil, fmt.Errorf("audit signing key: %w", err)
	}
	s, err := auditlog.NewSigner(sec.Reveal())
	if err != nil {
		return nil, fmt.Errorf("audit signing key (%s): %w", ref.Describe(), err)
	}
	return s, nil
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
func openStores(ctx context.Context, dsn string, o storeOptions) (*stores, error) {
	scheme := "sqlite"
	if s, _, ok := strings.Cut(dsn, "://"); ok {
		scheme = strings.ToLower(s)
	}
	var known []string
	for _, b := range storeBackends() {
		for _, s := range b.schemes {
			if s == scheme {
				return b.open(ctx, dsn, o)
			}
			known = append(known, s+"://")
		}
	}
	// Not the DSN itself: it may hold a password.
	return nil, fmt.Errorf("store: unknown scheme %s:// (known: %s, or a file path for SQLite)", scheme, strings.Join(known, ", "))
}

// openSQLiteStores opens a SQLite file: the audit store, and the approval
// tables in the same file.
func openSQLiteStores(ctx context.Context, dsn string, o storeOptions) (*stores, error) {
	logger := o.logger
	st, err := auditsqlite.OpenWith(ctx, dsn, auditsqlite.Options{
		Logger: logger.With("component", "audit"), Signer: o.signer, CheckpointEvery: o.checkpointEvery,
	})
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
