package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// sessionConnector is the driver.Connector of every pool: the driver's
// own, with each new connection wrapped in a session that remembers its
// thread id, dialect and the settings Warden last gave it.
type sessionConnector struct {
	base driver.Connector
	m    *MySQL
}

func (c *sessionConnector) Driver() driver.Driver { return c.base.Driver() }

// Connect logs in and asks the server who the session is.
func (c *sessionConnector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	s := &session{Conn: dc, timeout: -1, readOnly: -1}
	if err := s.identify(ctx); err != nil {
		dc.Close()
		return nil, err
	}
	v := s.version
	c.m.version.Store(&v)
	return s, nil
}

// session is one server connection. A connection serves one call at a
// time, so its fields need no lock. It forwards every interface of the
// driver's connection that database/sql looks for.
type session struct {
	driver.Conn
	id      uint64 // CONNECTION_ID(): what KILL QUERY names
	version string
	mariadb bool

	// What the session's settings are now: its statement time limit
	// (-1: unknown) and default access mode (-1 unknown, 0 read write, 1
	// read only).
	timeout  time.Duration
	readOnly int
}

func (s *session) identify(ctx context.Context) error {
	q, ok := s.Conn.(driver.QueryerContext)
	if !ok {
		return errors.New("mysql: the driver's connection cannot run queries")
	}
	rows, err := q.QueryContext(ctx, "SELECT CONNECTION_ID(), VERSION()", nil)
	if err != nil {
		return err
	}
	defer rows.Close()
	vals := make([]driver.Value, 2)
	if err := rows.Next(vals); err != nil {
		return fmt.Errorf("mysql: CONNECTION_ID(): %w", err)
	}
	switch id := vals[0].(type) {
	case int64:
		s.id = uint64(id)
	case uint64:
		s.id = id
	case []byte:
		s.id, err = strconv.ParseUint(string(id), 10, 64)
	default:
		err = fmt.Errorf("unexpected %T", id)
	}
	if err != nil {
		return fmt.Errorf("mysql: CONNECTION_ID(): %w", err)
	}
	if b, ok := vals[1].([]byte); ok {
		s.version = string(b)
	}
	s.mariadb = isMariaDB(s.version)
	return nil
}

// settings returns the statement that gives the session the time limit
// and access mode of a call, "" when it has them already.
func (s *session) settings(timeout time.Duration, readOnly bool) string {
	ro := 0
	if readOnly {
		ro = 1
	}
	if s.timeout == timeout && s.readOnly == ro {
		return ""
	}
	// MariaDB's limit is in seconds and covers every statement; MySQL's
	// in milliseconds, for SELECT only (the watchdog covers the rest).
	// tx_read_only is MariaDB's name (transaction_read_only only from
	// 11.1), transaction_read_only MySQL's (tx_read_only is gone in 8.0).
	if s.mariadb {
		return fmt.Sprintf("SET SESSION max_statement_time = %.6f, SESSION tx_read_only = %d", timeout.Seconds(), ro)
	}
	return fmt.Sprintf("SET SESSION max_execution_time = %d, SESSION transaction_read_only = %d", timeout.Milliseconds(), ro)
}

// applied records that settings(timeout, readOnly) ran.
func (s *session) applied(timeout time.Duration, readOnly bool) {
	s.timeout, s.readOnly = timeout, 0
	if readOnly {
		s.readOnly = 1
	}
}

func (s *session) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return s.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (s *session) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return s.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
}

func (s *session) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return s.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
}

func (s *session) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return s.Conn.(driver.QueryerContext).QueryContext(ctx, query, args)
}

func (s *session) Ping(ctx context.Context) error { return s.Conn.(driver.Pinger).Ping(ctx) }

func (s *session) ResetSession(ctx context.Context) error {
	return s.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (s *session) IsValid() bool { return s.Conn.(driver.Validator).IsValid() }

func (s *session) CheckNamedValue(nv *driver.NamedValue) error {
	return s.Conn.(driver.NamedValueChecker).CheckNamedValue(nv)
}

// sessionOf returns the session of a pooled connection.
func sessionOf(conn *sql.Conn) (*session, error) {
	var s *session
	err := conn.Raw(func(dc any) error {
		var ok bool
		if s, ok = dc.(*session); !ok {
			return fmt.Errorf("mysql: a connection of type %T", dc)
		}
		return nil
	})
	return s, err
}

// discard closes conn instead of returning it to its pool.
func discard(conn *sql.Conn) {
	conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()
}

var (
	_ driver.Connector          = (*sessionConnector)(nil)
	_ driver.ConnBeginTx        = (*session)(nil)
	_ driver.ConnPrepareContext = (*session)(nil)
	_ driver.ExecerContext      = (*session)(nil)
	_ driver.QueryerContext     = (*session)(nil)
	_ driver.Pinger             = (*session)(nil)
	_ driver.SessionResetter    = (*session)(nil)
	_ driver.Validator          = (*session)(nil)
	_ driver.NamedValueChecker  = (*session)(nil)
)
