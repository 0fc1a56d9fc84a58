package masking

import (
	"context"
	"fmt"
	"sync"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// relInfo is a relation as masking keeps it: the catalog's answer, and for
// a view its parsed defining query.
type relInfo struct {
	Relation
	parseOnce sync.Once
	tree      *pg_query.ParseResult
	parseErr  error
}

func (r *relInfo) qualified() string { return r.Schema + "." + r.Name }

// isView reports whether the relation's columns come from a query masking
// must trace (views and materialized views outside the system schemas).
func (r *relInfo) isView() bool {
	return (r.Kind == KindView || r.Kind == KindMaterializedView) && !systemSchema(r.Schema)
}

// parsed returns the view's parsed query, parsing it once.
func (r *relInfo) parsed() (*pg_query.ParseResult, error) {
	r.parseOnce.Do(func() {
		if r.Query == "" {
			r.parseErr = fmt.Errorf("no definition")
			return
		}
		r.tree, r.parseErr = pg_query.Parse(r.Query)
		// A target that keeps a view's definition as its CREATE VIEW
		// statement (SQLite): the query is the view's.
		if r.parseErr == nil && len(r.tree.GetStmts()) == 1 {
			if v := r.tree.GetStmts()[0].GetStmt().GetViewStmt(); v != nil {
				r.tree = &pg_query.ParseResult{Stmts: []*pg_query.RawStmt{{Stmt: v.GetQuery()}}}
			}
		}
	})
	return r.tree, r.parseErr
}

func systemSchema(s string) bool {
	return s == "pg_catalog" || s == "information_schema" || s == "pg_toast"
}

// statisticsRelations hold samples of the values of every analysed column
// (most common values, histograms): what they show cannot be traced to one
// column, so an output taken from them is refused under column rules.
var statisticsRelations = map[string]bool{
	"pg_statistic": true, "pg_statistic_ext_data": true, "pg_stats": true,
	"pg_stats_ext": true, "pg_stats_ext_exprs": true,
}

// catalog caches one connection's catalog answers and traced statements.
// Entries live for ttl: a view redefined, a column renamed or a table
// replaced is seen within that time.
type catalog struct {
	ttl time.Duration
	now func() time.Time

	mu     sync.Mutex
	byOID  map[uint32]relEntry
	byName map[Name]relEntry
	funcs  map[string]funcEntry
	traces map[string]traceEntry
	plans  map[string]planEntry
}

type relEntry struct {
	rel     *relInfo // nil: no such relation
	expires time.Time
}

type funcEntry struct {
	user    bool
	expires time.Time
}

// planEntry is the column plans of one statement and requester, or the
// refusal, valid until the first catalog answer they rest on expires.
type planEntry struct {
	plans   []colPlan
	keys    []string
	refusal *RefusedError
	expires time.Time
}

type traceEntry struct {
	lin     *lineage
	expires time.Time
}

// fetchTimeout bounds one catalog look-up, whatever the caller's context
// allows (a proxy's has no deadline).
const fetchTimeout = 30 * time.Second

// maxCachedKey is the longest statement key kept: longer statements are
// rare, and keeping them would let a few requests fill the memory bound
// (a statement may be up to limits.max_sql_bytes long).
const maxCachedKey = 16 << 10

// maxCacheEntries bounds each cache map; a full map is emptied.
const maxCacheEntries = 4096

func newCatalog(ttl time.Duration, now func() time.Time) *catalog {
	return &catalog{ttl: ttl, now: now, byOID: map[uint32]relEntry{}, byName: map[Name]relEntry{},
		funcs: map[string]funcEntry{}, traces: map[string]traceEntry{}, plans: map[string]planEntry{}}
}

// catalogView is the part of a catalog one analysis uses, fixed for its
// duration.
type catalogView struct {
	byOID     map[uint32]*relInfo
	byName    map[Name]*relInfo
	userFuncs map[string]bool
	// expires is when the first of the answers in the view expires (zero
	// for an empty view).
	expires time.Time
}

func (v *catalogView) rests(expires time.Time) {
	if v.expires.IsZero() || expires.Before(v.expires) {
		v.expires = expires
	}
}

// need collects what an analysis must know.
type need struct {
	oids  map[uint32]bool
	names map[Name]bool
	funcs map[string]bool
}

func newNeed() *need {
	return &need{oids: map[uint32]bool{}, names: map[Name]bool{}, funcs: map[string]bool{}}
}

// maxViewDepth bounds how deep views over views are followed.
const maxViewDepth = 16

// view looks up everything n names (and, transitively, everything the
// views among them name), asking res for what the cache lacks, and
// returns a fixed view of it.
func (c *catalog) view(ctx context.Context, res SourceResolver, n *need) (*catalogView, error) {
	v := &catalogView{byOID: map[uint32]*relInfo{}, byName: map[Name]*relInfo{}, userFuncs: map[string]bool{}}
	seenViews := map[*relInfo]bool{}
	for round := 0; round <= maxViewDepth; round++ {
		missing := c.lookup(v, n)
		if missing != nil {
			if err := c.fetch(ctx, res, missing); err != nil {
				return nil, err
			}
			if again := c.lookup(v, n); again != nil {
				// Whatever is still missing does not exist: fetch recorded it.
				return nil, fmt.Errorf("masking: catalog answer incomplete")
			}
		}
		// Views name more relations: follow them.
		next := newNeed()
		for _, r := range v.all() {
			if !r.isView() || seenViews[r] {
				continue
			}
			seenViews[r] = true
			if tree, err := r.parsed(); err == nil {
				collectNames(tree, next)
			}
		}
		if next.empty() {
			return v, nil
		}
		n = next
	}
	return v, nil // deeper views are analysed as untraceable
}

func (n *need) empty() bool { return len(n.oids) == 0 && len(n.names) == 0 && len(n.funcs) == 0 }

func (v *catalogView) all() []*relInfo {
	out := make([]*relInfo, 0, len(v.byOID)+len(v.byName))
	for _, r := range v.byOID {
		out = append(out, r)
	}
	for _, r := range v.byName {
		if r != nil {
			out = append(out, r)
		}
	}
	return out
}

// lookup copies what the cache knows of n into v and returns what it does
// not know (nil when nothing is missing).
func (c *catalog) lookup(v *catalogView, n *need) *SourcesRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	var req SourcesRequest
	for oid := range n.oids {
		if e, ok := c.byOID[oid]; ok && now.Before(e.expires) {
			v.rests(e.expires)
			if e.rel != nil {
				v.byOID[oid] = e.rel
			}
			continue
		}
		req.OIDs = append(req.OIDs, oid)
	}
	for name := range n.names {
		if e, ok := c.byName[name]; ok && now.Before(e.expires) {
			v.rests(e.expires)
			v.byName[name] = e.rel
			continue
		}
		req.Relations = append(req.Relations, name)
	}
	for f := range n.funcs {
		if e, ok := c.funcs[f]; ok && now.Before(e.expires) {
			v.rests(e.expires)
			v.userFuncs[f] = e.user
			continue
		}
		req.Functions = append(req.Functions, f)
	}
	if len(req.OIDs) == 0 && len(req.Relations) == 0 && len(req.Functions) == 0 {
		return nil
	}
	return &req
}

// fetch asks the resolver and records every answer, including absences.
func (c *catalog) fetch(ctx context.Context, res SourceResolver, req *SourcesRequest) error {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	resp, err := res.Sources(ctx, *req)
	if err != nil {
		return fmt.Errorf("masking: look up result sources: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	exp := c.now().Add(c.ttl)
	if len(c.byOID) > maxCacheEntries || len(c.byName) > maxCacheEntries {
		c.byOID, c.byName = map[uint32]relEntry{}, map[Name]relEntry{}
	}
	if len(c.funcs) > maxCacheEntries {
		c.funcs = map[string]funcEntry{}
	}
	// One relInfo per OID, shared by its name and OID entries.
	known := map[uint32]*relInfo{}
	info := func(r Relation) *relInfo {
		if ri, ok := known[r.OID]; ok {
			return ri
		}
		ri := &relInfo{Relation: r}
		known[r.OID] = ri
		return ri
	}
	for _, oid := range req.OIDs {
		e := relEntry{expires: exp}
		if r, ok := resp.ByOID[oid]; ok {
			e.rel = info(r)
		}
		c.byOID[oid] = e
	}
	for _, name := range req.Relations {
		e := relEntry{expires: exp}
		if r, ok := resp.ByName[name]; ok {
			e.rel = info(r)
		}
		c.byName[name] = e
	}
	for _, f := range req.Functions {
		c.funcs[f] = funcEntry{user: resp.UserFunctions[f], expires: exp}
	}
	return nil
}

// trace returns the cached lineage of a statement (by traceKey) and when
// it expires, if fresh.
func (c *catalog) trace(key string) (*lineage, time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.traces[key]
	if !ok || !c.now().Before(e.expires) {
		return nil, time.Time{}, false
	}
	return e.lin, e.expires, true
}

// putTrace caches a statement's lineage, traced with catalog answers the
// first of which expires at rests (zero: none), and returns when the
// lineage expires.
func (c *catalog) putTrace(key string, lin *lineage, rests time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp := c.now().Add(c.ttl)
	if !rests.IsZero() && rests.Before(exp) {
		exp = rests
	}
	if len(key) > maxCachedKey {
		return exp
	}
	if len(c.traces) > maxCacheEntries {
		c.traces = map[string]traceEntry{}
	}
	c.traces[key] = traceEntry{lin: lin, expires: exp}
	return exp
}

// plan returns the cached column plans of key (planKey), if fresh.
func (c *catalog) plan(key []byte) (planEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.plans[string(key)]
	if !ok || !c.now().Before(e.expires) {
		return planEntry{}, false
	}
	return e, true
}

func (c *catalog) putPlan(key string, e planEntry) {
	if len(key) > maxCachedKey {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.plans) > maxCacheEntries {
		c.plans = map[string]planEntry{}
	}
	c.plans[key] = e
}
