package postgres

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/wardenhq/warden/connectors"
	pgconnector "github.com/wardenhq/warden/connectors/postgres"
)

// upstream is the proxy's own connection to the target for one client
// connection and one credential (one rule's grants). It is used by the
// session goroutine only.
type upstream struct {
	key    string // the credential's lease, or "static"
	nc     net.Conn
	fe     *pgproto3.Frontend
	pid    uint32
	secret []byte
	addr   net.Addr
	status map[string]string // ParameterStatus as the server reported it

	// prepared maps upstream statement names to the client statement
	// prepared under that name here.
	prepared map[string]*stmt
	// hidden are the proxy's own statements prepared here.
	hidden map[string]bool
	// timeoutMS is the session's statement_timeout here (-1: unknown).
	timeoutMS int64
	// tx is the upstream's transaction state as last reported: 'I', 'T'
	// or 'E'.
	tx byte
	// errMode: the upstream reported an error and skips messages until
	// the next Sync.
	errMode bool
	// dirty: messages were sent since the last Sync.
	dirty  bool
	broken bool
	// executed: an Execute was sent since the last ReadyForQuery, so the
	// transaction the next statement runs in may not be a fresh one.
	executed bool
	// clientReadOnly is default_transaction_read_only as the session had
	// it before Warden set it (what the client is told at startup).
	clientReadOnly string
}

// sendExecute writes an Execute.
func (u *upstream) sendExecute(e *pgproto3.Execute) {
	u.fe.SendExecute(e)
	u.executed = true
}

// readOnlyByDefault reports whether a transaction that starts now on u
// starts read-only without being told: the session's
// default_transaction_read_only is on (PostgreSQL 14 and later report
// every change of it, and the proxy reads every report before it plans
// the next batch), and nothing ran since the last ReadyForQuery.
func (u *upstream) readOnlyByDefault() bool {
	return !u.executed && u.tx == 'I' && u.status["default_transaction_read_only"] == "on"
}

// setReadOnlyDefault makes new transactions on u read-only unless begun
// READ WRITE, which the proxy always says when it wants a write. It runs
// once, at login, within ctx's deadline.
func (u *upstream) setReadOnlyDefault(ctx context.Context) error {
	if d, ok := ctx.Deadline(); ok {
		u.nc.SetDeadline(d)
		defer u.nc.SetDeadline(time.Time{})
	}
	u.clientReadOnly = u.status["default_transaction_read_only"]
	u.fe.Send(&pgproto3.Query{String: "SET default_transaction_read_only = on"})
	if err := u.fe.Flush(); err != nil {
		return err
	}
	var failed error
	for {
		msg, err := u.fe.Receive()
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.ParameterStatus:
			u.status[m.Name] = m.Value
		case *pgproto3.ErrorResponse:
			failed = fmt.Errorf("set default_transaction_read_only: %s (SQLSTATE %s)", m.Message, m.Code)
		case *pgproto3.ReadyForQuery:
			u.tx = m.TxStatus
			return failed
		}
	}
}

// dial logs in to the target as cred, through the connector (which
// builds the login and pins search_path and standard_conforming_strings as
// on every Warden session), with the client's display settings, and takes
// the raw protocol over.
func (s *session) dial(ctx context.Context, cred connectors.Credential, rule string) (*upstream, error) {
	key := cred.Lease
	if cred.Mode == "" || cred.Mode == connectors.ModeStatic {
		key = connectors.ModeStatic
	}
	params := make(map[string]string, len(s.params))
	for k, v := range s.params {
		if k == "fallback_application_name" {
			if _, ok := s.params["application_name"]; !ok {
				params["application_name"] = v
			}
			continue
		}
		params[k] = v
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	hc, err := s.pg.Dial(dctx, pgconnector.DialRequest{
		Credential: cred, Params: params, StatementTimeout: s.gs.Limits().StatementTimeout,
		BuildFrontend: func(r io.Reader, w io.Writer) *pgproto3.Frontend { return pgproto3.NewFrontend(r, fastWriter(w)) },
	})
	if err != nil {
		return nil, err
	}
	up := &upstream{key: key, nc: hc.Conn, fe: hc.Frontend, pid: hc.PID, secret: hc.SecretKey, addr: hc.Conn.RemoteAddr(),
		status: hc.ParameterStatuses, prepared: map[string]*stmt{}, hidden: map[string]bool{}, timeoutMS: -1, tx: 'I'}
	if err := up.setReadOnlyDefault(dctx); err != nil {
		up.close()
		return nil, err
	}
	s.ups[key] = up
	s.log.Debug("upstream connected", "session", s.gs.Caller().Session, "rule", rule, "credential", key, "backend_pid", up.pid)
	return up, nil
}

func (u *upstream) close() {
	if u.nc == nil {
		return
	}
	u.fe.Send(&pgproto3.Terminate{})
	u.nc.SetWriteDeadline(time.Now().Add(time.Second))
	u.fe.Flush()
	u.nc.Close()
}

// cancelRequest asks the upstream server to cancel what the backend runs.
func (u *upstream) cancelRequest() error {
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.Dial(u.addr.Network(), u.addr.String())
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := (&pgproto3.CancelRequest{ProcessID: u.pid, SecretKey: u.secret}).Encode(nil)
	if err != nil {
		return err
	}
	if _, err = c.Write(b); err != nil {
		return err
	}
	// The postmaster closes the connection once it has signalled the
	// backend. Waiting for that (as libpq and pgconn do) keeps a late
	// cancel from landing on the next statement.
	_, err = io.Copy(io.Discard, c)
	return err
}

// Hidden statements: the proxy's own, prepared once per upstream session
// under names no client statement can have (client statements are
// prefixed with "c").
type hiddenStmt struct{ name, sql string }

var (
	hBeginRO   = hiddenStmt{"w_begin_ro", "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY"}
	hBeginRW   = hiddenStmt{"w_begin_rw", "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE"}
	hRollback  = hiddenStmt{"w_rollback", "ROLLBACK"}
	hCommit    = hiddenStmt{"w_commit", "COMMIT"}
	hSavepoint = hiddenStmt{"w_sp", "SAVEPOINT warden_read_only"}
	// hSetRO makes the current transaction read-only, after taking its
	// first snapshot: from then on nothing can make it writable again
	// ("transaction read-write mode must be set before any query"). Unlike
	// SET TRANSACTION it raises no warning outside a transaction block.
	hSetRO     = hiddenStmt{"w_set_ro", "SELECT pg_catalog.set_config('transaction_read_only', 'on', true)"}
	hRollbackS = hiddenStmt{"w_rollback_sp", "ROLLBACK TO SAVEPOINT warden_read_only"}
	hReleaseS  = hiddenStmt{"w_release_sp", "RELEASE SAVEPOINT warden_read_only"}
	hTimeoutL  = hiddenStmt{"w_timeout_local", "SELECT pg_catalog.set_config('statement_timeout', $1, true)"}
)

// upName is the upstream name of a client statement or portal.
func upName(client string) string {
	if client == "" {
		return ""
	}
	return "c" + client
}
