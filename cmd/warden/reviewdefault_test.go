package main

import (
	"context"
	"testing"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/policy/kubeclass"
)

// TestDeleteReviewedByDefault: the binary compiles its policy with the
// tools held for review by default (kubectl_delete), so a rule that
// allows every tool in passing has a delete reviewed, and one that names
// kubectl_delete allows it.
func TestDeleteReviewedByDefault(t *testing.T) {
	cfg, err := config.Parse("w.yaml", []byte(`
rules:
  - {name: ops-delete, subjects: {identities: [ops]}, tools: [kubectl_delete], effect: allow, read_only: false}
  - {name: agents-anything, subjects: {identities: [agent]}, effect: allow, read_only: false}
`))
	if err != nil {
		t.Fatal(err)
	}
	e, err := compilePolicy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	facts := kubeclass.Request("delete", kubeclass.Resource{Version: "v1", Resource: "configmaps", Kind: "ConfigMap", Namespaced: true}, "", "dev", "x")
	for who, want := range map[string]policy.Effect{"agent": policy.Review, "ops": policy.Allow} {
		d, err := e.Decide(context.Background(), policy.Input{Subject: who, Tool: "kubectl_delete", Facts: facts})
		if err != nil || d.Effect != want {
			t.Errorf("%s: %s (%s), %v; want %s", who, d.Effect, d.Reason, err, want)
		}
	}
}
