package postgres_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/internal/testenv"
	"github.com/wardenhq/warden/masking"
)

// TestSources: the catalog answers masking traces result columns with.
func TestSources(t *testing.T) {
	pg := testenv.PG(t)
	db := pg.CreateDatabase(t,
		"CREATE SCHEMA crm",
		"CREATE TABLE crm.customers (id int, gone text, ssn text)",
		"ALTER TABLE crm.customers DROP COLUMN gone",
		"CREATE VIEW public.ssns AS SELECT c.ssn AS social FROM crm.customers c",
		"CREATE TABLE people (id int, ssn text) PARTITION BY RANGE (id)",
		"CREATE TABLE people_a PARTITION OF people FOR VALUES FROM (0) TO (10)",
		"CREATE FUNCTION get_ssn(int) RETURNS text LANGUAGE sql STABLE AS 'SELECT ssn FROM crm.customers WHERE id = $1'",
	)
	cfg := connection(pg, db)
	cfg.MaxConnections = 1 // the catalog reads and the query below share one session
	c := open(t, cfg, slog.New(slog.DiscardHandler))
	res, ok := c.(masking.SourceResolver)
	if !ok {
		t.Fatal("the postgres connector is not a masking.SourceResolver")
	}
	ctx := context.Background()
	resp, err := res.Sources(ctx, masking.SourcesRequest{
		Relations: []masking.Name{{Schema: "crm", Name: "customers"}, {Name: "ssns"}, {Name: "people_a"}, {Name: "pg_class"}, {Name: "customers"}},
		Functions: []string{"get_ssn", "upper", "nope"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cust := resp.ByName[masking.Name{Schema: "crm", Name: "customers"}]
	if cust.OID == 0 || cust.Kind != 'r' || !slices.Equal(cust.Columns, []string{"id", "", "ssn"}) {
		t.Errorf("crm.customers = %+v", cust)
	}
	view := resp.ByName[masking.Name{Name: "ssns"}]
	if view.Kind != 'v' || view.Schema != "public" || !strings.Contains(view.Query, "crm.customers") {
		t.Errorf("ssns = %+v", view)
	}
	part := resp.ByName[masking.Name{Name: "people_a"}]
	if len(part.Ancestors) != 1 || part.Ancestors[0] != (masking.Name{Schema: "public", Name: "people"}) {
		t.Errorf("people_a = %+v", part)
	}
	if cls := resp.ByName[masking.Name{Name: "pg_class"}]; cls.Schema != "pg_catalog" {
		t.Errorf("pg_class = %+v", cls)
	}
	if _, ok := resp.ByName[masking.Name{Name: "customers"}]; ok {
		t.Error("unqualified customers resolved outside the search path")
	}
	if !resp.UserFunctions["get_ssn"] || resp.UserFunctions["upper"] || resp.UserFunctions["nope"] {
		t.Errorf("user functions = %v", resp.UserFunctions)
	}
	byOID, err := res.Sources(ctx, masking.SourcesRequest{OIDs: []uint32{cust.OID, view.OID, 1}})
	if err != nil {
		t.Fatal(err)
	}
	if len(byOID.ByOID) != 2 || byOID.ByOID[view.OID].Name != "ssns" {
		t.Errorf("by OID = %+v", byOID.ByOID)
	}
	// The empty search_path of the catalog reads did not outlive them.
	rows, err := c.Query(ctx, connectors.QueryRequest{SQL: "SELECT current_setting('search_path')", ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() || rows.Values()[0] != "public" {
		t.Errorf("search_path after the catalog reads = %v (%v)", rows.Values(), rows.Err())
	}
}
