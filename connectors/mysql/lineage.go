package mysql

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/masking"
)

// SQLDialect implements masking.Dialecter: statements and views are traced
// as MySQL.
func (m *MySQL) SQLDialect() string { return masking.DialectMySQL }

// Sources implements masking.SourceResolver from information_schema, with
// the admin login: the tables and views asked for by name (an unqualified
// name is the connection's database; names match exactly, as tables do
// on a server with lower_case_table_names=0), their columns in order, a
// view's definition (which the server stores with every name qualified),
// and which functions are stored functions. The result's columns carry no
// origin (go-sql-driver does not expose the column definitions' schema,
// org_table and org_name), so masking traces every output through the
// statement; Relation.OID only tells relations apart.
func (m *MySQL) Sources(ctx context.Context, req masking.SourcesRequest) (masking.SourcesResponse, error) {
	resp := masking.SourcesResponse{ByName: map[masking.Name]masking.Relation{}, UserFunctions: map[string]bool{}}
	if m.isClosed() {
		return resp, connectors.ErrClosed
	}
	for _, n := range req.Relations {
		rel, ok, err := m.relation(ctx, n)
		if err != nil {
			return resp, err
		}
		if ok {
			resp.ByName[n] = rel
		}
	}
	for _, f := range req.Functions {
		schema, name := m.database, f
		if i := strings.LastIndexByte(f, '.'); i >= 0 {
			schema, name = f[:i], f[i+1:]
		}
		var n int
		if err := m.db.QueryRowContext(ctx, "SELECT count(*) FROM information_schema.ROUTINES WHERE ROUTINE_TYPE = 'FUNCTION' AND ROUTINE_SCHEMA = ? AND ROUTINE_NAME = ?", schema, name).Scan(&n); err != nil {
			return resp, m.mapError(err)
		}
		resp.UserFunctions[f] = n > 0
	}
	return resp, nil
}

// relation describes one table or view.
func (m *MySQL) relation(ctx context.Context, n masking.Name) (masking.Relation, bool, error) {
	schema := n.Schema
	if schema == "" {
		schema = m.database
	}
	var kind string
	var def sql.NullString
	err := m.db.QueryRowContext(ctx, `SELECT t.TABLE_TYPE, v.VIEW_DEFINITION FROM information_schema.TABLES t
LEFT JOIN information_schema.VIEWS v ON v.TABLE_SCHEMA = t.TABLE_SCHEMA AND v.TABLE_NAME = t.TABLE_NAME
WHERE t.TABLE_SCHEMA = ? AND t.TABLE_NAME = ? AND BINARY t.TABLE_SCHEMA = ? AND BINARY t.TABLE_NAME = ?`,
		schema, n.Name, schema, n.Name).Scan(&kind, &def)
	if errors.Is(err, sql.ErrNoRows) {
		return masking.Relation{}, false, nil
	}
	if err != nil {
		return masking.Relation{}, false, m.mapError(err)
	}
	rel := masking.Relation{OID: m.relationID(schema, n.Name), Schema: schema, Name: n.Name, Kind: 'r'}
	if kind == "VIEW" {
		rel.Kind, rel.Query = masking.KindView, def.String
	}
	rs, err := m.db.QueryContext(ctx, `SELECT COLUMN_NAME FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND BINARY TABLE_SCHEMA = ? AND BINARY TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
		schema, n.Name, schema, n.Name)
	if err != nil {
		return masking.Relation{}, false, m.mapError(err)
	}
	defer rs.Close()
	for rs.Next() {
		var c string
		if err := rs.Scan(&c); err != nil {
			return masking.Relation{}, false, m.mapError(err)
		}
		rel.Columns = append(rel.Columns, c)
	}
	if err := rs.Err(); err != nil {
		return masking.Relation{}, false, m.mapError(err)
	}
	return rel, true, nil
}

// relationID is a number of the connector's own for schema.name, stable
// while it runs.
func (m *MySQL) relationID(schema, name string) uint32 {
	m.jitMu.Lock()
	defer m.jitMu.Unlock()
	key := schema + "\x00" + name
	if id, ok := m.relIDs[key]; ok {
		return id
	}
	if m.relIDs == nil {
		m.relIDs = map[string]uint32{}
	}
	id := uint32(len(m.relIDs) + 1)
	m.relIDs[key] = id
	return id
}

var (
	_ masking.SourceResolver = (*MySQL)(nil)
	_ masking.Dialecter      = (*MySQL)(nil)
)
