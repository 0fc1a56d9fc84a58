package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wardenhq/warden/connectors"
)

// Query implements connectors.SQL.
//
// Everything travels in one pipeline on one connection, once req.Gate (the
// audit intent) has opened:
//
//	SELECT set_config('statement_timeout', ms, false)  -- only when the session has another; Sync
//	BEGIN READ ONLY | READ WRITE
//	<the statement>            -- Parse (once per session, cached) / Bind / Execute: one statement only
//	ROLLBACK                   -- read-only
//	SELECT pg_advisory_unlock_all()  -- read-only, shared (static) sessions
//	Sync
//
// so a read-only call costs one round trip, and a statement the session has
// seen before is not parsed or planned again. Every session starts with
// search_path and standard_conforming_strings pinned (RuntimeParams): what
// policy assumed unqualified names mean, and how the classifier parsed the
// text. The rollback undoes anything the statement set; a read-write
// transaction is committed by Close, after the caller has read the result,
// and its session is then reset with DISCARD ALL.
func (p *Postgres) Query(ctx context.Context, req connectors.QueryRequest) (connectors.Rows, error) {
	if p.isClosed() {
		return nil, connectors.ErrClosed
	}
	pool := p.pool
	shared := true
	switch req.Credential.Mode {
	case "", connectors.ModeStatic:
	case connectors.ModeJIT:
		jp, err := p.jitPool(ctx, req.Credential)
		if err != nil {
			return nil, err
		}
		pool, shared = jp, false
	default:
		return nil, fmt.Errorf("postgres: unknown credential mode %q", req.Credential.Mode)
	}
	// The gate (the audit intent) is cheap since intents go to a journal;
	// waiting for it before acquiring keeps the whole call to one flush.
	if req.Gate != nil {
		if err := req.Gate(ctx); err != nil {
			return nil, err
		}
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, mapError(err)
	}
	pg := conn.Conn().PgConn()
	st := p.sessions.get(pg)
	r := &rows{p: p, ctx: ctx, conn: conn, readOnly: req.ReadOnly, sql: req.SQL, state: st, own: !shared}
	pl := pg.StartPipeline(ctx)
	r.pl = pl

	// 0 means no limit, as in PostgreSQL; a positive timeout is at least 1 ms.
	ms := int64(0)
	if req.Timeout > 0 {
		ms = max(req.Timeout.Milliseconds(), 1)
	}
	setTimeout := st.timeoutMS != ms
	if setTimeout {
		pl.SendQueryParams("SELECT set_config('statement_timeout', $1, false)", [][]byte{[]byte(strconv.FormatInt(ms, 10))}, nil, nil, nil)
		pl.SendPipelineSync()
	}
	begin := "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE"
	if req.ReadOnly {
		begin = "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY"
	}
	pl.SendQueryParams(begin, nil, nil, nil, nil)
	desc := st.stmts.get(req.SQL)
	var name, evicted string
	if desc != nil {
		pl.SendQueryStatement(desc, nil, nil, nil)
	} else {
		name = newStmtName()
		pl.SendPrepare(name, req.SQL, nil)
		pl.SendQueryPrepared(name, nil, nil, nil)
	}
	if req.ReadOnly {
		pl.SendQueryParams("ROLLBACK", nil, nil, nil, nil)
		if shared {
			// Connections are shared between callers: a session-level
			// advisory lock, the one thing a read-only statement can leave
			// behind that a rollback does not undo, is released.
			pl.SendQueryParams("SELECT pg_advisory_unlock_all()", nil, nil, nil, nil)
		}
	}
	if err := pl.Sync(); err != nil {
		return nil, r.abort(mapError(err))
	}
	if setTimeout {
		if err := discardResult(pl); err != nil {
			return nil, r.abort(mapError(err))
		}
		if _, err := pl.GetResults(); err != nil { // the Sync
			return nil, r.abort(mapError(err))
		}
		st.timeoutMS = ms
	}
	if err := discardResult(pl); err != nil { // BEGIN
		return nil, r.abort(mapError(err))
	}
	if desc == nil {
		res, err := pl.GetResults()
		if err != nil {
			return nil, r.abort(mapError(err))
		}
		sd, ok := res.(*pgconn.StatementDescription)
		if !ok {
			return nil, r.abort(fmt.Errorf("postgres: unexpected pipeline result %T", res))
		}
		// A pipeline's Prepare result carries neither the name nor the
		// text, and its fields live in a buffer pgconn reuses: keep a copy.
		r.prepared = &pgconn.StatementDescription{Name: name, SQL: req.SQL,
			ParamOIDs: slices.Clone(sd.ParamOIDs), Fields: slices.Clone(sd.Fields)}
	}
	res, err := pl.GetResults()
	if err != nil {
		return nil, r.abort(mapError(err))
	}
	rr, ok := res.(*pgconn.ResultReader)
	if !ok {
		return nil, r.abort(fmt.Errorf("postgres: unexpected pipeline result %T", res))
	}
	if r.prepared != nil {
		// Cache the statement only once it has executed without error.
		if evicted = st.stmts.add(req.SQL, r.prepared); evicted != "" {
			r.evicted = evicted
		}
	}
	r.rr = rr
	fds := rr.FieldDescriptions()
	r.cols = make([]connectors.Column, len(fds))
	r.oids = make([]uint32, len(fds))
	for i, fd := range fds {
		r.oids[i] = fd.DataTypeOID
		r.cols[i] = connectors.Column{
			Name:      fd.Name,
			Type:      p.typeName(ctx, conn, fd.DataTypeOID),
			TableOID:  fd.TableOID,
			Attribute: fd.TableAttributeNumber,
		}
	}
	r.vals = make([]any, len(fds))
	if fds == nil {
		// No row description: a statement without rows, or an error.
		// Finish it now so that an error surfaces from Query.
		tag, err := rr.Close()
		r.tag, r.done = tag.String(), true
		if err != nil {
			return nil, r.abort(mapError(err))
		}
	}
	return r, nil
}

// discardResult reads one pipeline result to its end.
func discardResult(pl *pgconn.Pipeline) error {
	res, err := pl.GetResults()
	if err != nil {
		return err
	}
	rr, ok := res.(*pgconn.ResultReader)
	if !ok {
		return fmt.Errorf("postgres: unexpected pipeline result %T", res)
	}
	_, err = rr.Close()
	return err
}

// abort ends a call that failed before its rows were handed out and
// returns err.
func (r *rows) abort(err error) error {
	r.err = err
	r.done = true
	if cerr := r.Close(); cerr != nil && !errors.Is(err, cerr) {
		r.p.logger.Debug("end failed call", "err", cerr)
	}
	return err
}
