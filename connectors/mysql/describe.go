package mysql

import (
	"context"

	"github.com/wardenhq/warden/connectors"
)

// systemSchemas are the server's own databases: never described, never
// granted on.
const systemSchemas = "'mysql', 'information_schema', 'performance_schema', 'sys'"

const describeSQL = `
SELECT c.TABLE_SCHEMA, c.TABLE_NAME,
       CASE t.TABLE_TYPE WHEN 'VIEW' THEN 'view' WHEN 'SYSTEM VIEW' THEN 'view' WHEN 'SEQUENCE' THEN 'sequence' ELSE 'table' END,
       c.COLUMN_NAME, c.COLUMN_TYPE, c.IS_NULLABLE = 'YES'
FROM information_schema.COLUMNS c
JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
WHERE c.TABLE_SCHEMA = ? AND (? = '' OR c.TABLE_NAME = ?)
  AND c.TABLE_SCHEMA NOT IN (` + systemSchemas + `)
ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION`

// Describe implements connectors.SQL: the tables, views and sequences of
// req.Schema, or of the connection's database when it names none (a
// MySQL server holds many databases; the connection names the one it is
// about).
func (m *MySQL) Describe(ctx context.Context, req connectors.DescribeRequest) (connectors.DescribeResponse, error) {
	if m.isClosed() {
		return connectors.DescribeResponse{}, connectors.ErrClosed
	}
	schema := req.Schema
	if schema == "" {
		schema = m.database
	}
	rs, err := m.db.QueryContext(ctx, describeSQL, schema, req.Table, req.Table)
	if err != nil {
		return connectors.DescribeResponse{}, m.mapError(err)
	}
	defer rs.Close()
	var out connectors.DescribeResponse
	for rs.Next() {
		var schema, table, kind, col, typ string
		var nullable bool
		if err := rs.Scan(&schema, &table, &kind, &col, &typ, &nullable); err != nil {
			return connectors.DescribeResponse{}, m.mapError(err)
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
	if err := rs.Err(); err != nil {
		return connectors.DescribeResponse{}, m.mapError(err)
	}
	return out, nil
}
