package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/wardenhq/warden/approvals"
	"github.com/wardenhq/warden/config"
	pgconnector "github.com/wardenhq/warden/connectors/postgres"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/policy/sqlclass"
)

// session is one client connection. Everything but cancel runs on the
// connection's own goroutine.
type session struct {
	// The hold hooks of decide, made once.
	onHold   func(string)
	holdCtx  func(context.Context) (context.Context, func())
	holdTold bool

	srv    *Engine
	client net.Conn
	in     *msgReader // what be reads from
	be     *pgproto3.Backend
	log    *slog.Logger
	params map[string]string // display settings passed to upstream sessions
	user   string
	conn   config.Connection
	gs     *gateway.Session
	pg     *pgconnector.Postgres // reaches the target

	pid    uint32
	secret []byte

	mayWrite bool
	types    *pgtype.Map

	ups     map[string]*upstream // by credential
	primary *upstream

	stmts   map[string]*stmt
	portals map[string]*portal

	// The transaction as the client sees it.
	block     bool       // in a transaction block (BEGIN)
	failed    bool       // the block failed: only ROLLBACK ends it
	blockOpts txnControl // what the client's BEGIN asked for
	// unit is the upstream transaction the proxy opened for the client's
	// current transaction (block or implicit), if any.
	unit *unitState

	batch    []*fmsg
	skipping bool // an error in a Flush-ended batch: discard until Sync

	activeMu   sync.Mutex
	active     *upstream
	holdCancel context.CancelFunc // ends the wait of a held statement
	// busy: a batch is being carried out; cancelPending: a cancel came in
	// while no statement was running on an upstream.
	busy, cancelPending bool

	outBytes int
	pending  bool // messages wait in the client buffer
}

// unitState is an upstream transaction the proxy opened.
type unitState struct {
	up *upstream
	rw bool
	// timeoutMS is the statement_timeout in force in it.
	timeoutMS int64
	// implicit: no BEGIN was sent; the Sync ends it (read-only only).
	implicit bool
}

// stmt is a prepared statement of the client.
type stmt struct {
	name string
	// upstream is the statement's name on upstream connections
	// (upName(name)), made once.
	upstream string
	sql      string
	oids     []uint32
	ps       *statement  // nil: empty statement
	ctl      *txnControl // transaction control the proxy carries out
	// Description, once the target described it.
	described bool
	paramOIDs []uint32
	fields    []pgproto3.FieldDescription // nil: no rows (NoData)
	cols      *resultCols                 // for masking: of fields, with the last Bind's result formats
	// The last description of a portal of it, and its columns for
	// masking (see portalFields).
	portalFields []pgproto3.FieldDescription
	portalCols   *resultCols
}

// local reports whether the proxy answers for the statement itself.
func (st *stmt) local() bool { return st.ps == nil || st.ctl != nil }

// portal is a bound statement of the client: one governed execution.
type portal struct {
	name    string
	st      *stmt
	formats []int16 // result formats as the client sent them
	params  []param
	bind    *fmsg
	call    *gateway.Grant
	up      *upstream
	wrapped bool // runs in a read-only subtransaction

	fields     []pgproto3.FieldDescription // with the client's formats
	masker     *rowMasker
	maskerDone bool
	rows       int64
	over       bool  // past the rule's row limit: discarding
	refusal    error // masking refused: discarding
	finished   bool
	executed   bool
}

// fmsg is a client message of the extended protocol, kept until Sync or
// Flush (pgproto3 reuses its message values).
type fmsg struct {
	kind          byte // 'P', 'B', 'D', 'E', 'C'
	name          string
	stmtName      string
	sql           string
	oids          []uint32
	paramFormats  []int16
	params        [][]byte
	resultFormats []int16
	target        byte // Describe, Close: 'S' or 'P'
	maxRows       uint32
}

// serve runs the client's messages until it leaves; it returns why the
// connection ended, for the audit trail ("" for a goodbye).
func (s *session) serve(ctx context.Context) string {
	s.types = pgtype.NewMap()
	for {
		if ctx.Err() != nil {
			s.send(fatal("57P01", "terminating connection: Warden is shutting down"))
			s.flush()
			return "Warden shut down"
		}
		msg, err := s.be.Receive()
		if err != nil {
			if we := s.in.violation(err); we != nil {
				s.send(fatal(we.code, we.msg))
				s.flush()
				return "protocol violation: " + we.msg
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
				return "client disconnected without Terminate"
			}
			return "client connection error: " + err.Error()
		}
		switch msg.(type) {
		case *pgproto3.Query, *pgproto3.Sync, *pgproto3.Flush:
			s.setBusy(true)
		}
		switch m := msg.(type) {
		case *pgproto3.Query:
			if len(s.batch) > 0 {
				s.extended(ctx, false)
			}
			s.skipping = false
			s.simpleQuery(ctx, m.String)
		case *pgproto3.Parse:
			s.queue(&fmsg{kind: 'P', name: m.Name, sql: m.Query, oids: slices.Clone(m.ParameterOIDs)})
		case *pgproto3.Bind:
			f := &fmsg{kind: 'B', name: m.DestinationPortal, stmtName: m.PreparedStatement,
				paramFormats: slices.Clone(m.ParameterFormatCodes), resultFormats: slices.Clone(m.ResultFormatCodes)}
			f.params = make([][]byte, len(m.Parameters))
			for i, p := range m.Parameters {
				if p != nil {
					f.params[i] = slices.Clone(p)
					if f.params[i] == nil {
						f.params[i] = []byte{}
					}
				}
			}
			s.queue(f)
		case *pgproto3.Describe:
			s.queue(&fmsg{kind: 'D', target: m.ObjectType, name: m.Name})
		case *pgproto3.Execute:
			s.queue(&fmsg{kind: 'E', name: m.Portal, maxRows: m.MaxRows})
		case *pgproto3.Close:
			s.queue(&fmsg{kind: 'C', target: m.ObjectType, name: m.Name})
		case *pgproto3.Sync:
			s.extended(ctx, true)
			s.skipping = false
		case *pgproto3.Flush:
			s.extended(ctx, false)
		case *pgproto3.Terminate:
			return ""
		case *pgproto3.FunctionCall:
			err := s.refuse(ctx, fmt.Sprintf("-- FunctionCall message (function OID %d)", m.Function),
				"the FunctionCall protocol message is not supported by Warden: call the function in a SELECT")
			s.sendError(err)
			s.send(&pgproto3.ReadyForQuery{TxStatus: s.txStatus()})
		case *pgproto3.CopyData, *pgproto3.CopyDone, *pgproto3.CopyFail:
			// Not in COPY FROM mode (never entered through Warden): ignored,
			// as PostgreSQL ignores them.
		default:
			name := strings.TrimPrefix(fmt.Sprintf("%T", msg), "*pgproto3.")
			switch msg.(type) {
			case *pgproto3.PasswordMessage, *pgproto3.SASLInitialResponse, *pgproto3.SASLResponse, *pgproto3.GSSResponse:
				name = "password message" // whichever the last login step was
			}
			we := violation("unexpected %s after login", name)
			s.send(fatal(we.code, we.msg))
			s.flush()
			return "protocol violation: " + we.msg
		}
		s.setBusy(false)
		if err := s.flush(); err != nil {
			return "client connection error: " + err.Error()
		}
		if s.primary == nil || s.primary.broken {
			return "upstream connection lost"
		}
	}
}

func (s *session) queue(f *fmsg) {
	if s.skipping {
		return
	}
	s.batch = append(s.batch, f)
}

// close ends the session: upstream connections closed, credentials
// revoked, the disconnection recorded.
func (s *session) close(reason string) {
	for _, po := range s.portals {
		s.finishPortal(po, errors.New("the client disconnected"))
	}
	s.closeUpstreams()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.gs.End(ctx, reason)
	s.log.Info("postgres client disconnected", "session", s.gs.Caller().Session, "reason", reason)
}

func (s *session) closeUpstreams() {
	for _, u := range s.ups {
		u.close()
	}
}

// cancelUpstream relays a cancel request to the upstream backend that is
// running a statement for this session (called from another goroutine).
func (s *session) cancelUpstream() {
	s.activeMu.Lock()
	u, hold := s.active, s.holdCancel
	s.activeMu.Unlock()
	if hold != nil {
		hold() // a statement waiting for approval stops waiting
	}
	if u == nil {
		// Between statements of a batch: the next execution is cancelled
		// as soon as it starts.
		s.activeMu.Lock()
		s.cancelPending = s.busy
		s.activeMu.Unlock()
		return
	}
	if err := u.cancelRequest(); err != nil {
		s.log.Warn("relay cancel request", "session", s.gs.Caller().Session, "err", err)
	}
}

func (s *session) setActive(u *upstream) {
	s.activeMu.Lock()
	s.active = u
	s.activeMu.Unlock()
}

// setBusy marks the session as carrying out a client's batch (a cancel
// then applies to it), or done.
func (s *session) setBusy(busy bool) {
	s.activeMu.Lock()
	s.busy = busy
	if !busy {
		s.cancelPending = false
	}
	s.activeMu.Unlock()
}

// takeCancel reports, once, a cancel that came while nothing ran.
func (s *session) takeCancel() bool {
	s.activeMu.Lock()
	defer s.activeMu.Unlock()
	c := s.cancelPending
	s.cancelPending = false
	return c
}

// send queues a message for the client, flushing when much is buffered.
func (s *session) send(m pgproto3.BackendMessage) {
	s.pending = true
	s.be.Send(m)
	if dr, ok := m.(*pgproto3.DataRow); ok {
		for _, v := range dr.Values {
			s.outBytes += len(v) + 4
		}
		if s.outBytes > 64<<10 {
			s.flush()
		}
	}
}

func (s *session) flush() error {
	if !s.pending {
		return nil
	}
	s.outBytes, s.pending = 0, false
	return s.be.Flush()
}

func (s *session) txStatus() byte {
	switch {
	case s.failed:
		return 'E'
	case s.block:
		return 'T'
	}
	return 'I'
}

// sendError words a refusal or failure of the pipeline for the client.
func (s *session) sendError(err error) {
	s.send(errorResponse(err))
}

func errorResponse(err error) *pgproto3.ErrorResponse {
	var pe *protoError
	if errors.As(err, &pe) {
		return pe.r
	}
	te := gateway.AsError(err)
	code := "42501"
	switch te.Code {
	case gateway.CodeDenied, gateway.CodeApprovalRequired:
	case gateway.CodeInvalidArgument, gateway.CodeNotFound:
		code = "22023"
	case gateway.CodeTimeout:
		code = "57014"
	case gateway.CodeUnavailable:
		code = "57P03"
	default:
		code = "XX000"
	}
	if errors.Is(err, sqlclass.ErrUnparseable) {
		code = "42601" // syntax_error, as PostgreSQL says it
	}
	r := &pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: code, Message: te.Message, Hint: te.Hint}
	if strings.Contains(r.Hint, "list_connections") || strings.Contains(r.Hint, "approval_") {
		r.Hint = "" // advice for MCP agents
	}
	var pa *gateway.PendingApproval
	if errors.As(err, &pa) {
		r.Message = fmt.Sprintf("statement held for human approval: request %s (rule %q) waits for %d approval(s) from %v; it expires at %s",
			pa.ApprovalID, pa.Rule, pa.Approvers.Quorum, pa.Approvers.Groups, pa.ExpiresAt.Format(time.RFC3339))
		r.Detail = "approval request " + pa.ApprovalID
		r.Hint = "Once it is approved, send the same statement again (same text and parameters): it then runs once."
		if pa.URL != "" {
			r.Hint += " Approvers decide at " + pa.URL
		}
	}
	if te.AuditID != "" {
		if r.Detail != "" {
			r.Detail += "; "
		}
		r.Detail += "Warden audit event " + te.AuditID
	}
	return r
}

// protoError is an error the proxy answers with as PostgreSQL would.
type protoError struct{ r *pgproto3.ErrorResponse }

func (e *protoError) Error() string { return e.r.Message }

func pgError(code, msg string) error {
	return &protoError{&pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: code, Message: msg}}
}

func notice(severity, code, msg string) *pgproto3.NoticeResponse {
	return &pgproto3.NoticeResponse{Severity: severity, SeverityUnlocalized: severity, Code: code, Message: msg}
}

// decide runs the pipeline for one execution: decide, hold (telling the
// client, while it waits, which approval request it waits for), record.
func (s *session) decide(ctx context.Context, ps *statement, params []param) (*gateway.Grant, error) {
	s.holdTold = false
	if s.onHold == nil {
		s.onHold, s.holdCtx = s.tellHold, s.holdContext
	}
	op := s.operation(ps.SQL, params)
	op.Facts, op.Credential = &ps.Facts, true
	op.OnHold, op.HoldContext = s.onHold, s.holdCtx
	return s.gs.Authorize(ctx, op)
}

// tellHold tells the client, once per statement, which approval request
// its statement waits for.
func (s *session) tellHold(msg string) {
	if s.holdTold {
		return
	}
	s.holdTold = true
	s.send(notice("NOTICE", "01000", "Warden: "+msg))
	s.flush()
}

// holdContext is the context a held statement waits in: ended by the
// client's cancel request, bounded by the configured approval wait.
func (s *session) holdContext(ctx context.Context) (context.Context, func()) {
	hctx, cancel := context.WithCancel(ctx)
	s.activeMu.Lock()
	s.holdCancel = cancel
	s.activeMu.Unlock()
	if w := s.srv.o.ApprovalWait; w > 0 {
		hctx = approvals.WithWait(hctx, w)
	}
	return hctx, func() {
		s.activeMu.Lock()
		s.holdCancel = nil
		s.activeMu.Unlock()
		cancel()
	}
}

// targetError turns an upstream ErrorResponse into the error the call is
// recorded with, as the connector words PostgreSQL's errors.
func targetError(e *pgproto3.ErrorResponse) error {
	return pgconnector.TargetError(e.Code, e.Message, e.Detail, e.Hint)
}

// maskerTimeout bounds the catalog look-ups masking makes for a result.
const maskerTimeout = 30 * time.Second
