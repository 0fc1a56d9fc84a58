package mysql

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/budget"
	sqlclassmysql "github.com/wardenhq/warden/policy/sqlclass/mysql"
)

// MySQL is a connector for one database of a MySQL or MariaDB server.
type MySQL struct {
	info     connectors.Info
	database string
	sslMode  string        // as configured: Dial's TLS for the wire proxy
	cfg      *mysql.Config // the admin login; just-in-time pools copy it
	db       *sql.DB       // the admin login, through the budget
	admin    *sql.DB       // the reserve: mint, revoke, kill
	budget   *budget.Budget
	logger   *slog.Logger

	version    atomic.Pointer[string] // VERSION() once a connection reported it
	classifier *Classifier
	strict     *Classifier // without the catalog: whether a connection may be reused
	funcs      catalogCache

	jitMu       sync.Mutex
	jitDBs      map[string]*sql.DB // by lease: connections as minted users
	jitMaxConns int
	host        string            // Warden's host as the server sees it (jitMu)
	relIDs      map[string]uint32 // Sources' relation numbers (jitMu)

	mu     sync.Mutex
	closed bool
}

// SQLMode is the sql_mode of every session Warden opens: none of the
// modes that change how text is read (ANSI_QUOTES, NO_BACKSLASH_ESCAPES,
// PIPES_AS_CONCAT), so that the server lexes a statement as the
// classifier did, and only modes MySQL 8 and MariaDB both know.
const SQLMode = "STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"

// Open builds the connector. It does not connect: the pools dial lazily,
// so Warden starts even when a target is down.
func Open(ctx context.Context, cfg config.Connection, logger *slog.Logger) (connectors.Connector, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	password, err := cfg.Admin.Resolve()
	if err != nil {
		return nil, fmt.Errorf("admin credential: %w", err)
	}
	host, _, err := net.SplitHostPort(cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", cfg.Address, err)
	}
	dc := mysql.NewConfig()
	dc.Net, dc.Addr, dc.DBName = "tcp", cfg.Address, cfg.Database
	dc.User, dc.Passwd = cfg.Admin.User, password.Reveal()
	// utf8mb4: in GBK, Big5 or SJIS a multi-byte character can swallow a
	// backslash, and the server would read another statement.
	dc.Collation = "utf8mb4_general_ci"
	dc.Params = map[string]string{"sql_mode": "'" + SQLMode + "'", "time_zone": "'+00:00'"}
	dc.Timeout = 5 * time.Second
	dc.MultiStatements = false
	dc.AllowAllFiles = false
	dc.AllowCleartextPasswords = false
	dc.InterpolateParams = false
	dc.Logger = driverLogger{logger}
	if err := setTLS(dc, cfg.SSLMode, host); err != nil {
		return nil, err
	}
	m := &MySQL{
		info: connectors.Info{
			Name:   cfg.Name,
			Kind:   config.KindMySQL,
			Labels: cfg.Labels,
			Target: cfg.Address + "/" + cfg.Database,
		},
		database:    cfg.Database,
		sslMode:     cfg.SSLMode,
		cfg:         dc,
		logger:      logger,
		jitMaxConns: max(cfg.JIT.ConnectionLimit, 1),
	}
	// The reserve: Warden's admin work on connections outside the budget,
	// so that revocation gets through when the budget is full.
	reserved := max(cfg.ReservedConnections, 1)
	m.admin, err = m.openDB(dc.Clone(), nil)
	if err != nil {
		return nil, err
	}
	m.admin.SetMaxOpenConns(reserved)
	m.admin.SetMaxIdleConns(reserved)
	m.admin.SetConnMaxIdleTime(5 * time.Minute)
	m.budget = budget.New(cfg.Name, cfg.MaxConnections, cfg.ConnectionWait, m.serverBudget)
	m.db, err = m.openDB(dc.Clone(), m.budget)
	if err != nil {
		m.admin.Close()
		return nil, err
	}
	m.db.SetMaxIdleConns(sharedIdleConns)
	m.db.SetConnMaxIdleTime(5 * time.Minute)
	m.budget.OnWait(m.reclaimIdle)
	// One cache for both: what the text decides does not depend on the
	// catalog, which each resolves on its own.
	cache := sqlclassmysql.NewCache(4096)
	m.classifier = &Classifier{Database: cfg.Database, Functions: m, version: &m.version, cache: cache}
	m.strict = &Classifier{Database: cfg.Database, version: &m.version, cache: cache}
	return m, nil
}

// openDB returns a pool of connections logging in as dc says; with b,
// every connection holds a slot of b while it is open.
func (m *MySQL) openDB(dc *mysql.Config, b *budget.Budget) (*sql.DB, error) {
	dialer := &net.Dialer{KeepAlive: 30 * time.Second}
	dial := budget.DialFunc(dialer.DialContext)
	if b != nil {
		dial = b.Dialer(dial)
	}
	dc.DialFunc = dial
	base, err := mysql.NewConnector(dc)
	if err != nil {
		return nil, fmt.Errorf("connection settings: %w", scrub(err, dc.Passwd))
	}
	return sql.OpenDB(&sessionConnector{base: base, m: m}), nil
}

// setTLS applies sslmode: the libpq names Warden uses for every database,
// as MySQL's --ssl-mode means them (default prefer).
func setTLS(dc *mysql.Config, mode, host string) error {
	switch mode {
	case "disable":
	case "", "prefer":
		dc.TLS = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
		dc.AllowFallbackToPlaintext = true
	case "require":
		dc.TLS = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	case "verify-ca":
		// The chain must reach a trusted root; the name is not checked.
		dc.TLS = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12,
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error { return verifyChain(raw) }}
	case "verify-full":
		dc.TLS = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	default:
		return fmt.Errorf("sslmode %q: expected disable, prefer, require, verify-ca or verify-full", mode)
	}
	return nil
}

func verifyChain(raw [][]byte) error {
	if len(raw) == 0 {
		return errors.New("the server sent no certificate")
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, b := range raw {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return err
		}
		certs[i] = c
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Intermediates: inter})
	return err
}

// Info implements connectors.Connector.
func (m *MySQL) Info() connectors.Info { return m.info }

// Ping implements connectors.Connector.
func (m *MySQL) Ping(ctx context.Context) error {
	if m.isClosed() {
		return connectors.ErrClosed
	}
	if err := m.db.PingContext(ctx); err != nil {
		return m.mapError(err)
	}
	return nil
}

// Close implements connectors.Connector.
func (m *MySQL) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	m.jitMu.Lock()
	for lease, db := range m.jitDBs {
		db.Close()
		delete(m.jitDBs, lease)
	}
	m.jitMu.Unlock()
	m.db.Close()
	m.admin.Close()
	return nil
}

func (m *MySQL) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// Budget is the connection's budget (for metrics and tests).
func (m *MySQL) Budget() *budget.Budget { return m.budget }

// serverBudget is the default budget: a quarter of the server's
// max_connections, at least 1.
func (m *MySQL) serverBudget(ctx context.Context) (int, error) {
	var allowed int
	if err := m.admin.QueryRowContext(ctx, "SELECT @@max_connections").Scan(&allowed); err != nil {
		return 0, err
	}
	return max(allowed/4, 1), nil
}

// reclaimIdle closes the idle connections of every pool, when a call
// waits for a slot of the budget: a session's idle connection must not
// keep another session from the target. (database/sql closes the idle
// connections past a lowered idle limit at once.)
func (m *MySQL) reclaimIdle() {
	m.jitMu.Lock()
	jit := make([]*sql.DB, 0, len(m.jitDBs))
	for _, db := range m.jitDBs {
		jit = append(jit, db)
	}
	m.jitMu.Unlock()
	for _, db := range jit {
		db.SetMaxIdleConns(0)
		db.SetMaxIdleConns(jitIdleConns(m.jitMaxConns))
	}
	m.db.SetMaxIdleConns(0)
	m.db.SetMaxIdleConns(sharedIdleConns)
}

// sharedIdleConns are the idle connections the admin login's pool keeps.
const sharedIdleConns = 4

// jitIdleConns are the idle connections a session's pool keeps.
func jitIdleConns(maxOpen int) int { return min(maxOpen, 2) }

// Version is the server's VERSION(), once a connection reported it.
func (m *MySQL) Version() string {
	if v := m.version.Load(); v != nil {
		return *v
	}
	return ""
}

// isMariaDB reports the dialect of a VERSION() string.
func isMariaDB(version string) bool { return strings.Contains(version, "MariaDB") }

// Server error numbers the connector branches on.
const (
	errAccessDenied        = 1045
	errQueryInterrupted    = 1317 // ER_QUERY_INTERRUPTED: KILL QUERY
	errReadOnlyTransaction = 1792 // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
	errStatementTimeout    = 1969 // MariaDB ER_STATEMENT_TIMEOUT (max_statement_time)
	errQueryTimeout        = 3024 // MySQL ER_QUERY_TIMEOUT (max_execution_time)
	errUnknownUser         = 1396 // ER_CANNOT_USER: the user does not exist
	errNoSuchThread        = 1094 // ER_NO_SUCH_THREAD
)

// TargetError maps a server error to a connector error: its SQLSTATE as
// the code, the server's number in the message, and the sentinel it means.
func TargetError(e *mysql.MySQLError) error {
	state := string(e.SQLState[:])
	if e.SQLState == [5]byte{} {
		state = "HY000"
	}
	var sentinel error
	switch e.Number {
	case errReadOnlyTransaction:
		sentinel = connectors.ErrReadOnly
	case errStatementTimeout, errQueryTimeout:
		sentinel = connectors.ErrTimeout
	case 1040, 1053, 1077, 1081, 1152, 1158, 1159, 1160, 1161, 2002, 2003, 2006, 2013:
		// too many connections, server shutdown, connection aborted, lost
		sentinel = connectors.ErrUnavailable
	}
	return connectors.NewTargetError(state, fmt.Sprintf("%s (error %d)", e.Message, e.Number), "", "", sentinel)
}

// mapError turns driver errors into connector errors safe to show.
func (m *MySQL) mapError(err error) error {
	if err == nil {
		return nil
	}
	var full *budget.FullError
	if errors.As(err, &full) {
		return full
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return TargetError(me)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %v", connectors.ErrTimeout, err)
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, sql.ErrConnDone) {
		return fmt.Errorf("%w: %v", connectors.ErrUnavailable, scrub(err, m.cfg.Passwd))
	}
	return scrub(err, m.cfg.Passwd)
}

// scrub removes secret from an error's text, in case a driver echoed it.
func scrub(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "[redacted]"))
}

// driverLogger sends the driver's messages (dropped connections, protocol
// errors: never a statement or a password) to the connection's logger.
type driverLogger struct{ l *slog.Logger }

func (d driverLogger) Print(v ...any) { d.l.Debug("mysql driver", "msg", fmt.Sprint(v...)) }

var (
	_ connectors.SQL          = (*MySQL)(nil)
	_ connectors.Credentialer = (*MySQL)(nil)
)
