package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/wardenhq/warden/gateway"
)

// simpleQuery carries out a Query message: each statement it holds is a
// governed call; together they are one implicit transaction unless they
// hold transaction control, as in PostgreSQL.
func (s *session) simpleQuery(ctx context.Context, sql string) {
	// A simple Query destroys the unnamed statement and portal.
	if po := s.portals[""]; po != nil {
		s.finishPortal(po, nil)
		delete(s.portals, "")
	}
	delete(s.stmts, "")
	stmts, err := s.classify(ctx, sql)
	if err != nil {
		s.sendError(err)
		s.onClientError()
		s.send(&pgproto3.ReadyForQuery{TxStatus: s.txStatus()})
		return
	}
	if len(stmts) == 0 {
		s.send(&pgproto3.EmptyQueryResponse{})
		s.send(&pgproto3.ReadyForQuery{TxStatus: s.txStatus()})
		return
	}
	p := s.newPlanner(ctx)
	// Pass 1: decide every statement before any of them runs.
	type entry struct {
		ps   *statement
		ctl  *txnControl
		call *gateway.Grant
		err  error
	}
	entries := make([]entry, 0, len(stmts))
	block, failed := p.block, p.fail
	for i := range stmts {
		e := entry{ps: &stmts[i]}
		e.ctl = s.classifyControl(e.ps)
		switch {
		case e.ctl != nil && e.ctl.kind == txnUnsupported:
			e.err = s.refuse(ctx, e.ps.SQL, e.ctl.why)
		case e.ctl != nil:
			if failed && e.ctl.kind != txnRollback && e.ctl.kind != txnCommit && e.ctl.kind != txnRollbackTo {
				e.err = pgError("25P02", "current transaction is aborted, commands ignored until end of transaction block")
				break
			}
			e.call, e.err = s.controlCall(ctx, e.ps.SQL, e.ctl)
			switch e.ctl.kind {
			case txnBegin:
				block = true
			case txnCommit, txnRollback:
				block, failed = e.ctl.chain, false
			case txnRollbackTo:
				failed = false
			}
		case failed:
			e.err = pgError("25P02", "current transaction is aborted, commands ignored until end of transaction block")
		default:
			e.call, e.err = s.decideExecution(ctx, e.ps, nil)
			if e.err == nil && !e.call.Decision.ReadOnly && !block {
				p.rw = true
			}
		}
		entries = append(entries, e)
		if e.err != nil {
			break
		}
	}
	// Pass 2: plan.
	p.alone = len(stmts) == 1
	for i, e := range entries {
		if e.err != nil {
			p.localError(e.err)
			for _, rest := range entries[i+1:] {
				if rest.call != nil {
					rest.call.Finish(ctx, gateway.Outcome{Err: errNotRun})
				}
			}
			break
		}
		if e.ctl != nil {
			p.control(e.ctl, e.call, true)
			continue
		}
		st := &stmt{sql: e.ps.SQL, ps: e.ps}
		po := &portal{st: st, call: e.call}
		u, err := p.prepareExecution(po)
		if err != nil {
			e.call.Finish(ctx, gateway.Outcome{Err: err})
			p.localError(err)
			for _, rest := range entries[i+1:] {
				if rest.call != nil {
					rest.call.Finish(ctx, gateway.Outcome{Err: errNotRun})
				}
			}
			break
		}
		p.use(u)
		delete(u.prepared, "")
		u.fe.SendParse(&pgproto3.Parse{Query: st.sql})
		p.add(step{kind: kParse, up: u, simple: true, po: po})
		u.fe.SendBind(&pgproto3.Bind{})
		p.add(step{kind: kBind, up: u, simple: true, po: po})
		u.fe.SendDescribe(&pgproto3.Describe{ObjectType: 'P'})
		p.add(step{kind: kDescribeP, up: u, simple: true, po: po})
		u.sendExecute(&pgproto3.Execute{})
		p.add(step{kind: kExecute, up: u, simple: true, po: po})
		p.endWrap(po)
	}
	p.endImplicit()
	p.sync()
	s.execute(ctx, p, true)
}

// errNotRun finishes a decided call that did not run because an earlier
// statement of the same batch failed.
var errNotRun = errors.New("not run: an earlier statement in the same batch failed, so the rest was skipped")

// decideExecution runs the pipeline for one execution and gates it. COPY
// FROM STDIN is refused here: Warden does not carry client data streams.
func (s *session) decideExecution(ctx context.Context, ps *statement, params []param) (*gateway.Grant, error) {
	if ps.Tag() == "COPY" && copyFromStdin(ps.SQL) {
		return nil, s.refuse(ctx, ps.SQL, "COPY FROM STDIN is not supported through Warden")
	}
	call, err := s.decide(ctx, ps, params)
	if err != nil {
		return nil, err
	}
	if ps.Tag() == "COPY" && call.Decision.Masking != "" {
		err := &gateway.Error{Code: gateway.CodeDenied, Message: "COPY TO STDOUT cannot be masked: select the rows instead"}
		call.Finish(ctx, gateway.Outcome{Err: err})
		return nil, err
	}
	if err := call.Gate(ctx); err != nil {
		call.Finish(ctx, gateway.Outcome{Err: err})
		return nil, err
	}
	return call, nil
}

// item is a client message of a batch, resolved by the prepare pass.
type item struct {
	m    *fmsg
	st   *stmt
	po   *portal
	prev *stmt // Close S: the statement closed
	err  error
	last bool // Bind's portal is not referenced again in this batch
}

// extended carries out the extended-protocol messages kept so far; sync
// says whether a Sync ended them.
func (s *session) extended(ctx context.Context, sync bool) {
	batch := s.batch
	s.batch = s.batch[:0:0]
	p := s.newPlanner(ctx)
	items := s.prepareBatch(ctx, p, batch)
	if sync {
		bound := 0
		for _, it := range items {
			if it.m.kind == 'B' && it.po != nil && it.po.call != nil {
				bound++
			}
		}
		p.alone = bound == 1
	}
	s.planBatch(p, items)
	if sync {
		p.endImplicit()
		p.sync()
	} else {
		// The server keeps its answers until asked for them.
		for _, u := range p.used {
			u.fe.Send(&pgproto3.Flush{})
		}
	}
	s.execute(ctx, p, sync)
}

// prepareBatch is pass 1: resolve names, classify at Parse, decide at Bind.
func (s *session) prepareBatch(ctx context.Context, p *planner, batch []*fmsg) []*item {
	store := make([]item, len(batch))
	items := make([]*item, 0, len(batch))
	block, failed := p.block, p.fail
	for i, m := range batch {
		it := &store[i]
		it.m = m
		items = append(items, it)
		switch m.kind {
		case 'P':
			if _, ok := s.stmts[m.name]; ok && m.name != "" {
				it.err = pgError("42P05", fmt.Sprintf("prepared statement %q already exists", m.name))
				break
			}
			st := &stmt{name: m.name, upstream: upName(m.name), sql: m.sql, oids: m.oids}
			stmts, err := s.classify(ctx, m.sql)
			switch {
			case err != nil:
				it.err = err
			case len(stmts) > 1:
				it.err = pgError("42601", "cannot insert multiple commands into a prepared statement")
			case len(stmts) == 1:
				st.ps = &stmts[0]
				st.ctl = s.classifyControl(st.ps)
			}
			if it.err == nil && failed && st.ctl == nil {
				it.err = pgError("25P02", "current transaction is aborted, commands ignored until end of transaction block")
			}
			if it.err != nil {
				break
			}
			if st.local() {
				st.described = true
				st.paramOIDs = make([]uint32, len(m.oids))
				copy(st.paramOIDs, m.oids)
			}
			s.stmts[m.name] = st
			it.st = st
		case 'B':
			st, ok := s.stmts[m.stmtName]
			if !ok {
				it.err = pgError("26000", fmt.Sprintf("prepared statement %q does not exist", m.stmtName))
				break
			}
			if failed && st.ctl == nil {
				it.err = pgError("25P02", "current transaction is aborted, commands ignored until end of transaction block")
				break
			}
			if old, ok := s.portals[m.name]; ok {
				if m.name != "" {
					it.err = pgError("42P03", fmt.Sprintf("portal %q already exists", m.name))
					break
				}
				s.finishPortal(old, nil)
			}
			po := &portal{name: m.name, st: st, formats: m.resultFormats, bind: m}
			if !st.local() {
				po.params = params(m)
				call, err := s.decideExecution(ctx, st.ps, po.params)
				if err != nil {
					it.err = err
					break
				}
				po.call = call
				if !call.Decision.ReadOnly && !block {
					p.rw = true
				}
			} else if st.ctl != nil {
				if st.ctl.kind == txnUnsupported {
					it.err = s.refuse(ctx, st.sql, st.ctl.why)
					break
				}
			}
			s.portals[m.name] = po
			it.po = po
			it.st = st
		case 'D':
			if m.target == 'S' {
				st, ok := s.stmts[m.name]
				if !ok {
					it.err = pgError("26000", fmt.Sprintf("prepared statement %q does not exist", m.name))
				}
				it.st = st
			} else {
				po, ok := s.portals[m.name]
				if !ok {
					it.err = pgError("34000", fmt.Sprintf("portal %q does not exist", m.name))
				}
				it.po = po
			}
		case 'E':
			po, ok := s.portals[m.name]
			if !ok {
				it.err = pgError("34000", fmt.Sprintf("portal %q does not exist", m.name))
				break
			}
			it.po = po
			if c := po.st.ctl; c != nil {
				switch c.kind {
				case txnBegin:
					block = true
				case txnCommit, txnRollback:
					block, failed = c.chain, false
				case txnRollbackTo:
					failed = false
				}
			} else if failed {
				it.err = pgError("25P02", "current transaction is aborted, commands ignored until end of transaction block")
			}
		case 'C':
			if m.target == 'S' {
				it.prev = s.stmts[m.name]
				delete(s.stmts, m.name)
			} else if po, ok := s.portals[m.name]; ok {
				it.po = po
				delete(s.portals, m.name)
			}
		}
		if it.err != nil {
			break
		}
	}
	markLast(items)
	return items
}

// markLast marks, for each portal, the last item of the batch that refers
// to it (Bind, Describe or Execute).
func markLast(items []*item) {
	if len(items) <= 16 {
		// The common batch (Bind, Describe, Execute, Sync): no map.
		for i := len(items) - 1; i >= 0; i-- {
			it := items[i]
			if it.po == nil || it.m.kind == 'C' {
				continue
			}
			later := false
			for _, x := range items[i+1:] {
				if x.po == it.po && x.m.kind != 'C' {
					later = true
					break
				}
			}
			it.last = !later
		}
		return
	}
	seen := map[*portal]bool{}
	for i := len(items) - 1; i >= 0; i-- {
		it := items[i]
		if it.po == nil || it.m.kind == 'C' || seen[it.po] {
			continue
		}
		seen[it.po] = true
		it.last = true
	}
}

func params(m *fmsg) []param {
	if len(m.params) == 0 {
		return nil
	}
	out := make([]param, len(m.params))
	for i, v := range m.params {
		f := int16(0)
		switch {
		case len(m.paramFormats) == 1:
			f = m.paramFormats[0]
		case i < len(m.paramFormats):
			f = m.paramFormats[i]
		}
		out[i] = param{Value: v, Binary: f == 1}
	}
	return out
}

// planBatch is pass 2: write the upstream messages and record the steps.
func (s *session) planBatch(p *planner, items []*item) {
	ctx := p.ctx
	for i, it := range items {
		if it.err != nil {
			p.localError(it.err)
			s.unprepare(items[i+1:])
			return
		}
		m := it.m
		switch m.kind {
		case 'P':
			st := it.st
			if st.local() {
				sp := p.local(&pgproto3.ParseComplete{})
				sp.undo = s.forgetStmt(st)
				continue
			}
			u := s.primary
			p.use(u)
			name := st.upstream
			if _, ok := u.prepared[name]; ok && name != "" {
				u.fe.SendClose(&pgproto3.Close{ObjectType: 'S', Name: name})
				p.add(step{kind: kClose, up: u, hidden: true})
			}
			u.fe.SendParse(&pgproto3.Parse{Name: name, Query: st.sql, ParameterOIDs: st.oids})
			u.prepared[name] = st
			forget := s.forgetStmt(st)
			p.add(step{kind: kParse, up: u, st: st, undo: func() { forget(); delete(u.prepared, name) }})
			u.fe.SendDescribe(&pgproto3.Describe{ObjectType: 'S', Name: name})
			p.add(step{kind: kDescribeS, up: u, st: st, hidden: true})
		case 'B':
			po := it.po
			if po.call == nil {
				sp := p.local(&pgproto3.BindComplete{})
				sp.undo = s.forgetPortal(po, nil)
				continue
			}
			u, err := p.prepareExecution(po)
			if err != nil {
				s.finishPortal(po, err)
				delete(s.portals, po.name)
				p.localError(err)
				s.unprepare(items[i+1:])
				return
			}
			p.ensurePrepared(u, po.st)
			u.fe.SendBind(&pgproto3.Bind{DestinationPortal: upName(po.name), PreparedStatement: po.st.upstream,
				ParameterFormatCodes: m.paramFormats, Parameters: m.params, ResultFormatCodes: m.resultFormats})
			p.add(step{kind: kBind, up: u, po: po, undo: s.forgetPortal(po, errNotRun)})
			if it.last {
				p.endWrap(po)
			}
		case 'D':
			if m.target == 'S' {
				st := it.st
				p.add(step{kind: kLocal, render: func() []pgproto3.BackendMessage { return describeStatement(st) }})
				continue
			}
			po := it.po
			if po.call == nil {
				p.local(&pgproto3.NoData{})
				continue
			}
			p.use(po.up)
			po.up.fe.SendDescribe(&pgproto3.Describe{ObjectType: 'P', Name: upName(po.name)})
			p.add(step{kind: kDescribeP, up: po.up, po: po})
			if it.last {
				p.endWrap(po)
			}
		case 'E':
			po := it.po
			switch {
			case po.st.ctl != nil:
				call, err := s.controlCall(ctx, po.st.sql, po.st.ctl)
				if err != nil {
					p.localError(err)
					return
				}
				p.control(po.st.ctl, call, false)
			case po.call == nil:
				p.local(&pgproto3.EmptyQueryResponse{})
			default:
				if po.up == nil {
					p.localError(pgError("34000", fmt.Sprintf("portal %q does not exist", po.name)))
					return
				}
				p.use(po.up)
				po.up.sendExecute(&pgproto3.Execute{Portal: upName(po.name), MaxRows: m.maxRows})
				p.add(step{kind: kExecute, up: po.up, po: po})
				if it.last {
					p.endWrap(po)
				}
			}
		case 'C':
			sp := p.local(&pgproto3.CloseComplete{})
			if m.target == 'S' {
				prev := it.prev
				if prev == nil {
					continue
				}
				name := prev.upstream
				for _, u := range s.ups {
					if u.prepared[name] == prev && name != "" {
						u.fe.SendClose(&pgproto3.Close{ObjectType: 'S', Name: name})
						delete(u.prepared, name)
						p.use(u)
						p.add(step{kind: kClose, up: u, hidden: true, undo: func() { u.prepared[name] = prev }})
					}
				}
				sp.undo = func() {
					if _, ok := s.stmts[prev.name]; !ok {
						s.stmts[prev.name] = prev
					}
				}
			} else if po := it.po; po != nil {
				sp.apply = func() { s.finishPortal(po, nil) }
				if po.up != nil && po.name != "" && !po.finished {
					po.up.fe.SendClose(&pgproto3.Close{ObjectType: 'P', Name: upName(po.name)})
					p.use(po.up)
					p.add(step{kind: kClose, up: po.up, hidden: true})
				}
			}
		}
	}
}

// unprepare undoes what the prepare pass did for messages an error made
// the proxy skip: PostgreSQL never saw them.
func (s *session) unprepare(items []*item) {
	for _, it := range items {
		switch {
		case it.m.kind == 'P' && it.st != nil:
			s.forgetStmt(it.st)()
		case it.m.kind == 'B' && it.po != nil:
			s.forgetPortal(it.po, errNotRun)()
		case it.m.kind == 'C' && it.m.target == 'S' && it.prev != nil:
			if _, ok := s.stmts[it.prev.name]; !ok {
				s.stmts[it.prev.name] = it.prev
			}
		case it.m.kind == 'C' && it.po != nil:
			s.portals[it.po.name] = it.po
		}
	}
}

func (s *session) forgetStmt(st *stmt) func() {
	return func() {
		if s.stmts[st.name] == st {
			delete(s.stmts, st.name)
		}
	}
}

func (s *session) forgetPortal(po *portal, err error) func() {
	return func() {
		if s.portals[po.name] == po {
			delete(s.portals, po.name)
		}
		if po.call != nil {
			s.finishPortal(po, err)
		}
	}
}

// describeStatement answers Describe of a statement from what the target
// said at Parse (or, for one the proxy carries out, what PostgreSQL says).
func describeStatement(st *stmt) []pgproto3.BackendMessage {
	pd := &pgproto3.ParameterDescription{ParameterOIDs: st.paramOIDs}
	if pd.ParameterOIDs == nil {
		pd.ParameterOIDs = []uint32{}
	}
	if st.fields == nil {
		return []pgproto3.BackendMessage{pd, &pgproto3.NoData{}}
	}
	return []pgproto3.BackendMessage{pd, &pgproto3.RowDescription{Fields: st.fields}}
}

// onClientError moves the client's transaction to where an error leaves
// it: a block fails; an implicit transaction ends.
func (s *session) onClientError() {
	if s.block {
		s.failed = true
	}
}
