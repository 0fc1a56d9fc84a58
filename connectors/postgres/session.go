package postgres

import (
	"container/list"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgconn"
)

// connState is what Warden knows about one pooled server session: the
// statement_timeout it last set there, and the statements it prepared there
// (so that a statement an agent repeats is parsed and planned once per
// session, as pgx does for its own callers).
type connState struct {
	timeoutMS int64 // -1: unknown
	stmts     *stmtCache
}

// sessions tracks connState per server connection.
type sessions struct {
	m sync.Map // *pgconn.PgConn -> *connState
}

func (s *sessions) get(pg *pgconn.PgConn) *connState {
	if v, ok := s.m.Load(pg); ok {
		return v.(*connState)
	}
	st := &connState{timeoutMS: -1, stmts: newStmtCache(stmtCacheSize)}
	s.m.Store(pg, st)
	return st
}

// reset forgets a session's state after DISCARD ALL.
func (s *sessions) reset(pg *pgconn.PgConn) { s.m.Delete(pg) }

// stmtCacheSize bounds the statements prepared per server session.
const stmtCacheSize = 128

var stmtNames atomic.Uint64

// stmtCache is an LRU of statements prepared on one session, by SQL text.
// A connection is used by one call at a time, so it needs no lock.
type stmtCache struct {
	max   int
	byKey map[string]*list.Element
	order *list.List // front: most recently used
}

type cachedStmt struct {
	sql  string
	desc *pgconn.StatementDescription
}

func newStmtCache(max int) *stmtCache {
	return &stmtCache{max: max, byKey: map[string]*list.Element{}, order: list.New()}
}

func (c *stmtCache) get(sql string) *pgconn.StatementDescription {
	if e, ok := c.byKey[sql]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*cachedStmt).desc
	}
	return nil
}

// add records a prepared statement; it returns the name of the statement
// it evicted, to deallocate, if any.
func (c *stmtCache) add(sql string, desc *pgconn.StatementDescription) (evicted string) {
	c.byKey[sql] = c.order.PushFront(&cachedStmt{sql: sql, desc: desc})
	if c.order.Len() > c.max {
		e := c.order.Back()
		cs := e.Value.(*cachedStmt)
		c.order.Remove(e)
		delete(c.byKey, cs.sql)
		return cs.desc.Name
	}
	return ""
}

func newStmtName() string { return "warden_s" + strconv.FormatUint(stmtNames.Add(1), 10) }
