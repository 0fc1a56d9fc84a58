package config

import (
	"strings"
	"testing"
)

// TestKubernetesScopeConfig: a rule's kubernetes: key is decoded as
// written, with Kubernetes verbs as statements, read-only ones under
// read_only: true.
func TestKubernetesScopeConfig(t *testing.T) {
	cfg, err := Parse("w.yaml", []byte(`rules:
  - name: read
    effect: allow
    read_only: true
    statements: [get, list, watch]
    kubernetes: {namespaces: [dev, "team-*"], resources: ["*", pods/log]}
  - name: deploy
    effect: review
    read_only: false
    statements: [create, update, patch]
    kubernetes: {resources: [deployments.apps], allow_risks: [secret-ref, host-port]}
`))
	if err != nil {
		t.Fatal(err)
	}
	k := cfg.Rules[1].Kubernetes
	if cfg.Rules[0].Kubernetes.Namespaces[1] != "team-*" || k == nil || k.Resources[0] != "deployments.apps" || k.AllowRisks[1] != "host-port" {
		t.Errorf("kubernetes = %+v, %+v", cfg.Rules[0].Kubernetes, k)
	}
}

// TestKubernetesScopeErrors: each mistake in kubernetes: is reported.
func TestKubernetesScopeErrors(t *testing.T) {
	for _, tt := range []struct{ name, yaml, want string }{
		{"unknown risk", "rules:\n  - name: r\n    effect: allow\n    kubernetes: {allow_risks: [root]}\n", `rules[0].kubernetes.allow_risks: unknown risk "root"`},
		{"a kind, not a resource", "rules:\n  - name: r\n    effect: allow\n    kubernetes: {resources: [Deployment]}\n", `"Deployment": resources are lower-case plurals`},
		{"bad glob", "rules:\n  - name: r\n    effect: allow\n    kubernetes: {namespaces: [\"dev[\"]}\n", `rules[0].kubernetes.namespaces: "dev[": bad glob`},
		{"unknown key", "rules:\n  - name: r\n    effect: allow\n    kubernetes: {risks: [secret]}\n", `unknown key "risks"`},
		{"on a deny rule", "rules:\n  - name: r\n    effect: deny\n    kubernetes: {namespaces: [dev]}\n", "a deny rule takes no constraints"},
		{"write verb read-only", "rules:\n  - name: r\n    effect: allow\n    read_only: true\n    statements: [get, delete]\n", `read_only: true admits only read statements, but statements lists "delete"`},
		{"mask glob", "rules:\n  - name: r\n    effect: allow\n    kubernetes: {mask_configmap_keys: [password]}\n", `"password" is not a glob of namespace/name/key`},
		{"unknown verb", "rules:\n  - name: r\n    effect: allow\n    statements: [impersonate]\n", `unknown statement kind "impersonate"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("w.yaml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
}
