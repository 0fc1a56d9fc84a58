package postgres

import (
	"context"

	"github.com/wardenhq/warden/connectors"
)

const describeSQL = `
SELECT n.nspname, c.relname,
       CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                      WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' END,
       a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'
  AND ($1 = '' OR n.nspname = $1)
  AND ($2 = '' OR c.relname = $2)
ORDER BY n.nspname, c.relname, a.attnum`

// Describe implements connectors.SQL.
func (p *Postgres) Describe(ctx context.Context, req connectors.DescribeRequest) (connectors.DescribeResponse, error) {
	if p.isClosed() {
		return connectors.DescribeResponse{}, connectors.ErrClosed
	}
	rows, err := p.pool.Query(ctx, describeSQL, req.Schema, req.Table)
	if err != nil {
		return connectors.DescribeResponse{}, mapError(err)
	}
	defer rows.Close()
	var out connectors.DescribeResponse
	for rows.Next() {
		var schema, table, kind, col, typ string
		var nullable bool
		if err := rows.Scan(&schema, &table, &kind, &col, &typ, &nullable); err != nil {
			return connectors.DescribeResponse{}, mapError(err)
		}
		if req.Visible != nil && !req.Visible(schema, table) {
			continue
		}
		n := len(out.Tables)
		if n == 0 || out.Tables[n-1].Schema != schema || out.Tables[n-1].Name != table {
			out.Tables = append(out.Tables, connectors.Table{Schema: schema, Name: table, Kind: kind})
			n++
		}
		t := &out.Tables[n-1]
		t.Columns = append(t.Columns, connectors.TableColumn{Name: col, Type: typ, Nullable: nullable})
	}
	if err := rows.Err(); err != nil {
		return connectors.DescribeResponse{}, mapError(err)
	}
	return out, nil
}
