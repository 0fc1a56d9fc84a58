package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/wardenhq/warden/connectors"
)

// watchdogGrace is how long past a call's time limit Warden waits for the
// server's own limit before it kills the statement itself.
const watchdogGrace = time.Second

// Query implements connectors.SQL.
//
// One call holds one connection of the pool its credential logs in with:
//
//	SET SESSION max_statement_time = s, SESSION tx_read_only = 0|1   -- only when the session has others
//	START TRANSACTION READ ONLY | READ WRITE
//	<gate: the audit intent is durable>
//	<the statement>           -- COM_QUERY, one statement (multi-statements off)
//	ROLLBACK | COMMIT         -- on Close: rolled back when read-only or failed
//
// The session's default access mode is what closes the hole a
// transaction's alone leaves: a statement that implicitly commits (DDL)
// ends START TRANSACTION READ ONLY and would run in a transaction of its
// own, which tx_read_only makes read-only too. The connection goes back
// to its pool only after a pure read; after any other statement (which
// may have set a session variable, a user variable, a lock, a temporary
// table) it is closed.
func (m *MySQL) Query(ctx context.Context, req connectors.QueryRequest) (connectors.Rows, error) {
	if m.isClosed() {
		return nil, connectors.ErrClosed
	}
	db, own, err := m.pool(ctx, req.Credential)
	if err != nil {
		return nil, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, m.mapError(err)
	}
	s, err := sessionOf(conn)
	if err != nil {
		discard(conn)
		return nil, err
	}
	r := &rows{m: m, conn: conn, s: s, readOnly: req.ReadOnly, own: own}
	// A statement the classifier does not call a pure read leaves the
	// connection to be closed. It is asked without the catalog: a stored
	// function may set session state whatever it declares.
	if f, err := m.strict.facts(ctx, req.SQL, len(req.SQL)+1); err == nil && len(f.Statements) == 1 {
		r.tag, r.pure = f.Statements[0].Tag, f.ReadOnly
	}
	timeout := max(req.Timeout, 0)
	if set := s.settings(timeout, req.ReadOnly); set != "" {
		if _, err := conn.ExecContext(ctx, set); err != nil {
			return nil, r.abort(m.mapError(err))
		}
		s.applied(timeout, req.ReadOnly)
	}
	begin := "START TRANSACTION READ WRITE"
	if req.ReadOnly {
		begin = "START TRANSACTION READ ONLY"
	}
	if _, err := conn.ExecContext(ctx, begin); err != nil {
		return nil, r.abort(m.mapError(err))
	}
	r.inTx = true
	if req.Gate != nil {
		if err := req.Gate(ctx); err != nil {
			return nil, r.abort(err)
		}
	}
	if timeout > 0 {
		r.watchdog = time.AfterFunc(timeout+watchdogGrace, r.expire)
	}
	rs, err := conn.QueryContext(ctx, req.SQL)
	if err != nil {
		return nil, r.abort(r.statementError(err))
	}
	r.rs = rs
	types, err := rs.ColumnTypes()
	if err != nil {
		return nil, r.abort(r.statementError(err))
	}
	if len(types) == 0 {
		// No result set: the statement has run. Finish it now so that an
		// error surfaces from Query, and count what it changed.
		if err := r.finishStatement(); err != nil {
			return nil, r.abort(err)
		}
		if err := r.countChanged(ctx); err != nil {
			return nil, r.abort(err)
		}
		return r, nil
	}
	r.cols = make([]connectors.Column, len(types))
	r.decs = make([]decoder, len(types))
	r.dest = make([]any, len(types))
	r.vals = make([]any, len(types))
	for i, t := range types {
		r.cols[i] = connectors.Column{Name: t.Name(), Type: typeName(t.DatabaseTypeName())}
		r.decs[i] = decoderFor(t.DatabaseTypeName())
		r.dest[i] = r.decs[i].scanTarget()
	}
	return r, nil
}

// statementError maps an error of the agent's statement: an interruption
// is the time limit's when the watchdog fired.
func (r *rows) statementError(err error) error {
	if r.expired.Load() {
		return fmt.Errorf("%w: the statement ran past its time limit and was killed", connectors.ErrTimeout)
	}
	return r.m.mapError(err)
}

// countChanged reads ROW_COUNT() of a statement without a result set, for
// its tag ("UPDATE 2"). Statements that change no rows (DDL) keep their
// bare tag.
func (r *rows) countChanged(ctx context.Context) error {
	switch r.tag {
	case "INSERT", "REPLACE", "UPDATE", "DELETE":
	default:
		return nil
	}
	var n int64
	if err := r.conn.QueryRowContext(ctx, "SELECT ROW_COUNT()").Scan(&n); err != nil {
		return r.m.mapError(err)
	}
	r.tag += " " + strconv.FormatInt(max(n, 0), 10)
	return nil
}

// pool returns the connections a credential logs in with, and whether
// they are a session's own (a minted user's).
func (m *MySQL) pool(ctx context.Context, cred connectors.Credential) (*sql.DB, bool, error) {
	switch cred.Mode {
	case "", connectors.ModeStatic:
		return m.db, false, nil
	case connectors.ModeJIT:
		db, err := m.jitDB(ctx, cred)
		return db, true, err
	}
	return nil, false, fmt.Errorf("mysql: unknown credential mode %q", cred.Mode)
}

// abort ends a call that failed before its rows were handed out and
// returns err.
func (r *rows) abort(err error) error {
	r.err = err
	r.done = true
	if cerr := r.Close(); cerr != nil && !errors.Is(err, cerr) {
		r.m.logger.Debug("end failed call", "err", cerr)
	}
	return err
}
