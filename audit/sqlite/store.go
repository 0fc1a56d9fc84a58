package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/audit/auditlog"
	"github.com/wardenhq/warden/internal/sqlitemigrate"
)

// migrationFS holds the schema of the audit tables (see
// internal/sqlitemigrate): files NNNN_name.sql, never edited once
// released. Version 5 was the approval tables' migration, which
// approvals/sqlite owns now; its file stays, empty, so that the
// versions a database recorded keep their meaning.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// ErrSchemaTooNew is returned by Open when the database was migrated by a
// newer Warden than this one.
var ErrSchemaTooNew = sqlitemigrate.ErrSchemaTooNew

// schema is the migration set of the audit tables, recorded in table
// schema_migrations.
func schema(ms []sqlitemigrate.Migration) sqlitemigrate.Set {
	return sqlitemigrate.Set{Name: "audit", Table: "schema_migrations", Migrations: ms}
}

// pragmas are applied to every connection. busy_timeout comes first so the
// others wait for a lock instead of failing. _txlock=immediate makes every
// transaction take the write lock at BEGIN: a deferred transaction that reads
// and then writes can fail with SQLITE_BUSY without waiting.
const pragmas = "_pragma=busy_timeout(5000)" +
	"&_pragma=journal_mode(WAL)" +
	"&_pragma=synchronous(NORMAL)" +
	"&_pragma=foreign_keys(on)" +
	"&_txlock=immediate"

// Store is the audit store: events in one SQLite file. Writes go through a
// single writer goroutine that commits them in groups; reads use a separate
// pool of connections, which WAL mode lets run alongside the writer.
type Store struct {
	path     string
	logger   *slog.Logger
	ids      audit.IDGenerator
	instance string // this process, as its events name it (processInstance)

	writeDB *sql.DB // one connection, used only by the writer goroutine
	readDB  *sql.DB // reads, and other stores sharing the file (see DB)
	file    os.FileInfo
	journal *journal   // intents written by BeginAsync, not yet all in the database
	records bufferPool // BeginAsync's buffers

	// The writer goroutine's own.
	stmts       writeStmts
	settledSegs []*segment // for journal.settled
	log         *auditLog

	// The checkpointer's (checkpoint.go).
	cpEvery time.Duration
	cpMu    sync.Mutex // one checkpoint at a time
	cpStop  chan struct{}
	cpDone  chan struct{}

	mu      sync.RWMutex // held for reading while submitting an op; Close takes it to close ops
	closed  bool
	ops     chan *op
	urge    chan struct{} // ends the writer's linger (see Store.linger)
	closing chan struct{} // closed by Close: the writer lingers no more
	done    chan struct{} // closed when the writer goroutine has returned

	closeOnce sync.Once
	closeErr  error

	commits atomic.Int64 // transactions the writer committed, for benchmarks
}

// Options configure a store beyond its DSN. The zero Options discard logs
// and keep the audit log unsigned.
type Options struct {
	Logger *slog.Logger
	// Signer signs the heads and checkpoints of the audit log. Without
	// one they are unsigned: the log shows damage, but anyone who can
	// write the file can rewrite it and its heads alike.
	Signer *auditlog.Signer
	// CheckpointEvery is how often a checkpoint is made while the store
	// is open (DefaultCheckpointEvery if 0; negative: only at Close).
	CheckpointEvery time.Duration
}

// DefaultCheckpointEvery is how often a store makes a checkpoint unless
// told otherwise.
const DefaultCheckpointEvery = time.Minute

// Open opens the store named by dsn, creating the file and its directory if
// they are missing, and applies pending migrations. dsn is
// sqlite:///abs/path.db, sqlite://relative/path.db or a plain file path;
// relative paths are relative to the working directory. A nil logger
// discards logs. The audit log is unsigned (see OpenWith).
func Open(ctx context.Context, dsn string, logger *slog.Logger) (*Store, error) {
	return OpenWith(ctx, dsn, Options{Logger: logger})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, dsn string, o Options) (*Store, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.CheckpointEvery == 0 {
		o.CheckpointEvery = DefaultCheckpointEvery
	}
	path, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	s, err := open(ctx, path, o)
	if err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", path, err)
	}
	return s, nil
}

// parseDSN returns the database file a DSN names.
func parseDSN(dsn string) (string, error) {
	scheme, rest, hasScheme := strings.Cut(dsn, "://")
	path := dsn
	if hasScheme {
		switch strings.ToLower(scheme) {
		case "sqlite", "sqlite3":
			path = rest
		default:
			// Not the DSN itself: another backend's may hold a password.
			return "", fmt.Errorf("audit: a %s:// store is not a SQLite file (want sqlite://PATH or a file path)", scheme)
		}
	}
	switch {
	case path == "":
		return "", fmt.Errorf("audit: store %q: no file path", dsn)
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		return "", fmt.Errorf("audit: store %q: need a plain file path: the writer and the readers must share one file", dsn)
	case strings.Contains(path, "?"):
		return "", fmt.Errorf("audit: store %q: file path must not contain '?'", dsn)
	}
	return path, nil
}

func open(ctx context.Context, path string, o Options) (*Store, error) {
	logger := o.Logger
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create directory: %w", err)
	}
	// Create the file ourselves so that it is private; SQLite gives the WAL
	// and shared-memory files the same permissions as the database file.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open for writing: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("open for writing: %w", err)
	}

	ms, err := sqlitemigrate.Load(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}

	writeDB, err := sql.Open("sqlite", path+"?"+pragmas)
	if err != nil {
		return nil, err
	}
	writeDB.SetMaxOpenConns(1)
	writeDB.SetMaxIdleConns(1)
	writeDB.SetConnMaxLifetime(0)
	writeDB.SetConnMaxIdleTime(0)

	version, err := schema(ms).Apply(ctx, writeDB, logger)
	if err != nil {
		_ = writeDB.Close()
		return nil, err
	}

	readDB, err := sql.Open("sqlite", path+"?"+pragmas)
	if err != nil {
		_ = writeDB.Close()
		return nil, err
	}
	readDB.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)))
	if err := readDB.PingContext(ctx); err != nil {
		_ = writeDB.Close()
		_ = readDB.Close()
		return nil, err
	}

	// Remember which file we opened, so the writer can notice that it was
	// removed or replaced underneath us (see checkFile).
	info, err := os.Stat(path)
	if err != nil {
		_ = writeDB.Close()
		_ = readDB.Close()
		return nil, err
	}

	lg, backfill, err := loadLog(ctx, writeDB, o.Signer, logger)
	if err != nil {
		_ = writeDB.Close()
		_ = readDB.Close()
		return nil, err
	}
	if backfill {
		n, err := backfillLog(ctx, writeDB, lg)
		if err != nil {
			_ = writeDB.Close()
			_ = readDB.Close()
			return nil, fmt.Errorf("audit log: log the events written before it: %w", err)
		}
		if n > 0 {
			logger.Info("audit log: logged the events and recording chunks written before it", "leaves", n)
		}
	}

	j, replayed, err := openJournal(ctx, path, writeDB, lg)
	if err != nil {
		_ = writeDB.Close()
		_ = readDB.Close()
		return nil, err
	}
	if replayed.intents+replayed.outcomes > 0 {
		logger.Warn("audit: recovered intents and outcomes from the journal of a Warden that stopped",
			"intents", replayed.intents, "outcomes", replayed.outcomes)
	}

	var stmts writeStmts
	if err := withDriverConn(ctx, writeDB, func(dc any) error { return stmts.prepare(ctx, dc) }); err != nil {
		_ = j.close()
		_ = writeDB.Close()
		_ = readDB.Close()
		return nil, err
	}

	s := &Store{
		log:      lg,
		cpEvery:  o.CheckpointEvery,
		journal:  j,
		instance: processInstance(),
		path:     path,
		logger:   logger,
		writeDB:  writeDB,
		stmts:    stmts,
		readDB:   readDB,
		file:     info,
		ops:      make(chan *op, queueLen),
		urge:     make(chan struct{}, 1),
		closing:  make(chan struct{}),
		done:     make(chan struct{}),
	}
	go s.run()
	n, err := s.closeInterrupted(ctx)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("close the events of Wardens that stopped: %w", err)
	}
	if n > 0 {
		logger.Warn("audit: events left running by a Warden that stopped are closed as interrupted", "events", n)
	}
	s.startCheckpoints()
	logger.Info("audit store opened", "path", path, "schema_version", version, "log_origin", lg.origin, "log_signed", o.Signer != nil)
	return s, nil
}

// DB returns the pool that other stores sharing this database (leases,
// approvals) use for their own tables. Its transactions begin IMMEDIATE and
// wait up to busy_timeout for the audit writer, so keep them short. Do not
// write to the events table through it.
func (s *Store) DB() *sql.DB { return s.readDB }

// Path returns the database file.
func (s *Store) Path() string { return s.path }

// Close commits the writes already submitted, stops the writer and closes
// the database. Writes after Close return ErrClosed. Close is idempotent and
// every call returns the result of the first.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stopCheckpoints()
		s.mu.Lock()
		s.closed = true
		close(s.ops)
		close(s.closing)
		s.mu.Unlock()

		<-s.done
		// A checkpoint of everything written, unless the database is
		// what failed (then the next Warden makes it).
		s.closingCheckpoint()
		stmtsErr := withDriverConn(context.Background(), s.writeDB, func(any) error { return s.stmts.closeStmts() })
		s.closeErr = errors.Join(stmtsErr, s.journal.close(), s.writeDB.Close(), s.readDB.Close())
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("audit: close %s: %w", s.path, s.closeErr)
		}
		s.logger.Info("audit store closed", "path", s.path)
	})
	return s.closeErr
}

// withDriverConn runs f with the driver connection of one of db's
// connections.
func withDriverConn(ctx context.Context, db *sql.DB, f func(dc any) error) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(f)
}

var _ audit.Store = (*Store)(nil)
