package policy_test

import (
	"context"
	"testing"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors/builtin"
	"github.com/wardenhq/warden/policy"
)

// TestGoldenDecisions runs testdata/decisions.yaml against
// testdata/warden.yaml, as `warden policy test` would.
func TestGoldenDecisions(t *testing.T) {
	cfg, err := config.Load("testdata/warden.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e, err := policy.Compile(cfg, []string{"run_query", "describe_schema", "list_connections", "exec_ssh"})
	if err != nil {
		t.Fatal(err)
	}
	tf, err := policy.LoadTests("testdata/decisions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	results := policy.RunTests(context.Background(), e, cfg, builtin.Registry().Classifiers, tf)
	if len(results) < 25 {
		t.Fatalf("only %d golden cases ran", len(results))
	}
	for _, r := range results {
		if !r.Pass {
			t.Errorf("%s: %v", r.Name, r.Problems)
		}
	}
}
