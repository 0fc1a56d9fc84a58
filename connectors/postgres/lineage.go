package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/masking"
)

// Sources implements masking.SourceResolver: relations by OID (a result's
// RowDescription) and by name (a statement's FROM items, resolved through
// the search path Warden pins: pg_catalog, then SearchPath), with their
// columns by attribute number, inheritance ancestors and, for views, their
// definition; and which unqualified function names resolve to user code.
//
// It reads the catalog with the admin credential, in one round trip: a
// pipelined batch whose first statement empties search_path for its own
// implicit transaction, so pg_get_viewdef qualifies every relation outside
// pg_catalog. Masking caches the answers; this method does not.
func (p *Postgres) Sources(ctx context.Context, req masking.SourcesRequest) (masking.SourcesResponse, error) {
	resp := masking.SourcesResponse{ByOID: map[uint32]masking.Relation{}, ByName: map[masking.Name]masking.Relation{},
		UserFunctions: map[string]bool{}}
	if p.isClosed() {
		return resp, connectors.ErrClosed
	}
	oids := make([]int64, len(req.OIDs))
	for i, o := range req.OIDs {
		oids[i] = int64(o)
	}
	schemas := make([]string, len(req.Relations))
	names := make([]string, len(req.Relations))
	for i, n := range req.Relations {
		schemas[i], names[i] = n.Schema, n.Name
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	b := &pgx.Batch{}
	b.Queue("SELECT pg_catalog.set_config('search_path', '', true)")
	b.Queue(relationsQuery, oids, schemas, names, SearchPath)
	b.Queue(functionsQuery, req.Functions, SearchPath)
	br := p.pool.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return resp, fmt.Errorf("catalog: %w", mapError(err))
	}
	rows, err := br.Query()
	if err != nil {
		return resp, fmt.Errorf("catalog: %w", mapError(err))
	}
	wanted := map[uint32]bool{}
	for _, o := range req.OIDs {
		wanted[o] = true
	}
	for rows.Next() {
		var (
			oid                uint32
			schema, name, kind string
			cols, ancSchemas   []string
			ancNames           []string
			query              string
			asked              []int32
		)
		if err := rows.Scan(&oid, &schema, &name, &kind, &cols, &query, &ancSchemas, &ancNames, &asked); err != nil {
			rows.Close()
			return resp, fmt.Errorf("catalog: %w", mapError(err))
		}
		rel := masking.Relation{OID: oid, Schema: schema, Name: name, Columns: cols, Query: query}
		if kind != "" {
			rel.Kind = kind[0]
		}
		for i := range ancSchemas {
			if i < len(ancNames) {
				rel.Ancestors = append(rel.Ancestors, masking.Name{Schema: ancSchemas[i], Name: ancNames[i]})
			}
		}
		if wanted[oid] {
			resp.ByOID[oid] = rel
		}
		for _, i := range asked {
			if i >= 1 && int(i) <= len(req.Relations) {
				resp.ByName[req.Relations[i-1]] = rel
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return resp, fmt.Errorf("catalog: %w", mapError(err))
	}
	frows, err := br.Query()
	if err != nil {
		return resp, fmt.Errorf("catalog: %w", mapError(err))
	}
	for frows.Next() {
		var f string
		if err := frows.Scan(&f); err != nil {
			frows.Close()
			return resp, fmt.Errorf("catalog: %w", mapError(err))
		}
		resp.UserFunctions[f] = true
	}
	frows.Close()
	if err := frows.Err(); err != nil {
		return resp, fmt.Errorf("catalog: %w", mapError(err))
	}
	return resp, nil
}

// relationsQuery describes the relations asked by OID ($1) and by name
// ($2 schemas, "" for the search path; $3 names; $4 the default schema).
// An unqualified name resolves as PostgreSQL does with search_path pinned
// to $4: pg_catalog first. "asked" lists the 1-based indexes of the names
// that resolved to the row's relation.
const relationsQuery = `
WITH asked AS (
  SELECT q.i, r.oid
  FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS q(s, r, i)
  CROSS JOIN LATERAL (
    SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relname = q.r AND (n.nspname = q.s OR (q.s = '' AND n.nspname IN ('pg_catalog', $4)))
    ORDER BY n.nspname <> 'pg_catalog'
    LIMIT 1) r
)
SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text, cols.names,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) ELSE '' END,
       coalesce(anc.schemas, '{}'), coalesce(anc.names, '{}'),
       coalesce((SELECT array_agg(a.i::int4) FROM asked a WHERE a.oid = c.oid), '{}')
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL (
  SELECT coalesce(array_agg(CASE WHEN a.attisdropped THEN '' ELSE a.attname::text END ORDER BY a.attnum), '{}') AS names
  FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0) cols
LEFT JOIN LATERAL (
  WITH RECURSIVE up(rel, depth) AS (
      SELECT i.inhparent, 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid
    UNION ALL
      SELECT i.inhparent, up.depth + 1 FROM pg_catalog.pg_inherits i JOIN up ON i.inhrelid = up.rel WHERE up.depth < 32)
  SELECT array_agg(an.nspname::text ORDER BY up.depth) AS schemas, array_agg(ac.relname::text ORDER BY up.depth) AS names
  FROM up JOIN pg_catalog.pg_class ac ON ac.oid = up.rel JOIN pg_catalog.pg_namespace an ON an.oid = ac.relnamespace) anc ON true
WHERE c.oid = ANY($1::int8[]::oid[]) OR c.oid IN (SELECT oid FROM asked)`

// functionsQuery returns the names ($1) that resolve, through the search
// path, to a function in the default schema ($2) that no extension owns:
// user code, which may read any table.
const functionsQuery = `
SELECT f FROM unnest($1::text[]) AS f
WHERE EXISTS (
  SELECT 1 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  WHERE p.proname = f AND n.nspname = $2
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid AND d.deptype = 'e'))`

var _ masking.SourceResolver = (*Postgres)(nil)
