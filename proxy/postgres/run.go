package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/gateway"
)

var traceOn = os.Getenv("WARDEN_PROXY_TRACE") == "1"

// errDiscarded finishes a call that ran after another of its batch failed:
// its result was not returned, and its transaction is rolled back.
var errDiscarded = errors.New("ran, but an earlier statement of the same batch failed: its result was dropped and its transaction rolled back")

// errUpstream is a broken upstream connection.
var errUpstream = errors.New("the connection to the target was lost")

// execute sends what the planner wrote, runs its steps, and, at Sync,
// settles the transactions and tells the client it is ready.
func (s *session) execute(ctx context.Context, p *planner, sync bool) {
	for _, u := range p.used {
		if err := u.fe.Flush(); err != nil {
			u.broken = true
		}
	}
	errored := false
	var errSnap txnSnap
	for _, st := range p.steps {
		if traceOn {
			fmt.Fprintf(os.Stderr, "proxy trace: step kind=%d hidden=%v simple=%v errored=%v\n", st.kind, st.hidden, st.simple, errored)
		}
		if st.kind == kLocal {
			if errored {
				if st.undo != nil {
					st.undo()
				}
				continue
			}
			if st.apply != nil {
				st.apply()
			}
			msgs := st.msgs
			if st.render != nil {
				msgs = st.render()
			}
			for _, m := range msgs {
				s.send(m)
			}
			if st.fail {
				errored, errSnap = true, st.snap
			}
			continue
		}
		u := st.up
		if u.broken || (u.errMode && st.kind != kSync) {
			if st.undo != nil {
				st.undo()
			}
			if st.po != nil && st.kind == kExecute {
				s.finishPortal(st.po, errNotRun)
			}
			continue
		}
		relay := !errored && !st.hidden
		if errored && st.undo != nil && st.kind != kSync {
			// The client sees nothing after an error; the upstream has not
			// failed and answers all the same: read, drop, undo.
			st.undo()
			relay = false
		}
		er := s.consume(st, relay)
		if er == nil {
			if st.apply != nil && !errored {
				st.apply()
			}
			continue
		}
		if er.broken {
			u.broken = true
		} else if er.upstream && st.kind != kSync {
			u.errMode = true
		}
		if !errored {
			s.send(er.resp)
			errored, errSnap = true, st.snap
		}
	}
	if errored {
		s.block, s.failed = errSnap.block, errSnap.block
		s.blockOpts = p.opts
	} else {
		s.block, s.failed, s.blockOpts = p.block, p.fail, p.opts
	}
	s.unit = p.unit
	if !sync {
		if errored {
			s.skipping = true
		}
		return
	}
	s.reconcile(ctx, errored)
	s.send(&pgproto3.ReadyForQuery{TxStatus: s.txStatus()})
}

// reconcile settles the upstream transactions after a Sync: an implicit
// transaction that may have written is committed if nothing in it failed
// and rolled back otherwise; one left failed outside a client's block is
// rolled back. Portals outside a block end.
func (s *session) reconcile(ctx context.Context, errored bool) {
	for _, u := range s.ups {
		if u.broken || u.tx == 'I' {
			continue
		}
		if s.block && s.unit != nil && s.unit.up == u {
			continue // the client's block goes on
		}
		stmt := hRollback
		if u.tx == 'T' && !errored && !s.block {
			stmt = hCommit
		}
		p := s.newPlanner(ctx)
		st := p.hiddenExec(u, stmt)
		p.sync()
		_ = st
		if err := u.fe.Flush(); err != nil {
			u.broken = true
			continue
		}
		for _, x := range p.steps {
			if x.kind != kSync && u.errMode {
				continue
			}
			if er := s.consume(x, false); er != nil {
				if er.broken {
					u.broken = true
					break
				}
				u.errMode = true
				s.send(er.resp)
			}
		}
		if s.unit != nil && s.unit.up == u {
			s.unit = nil
		}
	}
	if !s.block {
		s.unit = nil
		for name, po := range s.portals {
			s.finishPortal(po, nil)
			delete(s.portals, name)
		}
	}
}

// recv reads the next upstream message, relaying notices (unless the
// step is the proxy's own) and parameter changes.
func (s *session) recv(u *upstream, relay bool, call *gateway.Grant) (pgproto3.BackendMessage, error) {
	for {
		msg, err := u.fe.Receive()
		if err != nil {
			return nil, errUpstream
		}
		if traceOn {
			fmt.Fprintf(os.Stderr, "proxy trace: upstream %s %T\n", u.key, msg)
		}
		switch m := msg.(type) {
		case *pgproto3.NoticeResponse:
			if relay {
				cp := *m
				if call != nil && call.Decision.Masking != "" {
					er := pgproto3.ErrorResponse(cp)
					maskError(call, &er)
					cp = pgproto3.NoticeResponse(er)
				}
				s.send(&cp)
			}
		case *pgproto3.ParameterStatus:
			u.status[m.Name] = m.Value
			if slices.Contains(reportedParams, m.Name) && m.Name != "session_authorization" {
				s.send(&pgproto3.ParameterStatus{Name: m.Name, Value: m.Value})
			}
		case *pgproto3.NotificationResponse:
			cp := *m
			s.send(&cp)
		default:
			return msg, nil
		}
	}
}

// stepError is how a step ended badly: the error for the client, and
// whether the upstream failed (and so skips to its Sync) or broke.
type stepError struct {
	resp     *pgproto3.ErrorResponse
	upstream bool
	broken   bool
}

func (e *stepError) Error() string { return e.resp.Message }

// consume reads the responses of one step.
func (s *session) consume(st *step, relay bool) *stepError {
	u := st.up
	s.setActive(u)
	defer s.setActive(nil)
	if st.kind == kExecute && s.takeCancel() {
		if err := u.cancelRequest(); err != nil {
			s.log.Warn("relay cancel request", "session", s.gs.Caller().Session, "err", err)
		}
	}
	for {
		var call *gateway.Grant
		if st.po != nil {
			call = st.po.call
		}
		msg, err := s.recv(u, relay, call)
		if err != nil {
			if st.po != nil && st.po.call != nil {
				s.finishPortal(st.po, errUpstream)
			}
			return &stepError{resp: errorResponse(pgError("08006", "Warden lost its connection to the target")), upstream: true, broken: true}
		}
		if e, ok := msg.(*pgproto3.ErrorResponse); ok {
			cp := *e
			if st.kind == kSync {
				continue // cannot come before ReadyForQuery; keep reading
			}
			if st.po != nil && st.po.call != nil {
				maskError(st.po.call, &cp)
			}
			resp := &cp
			if st.po != nil && st.po.refusal != nil {
				resp = errorResponse(st.po.refusal)
			}
			s.stepFailed(st, &cp)
			return &stepError{resp: resp, upstream: true}
		}
		done, err := s.handle(st, msg, relay)
		if err != nil {
			var se *stepError
			if errors.As(err, &se) {
				return se
			}
			u.broken = true
			return &stepError{resp: errorResponse(pgError("08006", "Warden lost its connection to the target: "+err.Error())), upstream: true, broken: true}
		}
		if done {
			return nil
		}
	}
}

// maskError keeps masked values out of an upstream error about a call
// whose decision names a masking profile, before the client or the audit
// trail sees it; the fields that may quote a statement or a value beyond
// message, detail and hint are dropped.
func maskError(call *gateway.Grant, e *pgproto3.ErrorResponse) {
	if call.Decision.Masking == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), maskerTimeout)
	defer cancel()
	masked := call.MaskError(ctx, connectors.NewTargetError(e.Code, e.Message, e.Detail, e.Hint, nil))
	var tge *connectors.TargetError
	if errors.As(masked, &tge) {
		e.Message, e.Detail, e.Hint = tge.Message, tge.Detail, tge.Hint
	} else {
		e.Message, e.Detail, e.Hint = "the database's error message is withheld (masking)", "", ""
	}
	e.Where, e.InternalQuery, e.InternalPosition, e.UnknownFields = "", "", 0, nil
}

// stepFailed records an upstream error against the call of its step.
func (s *session) stepFailed(st *step, e *pgproto3.ErrorResponse) {
	switch {
	case st.po != nil && st.po.call != nil:
		if st.po.refusal != nil && e.Code == "57014" {
			s.finishPortal(st.po, st.po.refusal)
			return
		}
		s.finishPortal(st.po, targetError(e))
	case st.call != nil:
		st.call.Finish(context.Background(), gateway.Outcome{Err: targetError(e)})
	}
	if st.undo != nil && (st.kind == kParse || st.kind == kBind) {
		st.undo()
	}
}

// handle processes one upstream message of a step; done when the step's
// last message arrived.
func (s *session) handle(st *step, msg pgproto3.BackendMessage, relay bool) (bool, error) {
	switch st.kind {
	case kSync:
		if m, ok := msg.(*pgproto3.ReadyForQuery); ok {
			st.up.tx = m.TxStatus
			st.up.errMode, st.up.dirty, st.up.executed = false, false, false
			return true, nil
		}
		return false, nil // leftovers of skipped steps
	case kParse:
		if _, ok := msg.(*pgproto3.ParseComplete); ok {
			if relay && !st.simple {
				s.send(&pgproto3.ParseComplete{})
			}
			return true, nil
		}
	case kBind:
		if _, ok := msg.(*pgproto3.BindComplete); ok {
			if relay && !st.simple {
				s.send(&pgproto3.BindComplete{})
			}
			return true, nil
		}
	case kClose:
		if _, ok := msg.(*pgproto3.CloseComplete); ok {
			if relay {
				s.send(&pgproto3.CloseComplete{})
			}
			return true, nil
		}
	case kDescribeS:
		switch m := msg.(type) {
		case *pgproto3.ParameterDescription:
			st.st.paramOIDs = slices.Clone(m.ParameterOIDs)
			if relay {
				s.send(&pgproto3.ParameterDescription{ParameterOIDs: st.st.paramOIDs})
			}
			return false, nil
		case *pgproto3.RowDescription:
			st.st.fields, st.st.cols = cloneFields(m.Fields), nil
			st.st.described = true
			if relay {
				s.send(&pgproto3.RowDescription{Fields: st.st.fields})
			}
			return true, nil
		case *pgproto3.NoData:
			st.st.fields, st.st.cols, st.st.described = nil, nil, true
			if relay {
				s.send(&pgproto3.NoData{})
			}
			return true, nil
		}
	case kDescribeP:
		switch m := msg.(type) {
		case *pgproto3.RowDescription:
			st.po.fields = portalFields(st.po.st, m.Fields)
			if relay {
				s.send(&pgproto3.RowDescription{Fields: st.po.fields})
			}
			return true, nil
		case *pgproto3.NoData:
			if relay && !st.simple {
				s.send(&pgproto3.NoData{})
			}
			return true, nil
		}
	case kExecHidden:
		switch m := msg.(type) {
		case *pgproto3.CommandComplete:
			if relay {
				s.send(&pgproto3.CommandComplete{CommandTag: slices.Clone(m.CommandTag)})
			}
			if st.call != nil {
				st.call.Finish(context.Background(), gateway.Outcome{})
			}
			return true, nil
		case *pgproto3.DataRow, *pgproto3.RowDescription, *pgproto3.EmptyQueryResponse:
			return false, nil
		}
	case kExecute:
		return s.handleRows(st, msg, relay)
	}
	return false, fmt.Errorf("%w: unexpected %T", errUpstream, msg)
}

// portalFields keeps a portal's description: the statement's last one if
// the target described this portal alike (clients that describe every
// execution, as libpq's PQexecPrepared does), so that masking works out
// its columns once; else a copy, kept as the statement's last.
func portalFields(st *stmt, f []pgproto3.FieldDescription) []pgproto3.FieldDescription {
	if len(f) > 0 && slices.EqualFunc(st.portalFields, f, sameField) {
		return st.portalFields
	}
	st.portalFields, st.portalCols = cloneFields(f), nil
	return st.portalFields
}

func sameField(a, b pgproto3.FieldDescription) bool {
	return string(a.Name) == string(b.Name) && a.TableOID == b.TableOID && a.TableAttributeNumber == b.TableAttributeNumber &&
		a.DataTypeOID == b.DataTypeOID && a.DataTypeSize == b.DataTypeSize && a.TypeModifier == b.TypeModifier && a.Format == b.Format
}

func cloneFields(f []pgproto3.FieldDescription) []pgproto3.FieldDescription {
	out := make([]pgproto3.FieldDescription, len(f))
	copy(out, f)
	for i := range out {
		out[i].Name = slices.Clone(out[i].Name)
	}
	return out
}

// handleRows relays the result of an execution: rows masked, past the
// rule's row limit refused.
func (s *session) handleRows(st *step, msg pgproto3.BackendMessage, relay bool) (bool, error) {
	po := st.po
	if !po.maskerDone {
		po.maskerDone = true
		po.executed = true
		s.startMasking(po)
	}
	discard := !relay || po.refusal != nil || po.over
	switch m := msg.(type) {
	case *pgproto3.DataRow:
		if discard {
			return false, nil
		}
		po.rows++
		if limit := po.call.MaxRows; limit > 0 && po.rows > int64(limit) {
			po.over = true
			po.refusal = &gateway.Error{Code: gateway.CodeDenied, Rule: po.call.Decision.Rule,
				Message: fmt.Sprintf("the result has more than the %d rows rule %q allows; narrow the query (WHERE, LIMIT)", limit, po.call.Decision.Rule)}
			po.rows = int64(limit)
			s.cancelStatement(po)
			return false, nil
		}
		if po.masker != nil {
			if err := po.masker.mask(s, m); err != nil {
				po.refusal = err
				s.cancelStatement(po)
				return false, nil
			}
		}
		s.send(m)
		return false, nil
	case *pgproto3.CommandComplete:
		if po.refusal != nil {
			s.finishPortal(po, po.refusal)
			return true, &stepError{resp: errorResponse(po.refusal)}
		}
		if !relay {
			s.finishPortal(po, errDiscarded)
			return true, nil
		}
		s.send(&pgproto3.CommandComplete{CommandTag: slices.Clone(m.CommandTag)})
		s.finishPortal(po, nil)
		return true, nil
	case *pgproto3.EmptyQueryResponse:
		if relay {
			s.send(&pgproto3.EmptyQueryResponse{})
		}
		s.finishPortal(po, nil)
		return true, nil
	case *pgproto3.PortalSuspended:
		if po.refusal != nil {
			s.finishPortal(po, po.refusal)
			return true, &stepError{resp: errorResponse(po.refusal)}
		}
		if relay {
			s.send(&pgproto3.PortalSuspended{})
		}
		return true, nil
	case *pgproto3.RowDescription:
		// COPY TO STDOUT aside, Execute sends none; tolerate it.
		return false, nil
	case *pgproto3.CopyOutResponse:
		if relay {
			cp := *m
			cp.ColumnFormatCodes = slices.Clone(m.ColumnFormatCodes)
			s.send(&cp)
		}
		return false, nil
	case *pgproto3.CopyData:
		if relay {
			s.send(&pgproto3.CopyData{Data: slices.Clone(m.Data)})
			s.outBytes += len(m.Data)
			if s.outBytes > 64<<10 {
				s.flush()
			}
		}
		return false, nil
	case *pgproto3.CopyDone:
		if relay {
			s.send(&pgproto3.CopyDone{})
		}
		return false, nil
	case *pgproto3.CopyInResponse, *pgproto3.CopyBothResponse:
		// Never admitted (COPY FROM STDIN is refused before it is sent); if
		// the target asks for data anyway, the copy is failed.
		st.up.fe.Send(&pgproto3.CopyFail{Message: "COPY FROM STDIN is not supported through Warden"})
		if err := st.up.fe.Flush(); err != nil {
			return true, errUpstream
		}
		return false, nil
	}
	return false, fmt.Errorf("%w: unexpected %T", errUpstream, msg)
}

// cancelStatement stops a statement whose remaining rows nobody will get:
// a read-only one is cancelled on the server rather than drained.
func (s *session) cancelStatement(po *portal) {
	if po.up == nil || !po.call.Decision.ReadOnly {
		return
	}
	if err := po.up.cancelRequest(); err != nil {
		s.log.Warn("cancel a refused statement", "session", s.gs.Caller().Session, "err", err)
	}
}

// finishPortal records how a portal's execution ended (once).
func (s *session) finishPortal(po *portal, err error) {
	if po == nil || po.finished || po.call == nil {
		return
	}
	po.finished = true
	out := gateway.Outcome{Rows: po.rows, Err: err, Truncated: po.over}
	if po.masker != nil {
		out.Masked = po.masker.rm.Summary()
	}
	if err == nil && !po.executed {
		out.Err = errors.New("bound but never executed")
	}
	po.call.Finish(context.Background(), out)
}
