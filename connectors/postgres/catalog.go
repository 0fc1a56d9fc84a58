package postgres

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/policy"

	"github.com/jackc/pgx/v5"

	"github.com/wardenhq/warden/policy/sqlclass"
)

// SearchPath is the schema every transaction Warden opens resolves
// unqualified names in (pg_catalog is always searched first). Policy
// qualifies unqualified table names with the same schema, so what a rule's
// table scope assumes is what PostgreSQL resolves.
const SearchPath = "public"

// catalogTTL bounds how long a catalog answer is trusted: a function
// redefined as VOLATILE is judged anew within this time.
const catalogTTL = time.Minute

type catalogEntry struct {
	val     byte
	ok      bool
	expires time.Time
}

type catalogCache struct {
	mu sync.Mutex
	m  map[string]catalogEntry
}

func (c *catalogCache) get(key string) (catalogEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || time.Now().After(e.expires) {
		return catalogEntry{}, false
	}
	return e, true
}

func (c *catalogCache) put(key string, e catalogEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) > 10000 {
		c.m = map[string]catalogEntry{}
	}
	e.expires = time.Now().Add(catalogTTL)
	c.m[key] = e
}

// Volatility implements sqlclass.FunctionResolver: the most volatile of the
// functions name can mean (overloads, or the same name in pg_catalog and
// the search path).
func (p *Postgres) Volatility(ctx context.Context, name string) (byte, bool, error) {
	return p.lookup(ctx, &p.funcs, name, `
SELECT CASE max(CASE p.provolatile WHEN 'v' THEN 3 WHEN 's' THEN 2 ELSE 1 END)
         WHEN 3 THEN 'v' WHEN 2 THEN 's' WHEN 1 THEN 'i' END
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE p.proname = $2 AND (($1 = '' AND n.nspname IN ('pg_catalog', '`+SearchPath+`')) OR n.nspname = $1)`)
}

// TypeKind implements sqlclass.TypeResolver.
func (p *Postgres) TypeKind(ctx context.Context, name string) (byte, bool, error) {
	return p.lookup(ctx, &p.typeKinds, name, `
SELECT min(t.typtype::text)
FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE t.typname = $2 AND (($1 = '' AND n.nspname IN ('pg_catalog', '`+SearchPath+`')) OR n.nspname = $1)
HAVING count(DISTINCT t.typtype) = 1`)
}

func (p *Postgres) lookup(ctx context.Context, cache *catalogCache, name, query string) (byte, bool, error) {
	if e, ok := cache.get(name); ok {
		return e.val, e.ok, nil
	}
	schema, object := splitName(name)
	var v *string
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := p.pool.QueryRow(ctx, query, schema, object).Scan(&v)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, false, mapError(err)
	}
	e := catalogEntry{}
	if v != nil && len(*v) == 1 {
		e = catalogEntry{val: (*v)[0], ok: true}
	}
	cache.put(name, e)
	return e.val, e.ok, nil
}

// splitName splits "schema.name", "name" or quoted forms into schema and
// name as the catalog stores them (the classifier reports unquoted
// identifiers already folded to lower case).
func splitName(name string) (schema, object string) {
	parts := sqlclass.SplitName(name)
	if len(parts) == 1 {
		return "", parts[0]
	}
	return parts[len(parts)-2], parts[len(parts)-1]
}

// Classifier implements connectors.SQL: PostgreSQL's own grammar
// (sqlclass), with user-defined functions and types judged by what the
// catalog declares. It is made once per connection.
func (p *Postgres) Classifier() policy.Classifier { return p.classifier }

// ReplaceClassifier makes c the connection's classifier, for the tests
// that take the classifier out of the way (one that calls every statement
// a read) to prove that the walls behind it — the read-only transaction,
// the just-in-time role's grants — hold on their own. Call it before the
// connection serves anything.
func (p *Postgres) ReplaceClassifier(c policy.Classifier) { p.classifier = c }

// OfflineClassifier is the classifier of a configured connection without
// its target: what is not built in counts as a write.
func OfflineClassifier(config.Connection) policy.Classifier {
	return &sqlclass.Classifier{Schema: SearchPath}
}
