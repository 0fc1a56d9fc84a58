package mysql

import (
	"container/list"
	"sync"

	"github.com/wardenhq/warden/policy/sqlclass"
)

// maxCachedSQL is the longest SQL text a Cache keeps: longer statements
// are rare, and keeping them would let a few requests fill its bound.
const maxCachedSQL = 16 << 10

// Cache is a bounded, concurrency-safe LRU of what a statement's text
// alone decides — the scan, the parse and the walk, or the error — by the
// exact text and the server version it was read for. Stored functions are
// resolved on every Classify (a function whose declared data access
// changes is judged anew). A nil *Cache caches nothing.
type Cache struct {
	mu    sync.Mutex
	max   int
	m     map[cacheKey]*list.Element
	order *list.List // front: most recently used
}

type cacheKey struct{ version, sql string }

type cacheEntry struct {
	key      cacheKey
	analysed []analysis // never changed once made: resolve copies
	err      *sqlclass.Error
}

// NewCache returns a cache of at most maxEntries classifications of texts
// up to 16 KiB each.
func NewCache(maxEntries int) *Cache {
	return &Cache{max: max(maxEntries, 1), m: make(map[cacheKey]*list.Element), order: list.New()}
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

func (c *Cache) analyse(sql string, srv *server, version string) ([]analysis, *sqlclass.Error) {
	if c == nil || len(sql) > maxCachedSQL {
		return analyse(sql, srv, 0)
	}
	k := cacheKey{version, sql}
	c.mu.Lock()
	if el, ok := c.m[k]; ok {
		c.order.MoveToFront(el)
		e := el.Value.(*cacheEntry)
		c.mu.Unlock()
		return e.analysed, copyErr(e.err)
	}
	c.mu.Unlock()
	// Analysed outside the lock; two callers racing on one text both
	// analyse it, which is harmless.
	analysed, err := analyse(sql, srv, 0)
	c.mu.Lock()
	if _, ok := c.m[k]; !ok {
		c.m[k] = c.order.PushFront(&cacheEntry{key: k, analysed: analysed, err: err})
		for c.order.Len() > c.max {
			old := c.order.Back()
			c.order.Remove(old)
			delete(c.m, old.Value.(*cacheEntry).key)
		}
	}
	c.mu.Unlock()
	return analysed, copyErr(err)
}

// copyErr gives each caller an error of its own.
func copyErr(err *sqlclass.Error) *sqlclass.Error {
	if err == nil {
		return nil
	}
	e := *err
	return &e
}
