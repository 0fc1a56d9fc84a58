package sqlclass

import (
	"container/list"
	"sync"
)

// maxCachedSQL is the longest SQL text a Cache keeps: longer statements
// are rare, and keeping them would let a few requests fill the memory
// bound.
const maxCachedSQL = 16 << 10

// Cache is a bounded, concurrency-safe LRU of classifications keyed by the
// exact SQL text. It holds only what the text alone decides (the parse
// and the tree walk, or the error); resolver answers are looked up on
// every Classify, so a function whose volatility changes is judged anew.
// A nil *Cache is valid and caches nothing.
type Cache struct {
	mu      sync.Mutex
	max     int
	entries map[string]*list.Element
	order   *list.List // front: most recently used
}

type cacheEntry struct {
	sql      string
	analysed []analysis
	err      error
}

// NewCache returns a cache holding at most maxEntries classifications of
// SQL texts up to 16 KiB each.
func NewCache(maxEntries int) *Cache {
	if maxEntries < 1 {
		maxEntries = 1
	}
	return &Cache{max: maxEntries, entries: make(map[string]*list.Element), order: list.New()}
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
	c.mu.Lock()
	if el, ok := c.entries[sql]; ok {
		c.order.MoveToFront(el)
		e := el.Value.(*cacheEntry)
		c.mu.Unlock()
		return e.analysed, copyErr(e.err)
	}
	c.mu.Unlock()

	// Parse outside the lock; two callers racing on the same text both
	// parse it, which is harmless.
	analysed, err := analyse(sql)

	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[sql]; ok {
		c.order.MoveToFront(el)
		return analysed, copyErr(err)
	}
	c.entries[sql] = c.order.PushFront(&cacheEntry{sql: sql, analysed: analysed, err: err})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.entries, last.Value.(*cacheEntry).sql)
	}
	return analysed, copyErr(err)
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
