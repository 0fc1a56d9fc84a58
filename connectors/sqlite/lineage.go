package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	lib "modernc.org/sqlite/lib"

	"github.com/wardenhq/warden/masking"
	sqliteclass "github.com/wardenhq/warden/policy/sqlclass/sqlite"
)

// ReportStatement implements masking.StatementReporter: SQLite compiles
// the statement (never running it) and says every table column it reads,
// through views and triggers, and where each plain result column comes
// from.
func (s *SQLite) ReportStatement(ctx context.Context, sql string) (masking.StatementReport, error) {
	stmts, err := s.compiler.Compile(ctx, sql)
	if err != nil {
		return masking.StatementReport{}, err
	}
	rep := masking.StatementReport{Statements: len(stmts)}
	for _, st := range stmts {
		for _, a := range st.Actions {
			if a.Code != lib.SQLITE_READ {
				continue
			}
			src := masking.SourceColumn{Schema: database(a.Database), Table: a.Arg1, Column: a.Arg2}
			rep.Reads = append(rep.Reads, src)
			if why := opaqueTables[strings.ToLower(a.Arg1)]; why != "" && rep.Opaque == "" {
				rep.Opaque = "reads " + strings.ToLower(a.Arg1) + ", which " + why
			}
		}
	}
	if len(stmts) > 0 {
		for _, c := range stmts[len(stmts)-1].Columns {
			var src masking.SourceColumn
			if c.Origin != "" {
				src = masking.SourceColumn{Schema: database(c.Database), Table: c.Table, Column: c.Origin}
			}
			rep.Columns = append(rep.Columns, src)
		}
	}
	return rep, nil
}

// opaqueTables hold values of other tables' columns in a form no column
// rule can follow.
var opaqueTables = map[string]string{
	"sqlite_dbpage": "holds the database file's raw pages",
	"sqlite_stat4":  "holds samples of indexed columns' values",
	"sqlite_stat3":  "holds samples of indexed columns' values",
}

func database(db string) string {
	if db == "" {
		return Schema
	}
	return strings.ToLower(db)
}

// SameProgram implements masking.StatementReporter: whether SQLite
// compiles a and b to the same bytecode.
func (s *SQLite) SameProgram(ctx context.Context, a, b string) (bool, error) {
	pa, err := s.compiler.Program(ctx, a)
	if err != nil {
		return false, err
	}
	pb, err := s.compiler.Program(ctx, b)
	var ce *sqliteclass.CompileError
	if errors.As(err, &ce) {
		return false, nil // b is not SQLite: not the same
	}
	if err != nil {
		return false, err
	}
	return slices.Equal(pa, pb), nil
}

// Sources implements masking.SourceResolver: SQLite's tables and views by
// name (an unqualified name is looked up in temp, then main, as SQLite
// does), with their columns and, for a view, its CREATE VIEW statement.
// Names are lower-case: SQLite compares them without regard to case.
// SQLite has no user-defined SQL functions and no relation identifiers a
// result reports, so Functions and OIDs get no answer.
func (s *SQLite) Sources(ctx context.Context, req masking.SourcesRequest) (masking.SourcesResponse, error) {
	resp := masking.SourcesResponse{ByName: map[masking.Name]masking.Relation{}}
	db, err := s.handle(true)
	if err != nil {
		return resp, err
	}
	for _, n := range req.Relations {
		schemas := []string{"temp", Schema}
		if n.Schema != "" {
			schemas = []string{strings.ToLower(n.Schema)}
		}
		for _, schema := range schemas {
			if schema != "temp" && schema != Schema {
				continue
			}
			rel, ok, err := s.relation(ctx, db, schema, n.Name)
			if err != nil {
				return resp, err
			}
			if ok {
				resp.ByName[n] = rel
				break
			}
		}
	}
	return resp, nil
}

// relation reads one table or view of schema ("main" or "temp").
func (s *SQLite) relation(ctx context.Context, db *sql.DB, schema, name string) (masking.Relation, bool, error) {
	q := `SELECT m.type, m.name, coalesce(m.sql, ''), p.name
FROM "` + schema + `".sqlite_schema m JOIN pragma_table_xinfo(m.name, ?1) p
WHERE m.type IN ('table', 'view') AND m.name = ?2 COLLATE NOCASE
ORDER BY p.cid`
	rs, err := db.QueryContext(ctx, q, schema, name)
	if err != nil {
		return masking.Relation{}, false, fmt.Errorf("look up %s.%s: %w", schema, name, mapError(ctx, err))
	}
	defer rs.Close()
	var rel masking.Relation
	found := false
	for rs.Next() {
		var kind, table, def, col string
		if err := rs.Scan(&kind, &table, &def, &col); err != nil {
			return masking.Relation{}, false, mapError(ctx, err)
		}
		if !found {
			found = true
			rel = masking.Relation{Schema: schema, Name: strings.ToLower(table), Kind: 'r'}
			rel.OID = s.relIDs.id(rel.Schema, rel.Name)
			if kind == "view" {
				rel.Kind, rel.Query = masking.KindView, def
			}
		}
		rel.Columns = append(rel.Columns, strings.ToLower(col))
	}
	if err := rs.Err(); err != nil {
		return masking.Relation{}, false, mapError(ctx, err)
	}
	return rel, found, nil
}

// relationIDs gives each relation a number for the life of the connector,
// as masking keys relations by one.
type relationIDs struct {
	mu   sync.Mutex
	next uint32
	ids  map[string]uint32
}

func (r *relationIDs) id(schema, name string) uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ids == nil {
		r.ids = map[string]uint32{}
	}
	k := schema + "." + name
	if id, ok := r.ids[k]; ok {
		return id
	}
	r.next++
	r.ids[k] = r.next
	return r.next
}

var _ masking.StatementReporter = (*SQLite)(nil)
