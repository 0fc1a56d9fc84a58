package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"

	sqlite "modernc.org/sqlite"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/policy"
	sqliteclass "github.com/wardenhq/warden/policy/sqlclass/sqlite"
)

// SQLite is a connector for one SQLite database file.
type SQLite struct {
	info   connectors.Info
	path   string
	logger *slog.Logger

	ro         *sql.DB
	compiler   *sqliteclass.Compiler
	classifier *sqliteclass.Classifier
	relIDs     relationIDs

	mu     sync.Mutex
	rw     *sql.DB
	closed bool
}

// Open builds the connector. The file must exist: Warden never creates a
// target database.
func Open(_ context.Context, cfg config.Connection, logger *slog.Logger) (connectors.Connector, error) {
	if _, err := os.Stat(cfg.Path); err != nil {
		return nil, fmt.Errorf("sqlite database %s: %w", cfg.Path, errors.Unwrap(err))
	}
	ro, err := openHandle(cfg.Path, true)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", cfg.Path, err)
	}
	ro.SetMaxOpenConns(8)
	ro.SetMaxIdleConns(8)
	compiler := sqliteclass.NewCompiler(cfg.Path)
	return &SQLite{
		info:   connectors.Info{Name: cfg.Name, Kind: config.KindSQLite, Labels: cfg.Labels, Target: cfg.Path},
		path:   cfg.Path,
		logger: logger,
		ro:     ro,

		compiler:   compiler,
		classifier: sqliteclass.NewClassifier(compiler),
	}, nil
}

func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	if readOnly {
		q.Set("mode", "ro")
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("mode", "rw")
		q.Add("_pragma", "journal_mode(WAL)")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// openHandle opens a pool whose every connection carries an authorizer for
// what mode=ro and query_only do not cover. ATTACH (and VACUUM INTO, which
// attaches its output) is refused: it opens files with the driver's
// read-write flags, so it could reopen the target writable under another
// name or create files on the Warden host. On a read-only handle PRAGMA
// query_only is refused too: turning it off would last for every later
// statement on the pooled connection.
func openHandle(path string, readOnly bool) (*sql.DB, error) {
	base, err := sqlite.NewConnector(dsn(path, readOnly))
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(guardedConnector{Connector: base, readOnly: readOnly}), nil
}

type guardedConnector struct {
	driver.Connector
	readOnly bool
}

func (g guardedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := g.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ar, ok := conn.(sqlite.AuthorizerRegisterer)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("sqlite connection %T has no authorizer", conn)
	}
	if err := ar.RegisterAuthorizer(g.authorize); err != nil {
		conn.Close()
		return nil, fmt.Errorf("install sqlite authorizer: %w", err)
	}
	return conn, nil
}

func (g guardedConnector) authorize(action sqlite.AuthorizerActionCode, arg1, _, _, _ string) sqlite.AuthorizerReturnCode {
	switch {
	case action == sqlite.AuthAttach:
		return sqlite.AuthorizerDeny
	case g.readOnly && action == sqlite.AuthPragma && strings.EqualFold(arg1, "query_only"):
		// The value cannot be told apart from a NULL one ('' turns it
		// off too), so reading it is refused as well.
		return sqlite.AuthorizerDeny
	}
	return sqlite.AuthorizerOK
}

// Info implements connectors.Connector.
func (s *SQLite) Info() connectors.Info { return s.info }

// Ping implements connectors.Connector.
func (s *SQLite) Ping(ctx context.Context) error {
	db, err := s.handle(true)
	if err != nil {
		return err
	}
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: %v", connectors.ErrUnavailable, err)
	}
	return nil
}

// Close implements connectors.Connector.
func (s *SQLite) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := errors.Join(s.ro.Close(), s.compiler.Close())
	if s.rw != nil {
		err = errors.Join(err, s.rw.Close())
	}
	return err
}

func (s *SQLite) handle(readOnly bool) (*sql.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, connectors.ErrClosed
	}
	if readOnly {
		return s.ro, nil
	}
	if s.rw == nil {
		rw, err := openHandle(s.path, false)
		if err != nil {
			return nil, fmt.Errorf("open sqlite %s read-write: %w", s.path, err)
		}
		rw.SetMaxOpenConns(1)
		s.rw = rw
	}
	return s.rw, nil
}

// Classifier implements connectors.SQL.
func (s *SQLite) Classifier() policy.Classifier { return s.classifier }

// Query implements connectors.SQL.
func (s *SQLite) Query(ctx context.Context, req connectors.QueryRequest) (connectors.Rows, error) {
	db, err := s.handle(req.ReadOnly)
	if err != nil {
		return nil, err
	}
	var cancel context.CancelFunc
	if req.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, req.Timeout)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: req.ReadOnly})
	if err != nil {
		cancel()
		return nil, mapError(ctx, err)
	}
	if req.Gate != nil {
		if err := req.Gate(ctx); err != nil {
			tx.Rollback()
			cancel()
			return nil, err
		}
	}
	rs, err := tx.QueryContext(ctx, req.SQL)
	if err != nil {
		tx.Rollback()
		err = mapError(ctx, err)
		cancel()
		return nil, err
	}
	cts, err := rs.ColumnTypes()
	if err != nil {
		rs.Close()
		tx.Rollback()
		cancel()
		return nil, mapError(ctx, err)
	}
	r := &rows{ctx: ctx, cancel: cancel, tx: tx, rs: rs, readOnly: req.ReadOnly}
	r.cols = make([]connectors.Column, len(cts))
	for i, ct := range cts {
		t := strings.ToLower(ct.DatabaseTypeName())
		r.cols[i] = connectors.Column{Name: ct.Name(), Type: t}
	}
	r.vals = make([]any, len(cts))
	r.scan = make([]any, len(cts))
	for i := range r.scan {
		r.scan[i] = new(any)
	}
	return r, nil
}

type rows struct {
	ctx      context.Context
	cancel   context.CancelFunc
	tx       *sql.Tx
	rs       *sql.Rows
	readOnly bool
	cols     []connectors.Column
	vals     []any
	scan     []any
	n        int64
	err      error
	closed   bool
}

func (r *rows) Columns() []connectors.Column { return r.cols }
func (r *rows) Values() []any                { return r.vals }
func (r *rows) Err() error                   { return r.err }

func (r *rows) Tag() string {
	return fmt.Sprintf("SELECT %d", r.n)
}

func (r *rows) Next() bool {
	if r.closed || r.err != nil {
		return false
	}
	if !r.rs.Next() {
		if err := r.rs.Err(); err != nil {
			r.err = mapError(r.ctx, err)
		}
		return false
	}
	if err := r.rs.Scan(r.scan...); err != nil {
		r.err = mapError(r.ctx, err)
		return false
	}
	for i, p := range r.scan {
		r.vals[i] = jsonValue(*(p.(*any)))
	}
	r.n++
	return true
}

func (r *rows) Close() error {
	if r.closed {
		return r.err
	}
	r.closed = true
	if err := r.rs.Close(); err != nil && r.err == nil {
		r.err = mapError(r.ctx, err)
	}
	if r.readOnly || r.err != nil {
		r.tx.Rollback()
	} else if err := r.tx.Commit(); err != nil {
		r.err = mapError(r.ctx, err)
	}
	r.cancel()
	return r.err
}

func jsonValue(v any) any {
	switch x := v.(type) {
	case nil, int64, float64, bool, string:
		return x
	case []byte:
		if json.Valid(x) && len(x) > 0 && (x[0] == '{' || x[0] == '[') {
			return json.RawMessage(append([]byte(nil), x...))
		}
		return string(x)
	}
	return fmt.Sprint(v)
}

func mapError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() == context.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %v", connectors.ErrTimeout, err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		var sentinel error
		code := se.Code() & 0xff
		switch code {
		case 8: // SQLITE_READONLY
			sentinel = connectors.ErrReadOnly
		case 9: // SQLITE_INTERRUPT
			sentinel = connectors.ErrTimeout
		}
		return connectors.NewTargetError(fmt.Sprintf("SQLITE_%d", code), sqliteMessage(se), "", "", sentinel)
	}
	return err
}

// sqliteMessage drops the driver's "SQL logic error: " style prefix noise
// but keeps SQLite's own words.
func sqliteMessage(se *sqlite.Error) string {
	msg := se.Error()
	if i := strings.LastIndex(msg, " ("); i > 0 && strings.HasSuffix(msg, ")") {
		msg = msg[:i]
	}
	return msg
}

var _ connectors.SQL = (*SQLite)(nil)
