package mysql

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"
	vmysql "vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/collations"
	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/vt/vttls"

	"github.com/wardenhq/warden/connectors"
)

// DialRequest asks for one connection to the target as a credential, for
// the wire proxy (proxy/mysql), which speaks the protocol on it itself.
type DialRequest struct {
	Credential connectors.Credential
}

// Upstream is one server connection logged in as a credential, with
// Warden's session settings (SQLMode, UTC, utf8mb4, multi-statements and
// LOCAL INFILE off). It holds a slot of the connection's budget until
// Close. It is used by one goroutine at a time, but KillQuery may be
// called from any.
type Upstream struct {
	Conn *vmysql.Conn
	// ThreadID is the server's id of the connection (what KILL names).
	ThreadID uint64
	MariaDB  bool

	m       *MySQL
	release func()
	// The session's statement time limit (-1: unknown) and default
	// access mode (-1 unknown, 0 read write, 1 read only).
	timeout  time.Duration
	readOnly int
}

// Dial logs in as req.Credential (a session's minted user, or the
// configured login for a static credential) within the connection's
// budget, with the connection's TLS mode, and applies Warden's session
// settings.
func (m *MySQL) Dial(ctx context.Context, req DialRequest) (*Upstream, error) {
	if m.isClosed() {
		return nil, connectors.ErrClosed
	}
	user, pass := m.cfg.User, m.cfg.Passwd
	switch req.Credential.Mode {
	case "", connectors.ModeStatic:
	case connectors.ModeJIT:
		if req.Credential.Password == nil {
			return nil, errors.New("mysql: a just-in-time credential without a password")
		}
		user, pass = req.Credential.Password.User, req.Credential.Password.Secret.Reveal()
	default:
		return nil, fmt.Errorf("mysql: unknown credential mode %q", req.Credential.Mode)
	}
	host, portText, err := net.SplitHostPort(m.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("mysql: address %q: %w", m.cfg.Addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("mysql: address %q: bad port", m.cfg.Addr)
	}
	params := &vmysql.ConnParams{
		Host: host, Port: port, Uname: user, Pass: pass, DbName: m.database,
		Charset:          collations.ID(45), // utf8mb4_general_ci, as the connector's pools
		ConnectTimeoutMs: 10000,
		TLSMinVersion:    "TLSv1.2",
	}
	switch m.sslMode {
	case "disable":
		params.SslMode = vttls.Disabled
	case "", "prefer":
		params.SslMode = vttls.Preferred
	case "require":
		params.SslMode = vttls.Required
	case "verify-ca":
		params.SslMode = vttls.VerifyCA
	case "verify-full":
		params.SslMode, params.ServerName = vttls.VerifyIdentity, host
	}
	release, err := m.budget.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	conn, err := vmysql.Connect(ctx, params)
	if err != nil {
		release()
		return nil, fmt.Errorf("mysql: connect as %s: %w", user, scrub(m.upstreamError(err), pass))
	}
	u := &Upstream{Conn: conn, ThreadID: uint64(conn.ID()), m: m, release: release, timeout: -1, readOnly: -1}
	v := conn.ServerVersion
	u.MariaDB = isMariaDB(v)
	if v != "" {
		m.version.Store(&v)
	}
	set := "SET SESSION sql_mode = '" + SQLMode + "', SESSION time_zone = '+00:00'"
	if _, err := conn.ExecuteFetch(set, 0, false); err != nil {
		u.Close()
		return nil, fmt.Errorf("mysql: session settings: %w", m.upstreamError(err))
	}
	return u, nil
}

// Settings gives the session the time limit and default access mode of
// one statement, when it does not have them already: a read-only decision
// makes every transaction of the session read-only (tx_read_only), which
// a statement that commits implicitly cannot escape.
func (u *Upstream) Settings(timeout time.Duration, readOnly bool) error {
	s := &session{mariadb: u.MariaDB, timeout: u.timeout, readOnly: u.readOnly}
	set := s.settings(max(timeout, 0), readOnly)
	if set == "" {
		return nil
	}
	if _, err := u.Conn.ExecuteFetch(set, 0, false); err != nil {
		u.timeout, u.readOnly = -1, -1
		return u.m.upstreamError(err)
	}
	s.applied(max(timeout, 0), readOnly)
	u.timeout, u.readOnly = s.timeout, s.readOnly
	return nil
}

// KillQuery ends the statement the upstream runs (KILL QUERY from the
// connector's reserve); an idle or gone thread is not an error.
func (u *Upstream) KillQuery() { u.m.killQuery(u.ThreadID) }

// Close closes the connection and gives its budget slot back. Closing
// twice does nothing.
func (u *Upstream) Close() {
	if u.Conn == nil {
		return
	}
	u.Conn.Close()
	u.Conn = nil
	u.release()
}

// upstreamError maps an error of the vitess client to a connector error:
// a server error keeps its number in the message and its SQLSTATE.
func (m *MySQL) upstreamError(err error) error {
	var se *sqlerror.SQLError
	if errors.As(err, &se) {
		return UpstreamError(se)
	}
	return m.mapError(err)
}

// UpstreamError maps a server error the vitess client returned, as
// TargetError does the driver's.
func UpstreamError(se *sqlerror.SQLError) error {
	num := uint16(se.Num)
	switch {
	case se.Num >= 2000 && se.Num < 3000:
		// The client's own: the connection is lost or broken.
		return fmt.Errorf("%w: %s (error %d)", connectors.ErrUnavailable, se.Message, se.Num)
	}
	e := &mysql.MySQLError{Number: num, Message: se.Message}
	copy(e.SQLState[:], se.State)
	return TargetError(e)
}
