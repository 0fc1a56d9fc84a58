package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/policy"
)

// How a client's messages are carried out. The client's extended-protocol
// messages are kept until Sync (or Flush); a simple Query is split into its
// statements. Then, in two passes:
//
//  1. prepare: statements are classified (once, at Parse), every execution
//     is decided, held if need be, and its audit intent made durable —
//     before anything of it reaches the target. A refusal stops the pass
//     there, as an error stops PostgreSQL.
//  2. plan: the upstream messages are written (not yet sent), wrapped in
//     the transaction the decisions call for, and a step is recorded for
//     each response the proxy must read or give.
//
// Then every upstream is flushed once and the steps run in order: upstream
// responses are read, masked and relayed; the proxy's own are dropped.

type stepKind int

const (
	kLocal      stepKind = iota
	kParse               // ParseComplete
	kDescribeS           // ParameterDescription, RowDescription | NoData
	kBind                // BindComplete
	kDescribeP           // RowDescription | NoData
	kExecute             // DataRow..., CommandComplete | EmptyQueryResponse | PortalSuspended
	kExecHidden          // the proxy's own statement, up to CommandComplete
	kClose               // CloseComplete
	kSync                // ReadyForQuery
)

// step is one response to read from an upstream, or local messages.
type step struct {
	kind   stepKind
	up     *upstream
	hidden bool // the proxy's own: nothing relayed
	simple bool // of a simple Query: no ParseComplete, BindComplete, NoData
	st     *stmt
	po     *portal
	call   *gateway.Grant // kExecHidden carrying a client's COMMIT/ROLLBACK/SAVEPOINT
	msgs   []pgproto3.BackendMessage
	render func() []pgproto3.BackendMessage // local messages built when reached
	apply  func()                           // when reached
	undo   func()                           // when skipped after an error
	fail   bool                             // a local error: the client's error state starts here
	snap   txnSnap                          // the client's transaction before this step
}

type txnSnap struct{ block, failed bool }

// planner writes upstream messages and records steps.
type planner struct {
	s     *session
	ctx   context.Context
	steps []*step
	arena []step // where steps live
	block bool
	fail  bool
	opts  txnControl
	unit  *unitState
	used  []*upstream
	// rw: an implicit transaction of this batch runs a statement that may
	// write, so it is opened READ WRITE (reads in it run in a read-only
	// subtransaction).
	rw bool
	// alone: the batch runs one client statement and ends with its
	// implicit transaction (Sync, or a simple Query's end).
	alone bool
}

func (s *session) newPlanner(ctx context.Context) *planner {
	return &planner{s: s, ctx: ctx, block: s.block, fail: s.failed, opts: s.blockOpts, unit: s.unit}
}

func (p *planner) snap() txnSnap { return txnSnap{p.block, p.fail} }

// add records a step. Steps live in chunks the planner allocates a few at
// a time (a statement takes four or five); a full chunk is left as it is,
// so the pointers into it stay valid.
func (p *planner) add(st step) *step {
	if len(p.arena) == cap(p.arena) {
		p.arena = make([]step, 0, max(8, 2*cap(p.arena)))
	}
	if p.steps == nil {
		p.steps = make([]*step, 0, 8)
	}
	st.snap = p.snap()
	p.arena = append(p.arena, st)
	sp := &p.arena[len(p.arena)-1]
	p.steps = append(p.steps, sp)
	return sp
}

func (p *planner) local(msgs ...pgproto3.BackendMessage) *step {
	return p.add(step{kind: kLocal, msgs: msgs})
}

func (p *planner) localError(err error) *step {
	return p.add(step{kind: kLocal, msgs: []pgproto3.BackendMessage{errorResponse(err)}, fail: true})
}

func (p *planner) use(u *upstream) {
	u.dirty = true
	for _, x := range p.used {
		if x == u {
			return
		}
	}
	p.used = append(p.used, u)
}

// hiddenExec runs one of the proxy's own statements on u.
func (p *planner) hiddenExec(u *upstream, h hiddenStmt, params ...[]byte) *step {
	p.use(u)
	if !u.hidden[h.name] {
		u.fe.SendParse(&pgproto3.Parse{Name: h.name, Query: h.sql})
		u.hidden[h.name] = true
		p.add(step{kind: kParse, up: u, hidden: true, undo: func() { delete(u.hidden, h.name) }})
	}
	u.fe.SendBind(&pgproto3.Bind{PreparedStatement: h.name, Parameters: params})
	p.add(step{kind: kBind, up: u, hidden: true})
	u.sendExecute(&pgproto3.Execute{})
	return p.add(step{kind: kExecHidden, up: u, hidden: true})
}

// adhoc runs SQL of the proxy's making that is not worth preparing
// (BEGIN with a client's isolation level, SAVEPOINT with its name) with
// the unnamed statement.
func (p *planner) adhoc(u *upstream, sql string) *step {
	p.use(u)
	delete(u.prepared, "")
	u.fe.SendParse(&pgproto3.Parse{Query: sql})
	p.add(step{kind: kParse, up: u, hidden: true})
	u.fe.SendBind(&pgproto3.Bind{})
	p.add(step{kind: kBind, up: u, hidden: true})
	u.sendExecute(&pgproto3.Execute{})
	return p.add(step{kind: kExecHidden, up: u, hidden: true})
}

// ensurePrepared prepares a client statement on u if it is not there yet
// (it was parsed on another upstream, or dropped).
func (p *planner) ensurePrepared(u *upstream, st *stmt) {
	name := st.upstream
	if cur, ok := u.prepared[name]; ok && cur == st {
		return
	}
	p.use(u)
	if _, ok := u.prepared[name]; ok && name != "" {
		u.fe.SendClose(&pgproto3.Close{ObjectType: 'S', Name: name})
		p.add(step{kind: kClose, up: u, hidden: true})
	}
	u.fe.SendParse(&pgproto3.Parse{Name: name, Query: st.sql, ParameterOIDs: st.oids})
	u.prepared[name] = st
	p.add(step{kind: kParse, up: u, hidden: true, undo: func() { delete(u.prepared, name) }})
}

// upstreamFor returns the upstream connection that runs a call: the one
// logged in as the credential of its deciding rule, dialled on first use.
func (p *planner) upstreamFor(call *gateway.Grant) (*upstream, error) {
	cred := call.Credential
	key := cred.Lease
	if cred.Mode == "" || cred.Mode == connectors.ModeStatic {
		key = connectors.ModeStatic
	}
	if u, ok := p.s.ups[key]; ok && !u.broken {
		return u, nil
	}
	u, err := p.s.dial(p.ctx, cred, call.Decision.Rule)
	if err != nil {
		return nil, &gateway.Error{Code: gateway.CodeUnavailable, Message: "Warden cannot connect to the target as this statement's credential: " + err.Error()}
	}
	return u, nil
}

// openUnit makes sure the client's current transaction has its upstream
// transaction on u, and returns it. A transaction runs on one upstream
// connection: a statement whose rule grants something else cannot join it.
// first is the statement the transaction opens with (nil: one of the
// proxy's own).
func (p *planner) openUnit(u *upstream, call *gateway.Grant, first *statement) (*unitState, error) {
	if p.unit != nil {
		if p.unit.up != u {
			return nil, pgError("0A000", fmt.Sprintf("this statement is allowed by rule %q, whose credential differs from the one this transaction runs as: run it in its own transaction", call.Decision.Rule))
		}
		return p.unit, nil
	}
	rw := p.rw
	if p.block {
		rw = p.opts.readOnly != 1 && p.s.mayWrite
	}
	ms := timeoutMS(p.s.gs.Limits().StatementTimeout)
	implicit := false
	switch {
	case p.block && (p.opts.iso != "" || p.opts.deferrable != 0):
		p.adhoc(u, beginSQL(p.opts.iso, !rw, p.opts.deferrable))
	case rw || p.block:
		h := hBeginRO
		if rw {
			h = hBeginRW
		}
		p.hiddenExec(u, h)
	case sendsBare(u, p.alone, snapshotFirst(first)):
		// A read-only implicit transaction that starts read-only by the
		// session's default and holds one query: the query takes the
		// transaction's snapshot before any of it runs, so nothing in it
		// can make the transaction writable any more (as after hSetRO),
		// and hSetRO's execution is saved. That the statement is a query
		// comes from the classifier's parse; should PostgreSQL see a
		// statement that can change the transaction's mode instead (SET
		// takes no snapshot), nothing runs after it in that transaction:
		// it is the batch's only statement.
		implicit = true
	default:
		// A read-only implicit transaction (autocommit, or the statements
		// up to Sync): made read-only before its first statement, ended by
		// the Sync (a read-only transaction has nothing to commit; if
		// anything in it failed, PostgreSQL rolls it back).
		p.hiddenExec(u, hSetRO)
		implicit = true
	}
	p.unit = &unitState{up: u, rw: rw, timeoutMS: ms, implicit: implicit}
	return p.unit, nil
}

// sendsBare reports whether a read-only implicit transaction on u needs
// no hSetRO: it starts read-only by the session's default, holds one
// statement (alone), and that statement is a query (see openUnit).
func sendsBare(u *upstream, alone, query bool) bool {
	return alone && query && u.readOnlyByDefault()
}

// snapshotFirst reports whether PostgreSQL takes ps's snapshot before it
// runs any of it: a single query (SELECT, VALUES, TABLE, WITH ... SELECT),
// which the executor runs under a snapshot, unlike a utility statement
// (SET, ...), which may change the transaction's mode before one is taken.
func snapshotFirst(ps *statement) bool {
	return ps != nil && len(ps.Facts.Parts) == 1 && ps.Tag() == "SELECT"
}

func timeoutMS(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return max(d.Milliseconds(), 1)
}

// prepareExecution puts a decided statement in its transaction on its
// upstream: the transaction opened, the statement timeout set, a read-only
// subtransaction opened when a read-only decision runs in a writable
// transaction. It returns the upstream.
func (p *planner) prepareExecution(po *portal) (*upstream, error) {
	call := po.call
	u, err := p.upstreamFor(call)
	if err != nil {
		return nil, err
	}
	p.use(u)
	unit, err := p.openUnit(u, call, po.st.ps)
	if err != nil {
		return nil, err
	}
	if !call.Decision.ReadOnly && !unit.rw {
		return nil, pgError("25006", "this statement may write, but the transaction it is part of runs READ ONLY (Warden opened it so for its first statement, or BEGIN READ ONLY asked for it): run the write in a transaction of its own, or begin with BEGIN READ WRITE")
	}
	if ms := timeoutMS(call.Timeout); ms != unit.timeoutMS {
		p.hiddenExec(u, hTimeoutL, []byte(strconv.FormatInt(ms, 10)))
		unit.timeoutMS = ms
	}
	if unit.rw && call.Decision.ReadOnly {
		p.hiddenExec(u, hSavepoint)
		p.hiddenExec(u, hSetRO)
		po.wrapped = true
	}
	po.up = u
	return u, nil
}

// endWrap closes a read-only subtransaction: whatever the statement did
// is undone.
func (p *planner) endWrap(po *portal) {
	if !po.wrapped || po.up == nil {
		return
	}
	p.hiddenExec(po.up, hRollbackS)
	p.hiddenExec(po.up, hReleaseS)
	po.wrapped = false
}

// endImplicit ends an implicit transaction at Sync (or at the end of a
// simple Query): a read-only one is rolled back in the same round trip; a
// read-write one is committed after its results were read, only if
// nothing in it failed (see reconcile).
func (p *planner) endImplicit() {
	if p.block || p.unit == nil {
		return
	}
	if !p.unit.rw {
		if !p.unit.implicit {
			p.hiddenExec(p.unit.up, hRollback)
		}
		p.unit = nil
	}
}

// sync ends the batch on every upstream it used, and on any left with
// work since its last Sync (an earlier Flush-ended batch).
func (p *planner) sync() {
	for _, u := range p.s.ups {
		if (u.dirty || u.errMode) && !u.broken {
			p.use(u)
		}
	}
	for _, u := range p.used {
		u.fe.Send(&pgproto3.Sync{})
		p.add(step{kind: kSync, up: u, hidden: true})
	}
}

// control carries out a transaction-control statement of the client.
// call records it (nil for one that changes nothing).
func (p *planner) control(c *txnControl, call *gateway.Grant, simple bool) {
	s := p.s
	done := func(tag string) *step {
		st := p.local(&pgproto3.CommandComplete{CommandTag: []byte(tag)})
		if call != nil {
			st.apply = func() { call.Finish(p.ctx, gateway.Outcome{}) }
		}
		return st
	}
	upstreamTag := func(st *step) {
		st.hidden, st.call = false, call
	}
	switch c.kind {
	case txnBegin:
		if p.block {
			p.local(notice("WARNING", "25001", "there is already a transaction in progress"))
		} else {
			p.block, p.fail, p.opts = true, false, *c
			if p.unit != nil && p.unit.implicit {
				// Statements of this batch already run in an implicit
				// read-only transaction: it becomes the block.
				p.hiddenExec(p.unit.up, hBeginRO)
				p.unit.implicit = false
			}
		}
		st := done(c.tag)
		st.apply = chain(st.apply, func() {
			if !s.block {
				s.block, s.failed, s.blockOpts = true, false, *c
			}
		})
	case txnCommit, txnRollback:
		if !p.block {
			p.local(notice("WARNING", "25P01", "there is no transaction in progress"))
			done(c.tag)
			return
		}
		tag := c.tag
		if c.kind == txnCommit && p.fail {
			tag = "ROLLBACK"
		}
		var st *step
		switch {
		case p.unit != nil && c.kind == txnCommit && !p.fail:
			st = p.hiddenExec(p.unit.up, hCommit)
			upstreamTag(st)
		case p.unit != nil:
			p.hiddenExec(p.unit.up, hRollback)
			st = done(tag)
		default:
			st = done(tag)
		}
		chainOpts := p.opts
		p.unit = nil
		p.block, p.fail = c.chain, false
		st.apply = chain(st.apply, func() {
			s.unit = nil
			s.block, s.failed = c.chain, false
			if c.chain {
				s.blockOpts = chainOpts
			}
		})
	case txnSavepoint, txnRelease, txnRollbackTo:
		if !p.block {
			p.localError(pgError("25P01", c.tag+" can only be used in transaction blocks"))
			return
		}
		if p.fail && c.kind != txnRollbackTo {
			p.localError(pgError("25P02", "current transaction is aborted, commands ignored until end of transaction block"))
			return
		}
		if p.unit == nil {
			if c.kind != txnSavepoint {
				p.localError(pgError("3B001", fmt.Sprintf("savepoint %q does not exist", c.savepoint)))
				return
			}
			if _, err := p.openUnit(s.primary, call, nil); err != nil {
				p.localError(err)
				return
			}
		}
		sql := map[txnKind]string{txnSavepoint: "SAVEPOINT ", txnRelease: "RELEASE SAVEPOINT ", txnRollbackTo: "ROLLBACK TO SAVEPOINT "}[c.kind] + quoteIdent(c.savepoint)
		st := p.adhoc(p.unit.up, sql)
		upstreamTag(st)
		if c.kind == txnRollbackTo {
			p.fail = false
			st.apply = func() { s.failed = false }
		}
	case txnSetTransaction:
		switch {
		case !p.block:
			p.local(notice("WARNING", "25P01", "SET TRANSACTION can only be used in transaction blocks"))
		case p.unit != nil:
			p.localError(pgError("0A000", "SET TRANSACTION after the transaction's first statement is not supported through Warden: use BEGIN ISOLATION LEVEL ... or BEGIN READ ONLY"))
			if call != nil {
				call.Finish(p.ctx, gateway.Outcome{Err: errors.New("SET TRANSACTION after the first statement")})
			}
			return
		default:
			merge(&p.opts, c)
			opts := p.opts
			st := done("SET")
			st.apply = chain(st.apply, func() { s.blockOpts = opts })
			return
		}
		done("SET")
	}
}

func merge(dst *txnControl, c *txnControl) {
	if c.iso != "" {
		dst.iso = c.iso
	}
	if c.readOnly != 0 {
		dst.readOnly = c.readOnly
	}
	if c.deferrable != 0 {
		dst.deferrable = c.deferrable
	}
}

func chain(a, b func()) func() {
	if a == nil {
		return b
	}
	return func() { a(); b() }
}

// controlCall records a transaction-control statement and waits for its
// intent; nil, err when the audit trail cannot be written.
func (s *session) controlCall(ctx context.Context, sql string, c *txnControl) (*gateway.Grant, error) {
	call := s.gs.Control(ctx, s.operation(sql, nil), "transaction control ("+c.tag+"), carried out by Warden's proxy")
	if err := call.Gate(ctx); err != nil {
		call.Finish(ctx, gateway.Outcome{Err: err})
		return nil, err
	}
	return call, nil
}

// classifyControl returns the transaction control a classified statement
// is, when the proxy carries it out itself.
func (s *session) classifyControl(ps *statement) *txnControl {
	if !ps.Has(policy.KindTransaction) {
		return nil
	}
	return s.srv.txns.parse(ps.SQL)
}
