package sqlclass

import (
	"container/list"
	"sync"
)

// maxCachedSQL is the longest SQL text a Cache keeps: longer statements
// are rare, and keeping them would let a few requests fill the memory
// bound.
const maxCachedSQL = 16 << 10

// Cache is a bounded, concurrency-safe LRU of classifications. It holds
// only what the text alone decides (the parse and the tree walk, or the
// error); resolver answers are looked up on every Classify, so a function
// whose volatility changes is judged anew. A nil *Cache is valid and
// caches nothing.
//
// A classification is kept by the statement's shape (Shape: the text with
// its constants' contents left out) when the shape decides it: a single
// SELECT, INSERT, UPDATE, DELETE or MERGE whose classification never
// looked at a constant's value. Every text of that shape then shares it,
// so a client that inlines a new literal in each statement (pgbench's
// simple protocol, most ORMs without prepared statements) is parsed once.
// Anything else is kept by its exact text.
type Cache struct {
	mu     sync.Mutex
	max    int
	exact  map[string]*list.Element
	shapes map[string]*list.Element
	order  *list.List // front: most recently used
}

type cacheEntry struct {
	key      string
	byShape  bool
	analysed []analysis
	err      error
	// tail is, for an entry kept by shape, the bytes between the end of
	// the statement and the end of the text (a semicolon, white space):
	// constants lie before it, so it is the same for every text of the
	// shape, and so is the statement's start.
	tail int
}

// NewCache returns a cache holding at most maxEntries classifications of
// SQL texts up to 16 KiB each.
func NewCache(maxEntries int) *Cache {
	if maxEntries < 1 {
		maxEntries = 1
	}
	return &Cache{max: maxEntries, exact: make(map[string]*list.Element),
		shapes: make(map[string]*list.Element), order: list.New()}
}

// Len returns the number of cached classifications.
func (c *Cache) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

func (c *Cache) analyse(sql string) ([]analysis, error) {
	if c == nil || len(sql) > maxCachedSQL {
		return analyse(sql)
	}
	if e := c.get(c.exact, sql); e != nil {
		return e.analysed, copyErr(e.err)
	}
	shape, shaped := Shape(sql)
	if shaped {
		if e := c.get(c.shapes, shape); e != nil {
			return e.forText(sql), nil
		}
	}

	// Parse outside the lock; two callers racing on the same text both
	// parse it, which is harmless.
	analysed, err := analyse(sql)
	e := &cacheEntry{key: sql, analysed: analysed, err: err}
	if shaped && err == nil && len(analysed) == 1 && analysed[0].shapeDecides() {
		st := analysed[0].stmt
		e.key, e.byShape, e.tail = shape, true, len(sql)-st.Location-st.Length
	}
	c.put(e)
	return analysed, copyErr(err)
}

// shapeTags are the statements whose classification can be kept by shape:
// in them constants are values, which the walk does not look at (unlike,
// say, EXPLAIN (ANALYZE 'off') or BEGIN's options).
var shapeTags = map[string]bool{"SELECT": true, "INSERT": true, "UPDATE": true, "DELETE": true, "MERGE": true}

// shapeDecides reports whether every text of the statement's shape has
// its classification.
func (a *analysis) shapeDecides() bool {
	return !a.readsLiteral && shapeTags[a.stmt.Tag]
}

// forText returns the entry's analysis for a text of its shape: the same
// but for where the statement ends.
func (e *cacheEntry) forText(sql string) []analysis {
	a := e.analysed[0]
	a.stmt.Length = len(sql) - a.stmt.Location - e.tail
	return []analysis{a}
}

// get returns the entry m holds for key, now the most recently used, or
// nil.
func (c *Cache) get(m map[string]*list.Element, key string) *cacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := m[key]
	if !ok {
		return nil
	}
	c.order.MoveToFront(el)
	return el.Value.(*cacheEntry)
}

func (c *Cache) put(e *cacheEntry) {
	m := c.exact
	if e.byShape {
		m = c.shapes
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := m[e.key]; ok {
		c.order.MoveToFront(el)
		return
	}
	m[e.key] = c.order.PushFront(e)
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		old := last.Value.(*cacheEntry)
		if old.byShape {
			delete(c.shapes, old.key)
		} else {
			delete(c.exact, old.key)
		}
	}
}

// copyErr gives each caller its own *Error, so one caller changing it
// cannot change what the next one sees.
func copyErr(err error) error {
	if e, ok := err.(*Error); ok {
		cp := *e
		return &cp
	}
	return err
}
