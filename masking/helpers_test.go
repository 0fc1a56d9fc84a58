package masking

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wardenhq/warden/config"
)

// fakeCatalog is a SourceResolver over a fixed set of relations: what the
// PostgreSQL connector answers, without a server.
type fakeCatalog struct {
	rels  []Relation
	funcs map[string]bool
	calls atomic.Int64
}

func (f *fakeCatalog) Sources(_ context.Context, req SourcesRequest) (SourcesResponse, error) {
	f.calls.Add(1)
	resp := SourcesResponse{ByOID: map[uint32]Relation{}, ByName: map[Name]Relation{}, UserFunctions: map[string]bool{}}
	for _, oid := range req.OIDs {
		for _, r := range f.rels {
			if r.OID == oid {
				resp.ByOID[oid] = r
			}
		}
	}
	for _, n := range req.Relations {
		for _, schema := range []string{"pg_catalog", "public"} {
			if n.Schema != "" {
				schema = n.Schema
			}
			found := false
			for _, r := range f.rels {
				if r.Schema == schema && r.Name == n.Name {
					resp.ByName[n] = r
					found = true
				}
			}
			if found || n.Schema != "" {
				break
			}
		}
	}
	for _, fn := range req.Functions {
		if f.funcs[fn] {
			resp.UserFunctions[fn] = true
		}
	}
	return resp, nil
}

// shop is the catalog the unit tests use.
func shop() *fakeCatalog {
	return &fakeCatalog{funcs: map[string]bool{"get_ssn": true}, rels: []Relation{
		{OID: 100, Schema: "public", Name: "customers", Kind: 'r', Columns: []string{"id", "name", "email", "ssn", "card_number", "notes", "", "salary"}},
		{OID: 101, Schema: "public", Name: "orders", Kind: 'r', Columns: []string{"id", "customer_id", "total", "note"}},
		{OID: 102, Schema: "public", Name: "customer_ssn", Kind: 'v', Columns: []string{"id", "ssn", "tail"},
			Query: " SELECT customers.id,\n    customers.ssn,\n    \"right\"(customers.ssn, 4) AS tail\n   FROM public.customers;"},
		{OID: 103, Schema: "public", Name: "customers_2024", Kind: 'r', Columns: []string{"id", "name", "email", "ssn"},
			Ancestors: []Name{{Schema: "public", Name: "customers"}}},
		{OID: 104, Schema: "public", Name: "over_view", Kind: 'v', Columns: []string{"x"},
			Query: "SELECT customer_ssn.ssn AS x FROM public.customer_ssn"},
		{OID: 11, Schema: "pg_catalog", Name: "pg_stats", Kind: 'v', Columns: []string{"schemaname", "tablename", "attname", "most_common_vals"}},
		{OID: 12, Schema: "pg_catalog", Name: "pg_class", Kind: 'r', Columns: []string{"oid", "relname"}},
	}}
}

// engine builds an Engine from a masking section (YAML under masking:).
func engine(t testing.TB, masking string) *Engine {
	t.Helper()
	text := fmt.Sprintf(`
connections:
  - {name: pg, kind: postgres, address: "127.0.0.1:5432", database: app, admin: {user: u, password_env: X}}
  - {name: lite, kind: sqlite, path: ./x.db}
masking:
%s
rules:
  - {name: r, effect: allow, masking: pii}
`, indent(masking, "  "))
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "w.yaml"), []byte(text))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, text)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func indent(s, pre string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pre + l
	}
	return strings.Join(lines, "\n")
}
