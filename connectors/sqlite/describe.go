package sqlite

import (
	"context"

	"github.com/wardenhq/warden/connectors"
)

// Describe implements connectors.SQL. SQLite has one schema, "main".
func (s *SQLite) Describe(ctx context.Context, req connectors.DescribeRequest) (connectors.DescribeResponse, error) {
	if req.Schema != "" && req.Schema != "main" {
		return connectors.DescribeResponse{}, nil
	}
	db, err := s.handle(true)
	if err != nil {
		return connectors.DescribeResponse{}, err
	}
	const q = `
SELECT m.name, m.type, p.name, p.type, p."notnull"
FROM sqlite_schema m JOIN pragma_table_info(m.name) p
WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'
  AND (?1 = '' OR m.name = ?1)
ORDER BY m.name, p.cid`
	rs, err := db.QueryContext(ctx, q, req.Table)
	if err != nil {
		return connectors.DescribeResponse{}, mapError(ctx, err)
	}
	defer rs.Close()
	var out connectors.DescribeResponse
	for rs.Next() {
		var table, kind, col, typ string
		var notNull bool
		if err := rs.Scan(&table, &kind, &col, &typ, &notNull); err != nil {
			return connectors.DescribeResponse{}, mapError(ctx, err)
		}
		if req.Visible != nil && !req.Visible(Schema, table) {
			continue
		}
		n := len(out.Tables)
		if n == 0 || out.Tables[n-1].Name != table {
			out.Tables = append(out.Tables, connectors.Table{Schema: "main", Name: table, Kind: kind})
			n++
		}
		t := &out.Tables[n-1]
		t.Columns = append(t.Columns, connectors.TableColumn{Name: col, Type: typ, Nullable: !notNull})
	}
	return out, mapError(ctx, rs.Err())
}
