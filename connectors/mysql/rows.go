package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/wardenhq/warden/connectors"
)

// rows streams one statement's result and ends its transaction on Close.
type rows struct {
	m        *MySQL
	conn     *sql.Conn
	s        *session
	rs       *sql.Rows
	readOnly bool
	own      bool   // a session's own pool (a minted user's), not the shared one
	pure     bool   // the classifier calls the statement a pure read
	tag      string // the statement's tag, then the result's
	inTx     bool   // START TRANSACTION ran

	watchdog *time.Timer
	expired  atomic.Bool // the watchdog killed the statement
	killed   bool        // Close killed it
	broken   bool        // the connection's state is unknown: close it

	cols []connectors.Column
	decs []decoder
	dest []any
	vals []any
	n    int64

	err    error
	done   bool // the statement has concluded
	closed bool
}

func (r *rows) Columns() []connectors.Column { return r.cols }
func (r *rows) Values() []any                { return r.vals }
func (r *rows) Err() error                   { return r.err }
func (r *rows) Tag() string                  { return r.tag }

func (r *rows) Next() bool {
	if r.done || r.closed || r.rs == nil {
		return false
	}
	if !r.rs.Next() {
		r.err = r.finishStatement()
		return false
	}
	if err := r.rs.Scan(r.dest...); err != nil {
		r.err = r.statementError(err)
		r.broken = true
		r.finishStatement()
		return false
	}
	for i, d := range r.decs {
		r.vals[i] = d.decode(r.dest[i])
	}
	r.n++
	return true
}

// finishStatement ends the result set (read to its end, or drained) and
// sets the tag of a result: "SELECT 3".
func (r *rows) finishStatement() error {
	if r.done {
		return nil
	}
	r.done = true
	r.stopWatchdog()
	err := r.rs.Err()
	if cerr := r.rs.Close(); err == nil {
		err = cerr
	}
	if r.cols != nil {
		tag := r.tag
		if tag == "" {
			tag = "SELECT"
		}
		r.tag = tag + " " + strconv.FormatInt(r.n, 10)
	}
	if err != nil {
		if !isServerError(err) {
			r.broken = true
		}
		return r.statementError(err)
	}
	return nil
}

// expire is the watchdog: the statement ran past its limit and the
// server did not stop it.
func (r *rows) expire() {
	r.expired.Store(true)
	r.m.killQuery(r.s.id)
}

func (r *rows) stopWatchdog() {
	if r.watchdog != nil {
		r.watchdog.Stop()
	}
}

// Close ends the statement and the transaction. A read-only statement
// abandoned early (the caller hit its row limit) is killed on the server
// (KILL QUERY from the reserve) rather than drained, so a huge result
// costs nothing past the limit; its connection is then closed, since a
// KILL that arrives once the statement is over could reach the next one.
// A read-write statement is drained instead: killing it would roll back
// what it wrote, or not, depending on timing.
func (r *rows) Close() error {
	if r.closed {
		return r.err
	}
	r.closed = true
	r.stopWatchdog()
	if !r.done && r.rs != nil {
		if r.readOnly {
			r.m.killQuery(r.s.id)
			r.killed, r.broken = true, true
		}
		r.done = true
		err := r.rs.Close()
		if err != nil && !r.killed && r.err == nil {
			r.err = r.statementError(err)
		}
		if err != nil && !isServerError(err) {
			r.broken = true
		}
	}
	if r.expired.Load() {
		r.broken = true
	}
	if r.inTx && !r.broken {
		end := "COMMIT"
		if r.readOnly || r.err != nil {
			end = "ROLLBACK"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := r.conn.ExecContext(ctx, end); err != nil {
			r.broken = true
			if end == "COMMIT" && r.err == nil {
				r.err = r.m.mapError(err)
			}
		}
		cancel()
	}
	switch {
	case r.broken || !r.pure:
		discard(r.conn)
	case r.own && r.m.budget.Waiting():
		// Others wait for the budget: the slot goes to them now rather
		// than when this connection idles out.
		discard(r.conn)
	default:
		r.conn.Close()
	}
	return r.err
}

// isServerError reports whether err is the server's answer (the
// connection is in a known state), not a broken connection.
func isServerError(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me)
}

// killQuery ends the statement thread id runs, from the reserve. A
// thread that is gone, or idle, is not an error.
func (m *MySQL) killQuery(id uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := m.admin.ExecContext(ctx, fmt.Sprintf("KILL QUERY %d", id)); err != nil && !isErrNumber(err, errNoSuchThread) {
		m.logger.Warn("kill query", "thread", id, "err", m.mapError(err))
	}
}

func isErrNumber(err error, n uint16) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == n
}
