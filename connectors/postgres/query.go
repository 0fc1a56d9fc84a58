package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wardenhq/warden/connectors"
)

// Query implements connectors.SQL.
//
// Everything travels in one pipeline on one connection:
//
//	  ... once req.Gate (the audit intent) has opened ...
//	BEGIN READ ONLY | READ WRITE
//	SELECT set_config('statement_timeout', ms, true),  -- SET LOCAL, and the first snapshot
//	       set_config('search_path', 'public', true),  -- what policy assumes unqualified names mean
//	       set_config('standard_conforming_strings', 'on', true)  -- how the classifier parsed it
//	<the statement>                                    -- Parse/Bind/Execute: one statement only
//	ROLLBACK; SELECT pg_advisory_unlock_all(); DEALLOCATE ALL   -- read-only only
//	Sync
//
// so a read-only call costs one round trip. Taking the
// first snapshot before the statement means the statement can no longer
// switch the transaction to read-write (PostgreSQL allows SET TRANSACTION
// READ WRITE only before the first query). A read-write transaction is
// committed by Close, after the caller has read the result, and its session
// is then reset with DISCARD ALL: nothing a caller sets is seen by the next.
func (p *Postgres) Query(ctx context.Context, req connectors.QueryRequest) (connectors.Rows, error) {
	if p.isClosed() {
		return nil, connectors.ErrClosed
	}
	pool := p.pool
	switch req.Credential.Mode {
	case "", "static":
	case "jit":
		jp, err := p.jitPool(ctx, req.Credential)
		if err != nil {
			return nil, err
		}
		pool = jp
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
	r := &rows{p: p, ctx: ctx, conn: conn, readOnly: req.ReadOnly}
	pg := conn.Conn().PgConn()
	pl := pg.StartPipeline(ctx)
	r.pl = pl

	begin := "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE"
	if req.ReadOnly {
		begin = "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY"
	}
	// 0 means no limit, as in PostgreSQL; a positive timeout is at least 1 ms.
	ms := int64(0)
	if req.Timeout > 0 {
		ms = max(req.Timeout.Milliseconds(), 1)
	}
	timeout := []byte(strconv.FormatInt(ms, 10))
	pl.SendQueryParams(begin, nil, nil, nil, nil)
	pl.SendQueryParams("SELECT set_config('statement_timeout', $1, true), set_config('search_path', $2, true), "+
		"set_config('standard_conforming_strings', 'on', true)",
		[][]byte{timeout, []byte(SearchPath)}, nil, nil, nil)
	pl.SendQueryParams(req.SQL, nil, nil, nil, nil)
	if req.ReadOnly {
		// The rollback undoes SET and set_config; what outlives a
		// transaction (advisory locks, SQL-level prepared statements) is
		// cleared here so the next caller gets a clean session. After an
		// error the server skips these, and Close discards the session.
		pl.SendQueryParams("ROLLBACK", nil, nil, nil, nil)
		pl.SendQueryParams("SELECT pg_advisory_unlock_all()", nil, nil, nil, nil)
		pl.SendQueryParams("DEALLOCATE ALL", nil, nil, nil, nil)
	}
	if err := pl.Sync(); err != nil {
		return nil, r.abort(mapError(err))
	}
	// The two setup results, then the statement's.
	for range 2 {
		if err := discardResult(pl); err != nil {
			return nil, r.abort(mapError(err))
		}
	}
	res, err := pl.GetResults()
	if err != nil {
		return nil, r.abort(mapError(err))
	}
	rr, ok := res.(*pgconn.ResultReader)
	if !ok {
		return nil, r.abort(fmt.Errorf("postgres: unexpected pipeline result %T", res))
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
