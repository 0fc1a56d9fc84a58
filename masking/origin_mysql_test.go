package masking_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/builtin"
	"github.com/wardenhq/warden/internal/testenv"
	"github.com/wardenhq/warden/masking"
)

// TestMySQLColumnOrigin: the origin a MySQL column definition reports
// (schema, org_table, org_name; the wire proxy passes it) adds to the
// statement's lineage. An output whose lineage is an unmasked column but
// whose reported origin is a masked one — directly or through a view — is
// masked; an origin the catalog does not know adds nothing, so lineage
// alone decides.
func TestMySQLColumnOrigin(t *testing.T) {
	m := testenv.MySQL(t)
	db := m.CreateDatabase(t, mysqlCorpusSchema...)
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "w.yaml"), []byte(fmt.Sprintf(mysqlCorpusConfig, m.Addr, db, m.User, m.PasswordFile)))
	if err != nil {
		t.Fatal(err)
	}
	conns, err := builtin.Registry().Open(context.Background(), cfg.Connections, connectors.OpenOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { connectors.CloseAll(conns) })
	engine, err := masking.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const value = "Ada Lovelace"
	for _, tt := range []struct {
		name   string
		origin masking.ColumnName
		masked bool
	}{
		{"no origin: lineage says name", masking.ColumnName{}, false},
		{"origin: the name column", masking.ColumnName{Schema: db, Table: "customers", Column: "name"}, false},
		{"origin: the ssn column", masking.ColumnName{Schema: db, Table: "customers", Column: "ssn"}, true},
		{"origin: ssn, as the server spells it", masking.ColumnName{Schema: db, Table: "customers", Column: "SSN"}, true},
		{"origin: a view's ssn", masking.ColumnName{Schema: db, Table: "customer_contacts", Column: "ssn"}, true},
		{"origin: a relation the catalog does not know", masking.ColumnName{Schema: db, Table: "nope", Column: "ssn"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rm, err := engine.For(context.Background(), masking.Request{Subject: "a", Groups: []string{"agents"}, Connection: "shop", Profile: "pii",
				SQL: "SELECT name AS n FROM customers", Columns: []masking.Column{{Name: "n", Type: "text", Origin: tt.origin}},
				Sources: conns["shop"].(masking.SourceResolver)})
			if err != nil {
				t.Fatal(err)
			}
			row := []any{value}
			rm.MaskRow(row)
			if masked := row[0] != value; masked != tt.masked {
				t.Fatalf("masked %v (%v), want %v", masked, row[0], tt.masked)
			}
		})
	}
}
