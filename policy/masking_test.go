package policy

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/wardenhq/warden/config"
)

// TestDecisionMasking: the deciding rule's masking profile travels with
// the decision; the default deny has none.
func TestDecisionMasking(t *testing.T) {
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "w.yaml"), []byte(`
connections:
  - {name: prod, kind: sqlite, path: p.db}
masking:
  profiles:
    pii: {detectors: [email]}
rules:
  - {name: agents, subjects: {groups: [agents]}, effect: allow, masking: pii}
  - {name: dba, subjects: {groups: [dba]}, effect: allow}
`))
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile(cfg, []string{"run_query"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ group, want string }{{"agents", "pii"}, {"dba", ""}, {"nobody", ""}} {
		d, err := e.Decide(context.Background(), Input{Subject: "x", Groups: []string{tt.group}, Connection: Connection{Name: "prod", Kind: "sqlite"}, Tool: "run_query"})
		if err != nil {
			t.Fatal(err)
		}
		if d.Masking != tt.want {
			t.Errorf("%s: masking = %q, want %q", tt.group, d.Masking, tt.want)
		}
	}
}
