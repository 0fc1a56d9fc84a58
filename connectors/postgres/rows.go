package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wardenhq/warden/connectors"
)

// rows streams one statement's result and ends its transaction on Close.
type rows struct {
	p        *Postgres
	ctx      context.Context
	conn     *pgxpool.Conn
	pl       *pgconn.Pipeline
	rr       *pgconn.ResultReader
	readOnly bool
	own      bool // the session's own pool's connection (just-in-time), not the shared one
	sql      string
	state    *connState
	prepared *pgconn.StatementDescription // prepared by this call
	evicted  string                       // a statement pushed out of the cache, to deallocate

	cols []connectors.Column
	oids []uint32
	vals []any

	tag    string
	err    error
	done   bool // the statement has concluded
	closed bool
}

func (r *rows) Columns() []connectors.Column { return r.cols }
func (r *rows) Values() []any                { return r.vals }
func (r *rows) Err() error                   { return r.err }
func (r *rows) Tag() string                  { return r.tag }

func (r *rows) Next() bool {
	if r.done || r.closed {
		return false
	}
	if !r.rr.NextRow() {
		tag, err := r.rr.Close()
		r.done, r.tag = true, tag.String()
		if err != nil {
			r.err = mapError(err)
		}
		return false
	}
	raw := r.rr.Values()
	for i, b := range raw {
		r.vals[i] = DecodeText(r.oids[i], b)
	}
	return true
}

// Close ends the statement and the transaction. A read-only statement
// abandoned early (the caller hit its row limit) is cancelled on the server
// rather than drained, so a huge result costs nothing past the limit. A
// read-write one is drained instead: cancelling it would silently roll back
// what it wrote, or not, depending on timing.
func (r *rows) Close() error {
	if r.closed {
		return r.err
	}
	r.closed = true
	pg := r.conn.Conn().PgConn()
	healthy := true
	if !r.done && r.rr != nil {
		if r.readOnly {
			// PostgreSQL ignores a cancel that arrives once the backend is
			// idle, so this cannot hit a later statement on this connection.
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := pg.CancelRequest(cctx); err != nil {
				healthy = false
			}
			cancel()
		}
		tag, err := r.rr.Close()
		r.done, r.tag = true, tag.String()
		if err != nil && !(r.readOnly && isCancel(err)) && r.err == nil {
			r.err = mapError(err)
		}
	}
	// The rest of the pipeline: the read-only ROLLBACK (skipped by the
	// server after an error) and the Sync.
	pipelineErr := r.pl.Close()
	if err := pipelineErr; err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) {
			healthy = false
		} else if r.err == nil && !isCancel(err) {
			r.err = mapError(err)
		}
	}
	switch {
	case !healthy || pg.IsClosed():
		r.conn.Conn().Close(context.Background())
		r.conn.Release()
	case r.readOnly && r.err == nil && pipelineErr == nil && pg.TxStatus() == 'I':
		// The pipeline rolled back and cleaned the session.
		if r.evicted != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := pg.Deallocate(ctx, r.evicted); err != nil {
				r.conn.Conn().Close(context.Background())
			}
			cancel()
		}
		r.release()
	case r.readOnly || r.err != nil:
		r.end("ROLLBACK")
	default:
		if err := r.end("COMMIT"); err != nil {
			r.err = mapError(err)
		}
	}
	return r.err
}

// release returns the connection to its pool; a session's own connection
// is closed instead when others wait for the budget, so that its slot
// goes to them now rather than when it idles out.
func (r *rows) release() {
	if r.own && r.p.budget.Waiting() {
		r.conn.Conn().Close(context.Background())
	}
	r.conn.Release()
}

// end finishes the transaction, resets the session (DISCARD ALL: settings,
// prepared statements, temporary tables, advisory locks, LISTEN) and
// returns the connection to the pool. A connection in an unknown state is
// closed instead of reused.
func (r *rows) end(stmt string) error {
	pg := r.conn.Conn().PgConn()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var res []*pgconn.Result
	var err error
	if pg.TxStatus() != 'I' {
		res, err = pg.Exec(ctx, stmt).ReadAll()
	}
	if err == nil {
		_, err = pg.Exec(ctx, "DISCARD ALL").ReadAll()
	}
	// DISCARD ALL dropped the prepared statements and the timeout.
	r.p.sessions.reset(pg)
	if err != nil || pg.TxStatus() != 'I' {
		r.conn.Conn().Close(context.Background())
	}
	r.release()
	// COMMIT of a failed transaction succeeds with the tag ROLLBACK:
	// nothing was written, which must not be reported as success.
	if err == nil && stmt == "COMMIT" && len(res) == 1 && res[0].CommandTag.String() == "ROLLBACK" {
		return errRolledBack
	}
	return err
}

// errRolledBack reports a read-write transaction that PostgreSQL rolled
// back when asked to commit it.
var errRolledBack = errors.New("postgres: COMMIT rolled the transaction back, nothing was written")

func isCancel(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "57014"
}

// Built-in type OIDs and their names, so the common case needs no lookup.
var builtinTypes = map[uint32]string{
	16: "boolean", 17: "bytea", 18: "char", 19: "name", 20: "bigint", 21: "smallint",
	23: "integer", 25: "text", 26: "oid", 114: "json", 142: "xml", 700: "real",
	701: "double precision", 869: "inet", 650: "cidr", 1042: "character", 1043: "character varying",
	1082: "date", 1083: "time without time zone", 1114: "timestamp without time zone",
	1184: "timestamp with time zone", 1186: "interval", 1266: "time with time zone",
	1700: "numeric", 2950: "uuid", 3802: "jsonb", 1000: "boolean[]", 1005: "smallint[]",
	1007: "integer[]", 1016: "bigint[]", 1009: "text[]", 1015: "character varying[]",
	1021: "real[]", 1022: "double precision[]", 1231: "numeric[]", 2951: "uuid[]",
	3807: "jsonb[]", 199: "json[]", 2249: "record", 705: "unknown", 1560: "bit", 1562: "bit varying",
	790: "money", 829: "macaddr", 3614: "tsvector", 3904: "int4range", 3926: "int8range",
}
