package policy

import (
	"context"
	"strings"
	"testing"

	"github.com/wardenhq/warden/config"
)

// kubePart is one Kubernetes part of verbs on a resource, with risks.
func kubeFacts(verbs []string, kind, ns, name string, risks ...string) *Facts {
	r := Resource{Kind: kind, Namespace: ns, Name: name, Text: ns + "/" + kind + "/" + name}
	p := Part{Kind: verbs[len(verbs)-1], Kinds: verbs, Tag: "Thing", Risks: risks}
	f := &Facts{Kubernetes: true, Parts: []Part{p}, Kinds: verbs, Risks: risks}
	if len(verbs) == 1 && (verbs[0] == "get" || verbs[0] == "list" || verbs[0] == "watch") && len(risks) == 0 {
		f.Parts[0].Read, f.Read, f.ReadOnly = []Resource{r}, []Resource{r}, true
	} else {
		f.Parts[0].Written, f.Written = []Resource{r}, []Resource{r}
	}
	return f
}

func TestKubernetesRules(t *testing.T) {
	cfg, err := config.Parse("rules.yaml", []byte(`
rules:
  - name: read-dev
    tools: [kubectl_get]
    effect: allow
    kubernetes: {namespaces: [dev], resources: ["*"]}
  - name: get-only
    tools: [kubectl_logs]
    effect: allow
    statements: [get]
  - name: apply-dev
    tools: [kubectl_apply]
    effect: allow
    read_only: false
    kubernetes: {namespaces: ["dev*"], resources: [deployments.apps], allow_risks: [secret-ref]}
  - name: sql
    tools: [run_query]
    effect: allow
    kubernetes: {resources: [pods]}
  - name: generic
    tools: [kubectl_delete]
    effect: allow
    read_only: false
`))
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile(cfg, []string{"kubectl_get", "kubectl_logs", "kubectl_apply", "kubectl_delete", "run_query"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, tool string
		facts      *Facts
		effect     Effect
		says       string
	}{
		{"read in scope", "kubectl_get", kubeFacts([]string{"list"}, "pods", "dev", ""), Allow, ""},
		{"read: the default kinds admit get, list, watch", "kubectl_get", kubeFacts([]string{"watch"}, "deployments.apps", "dev", ""), Allow, ""},
		{"read across namespaces", "kubectl_get", kubeFacts([]string{"list"}, "pods", "", ""), Deny, "cluster-scoped or spans every namespace"},
		{"read another namespace", "kubectl_get", kubeFacts([]string{"get"}, "pods", "prod", "x"), Deny, "does not admit the namespace prod"},
		{"* is no subresource", "kubectl_get", kubeFacts([]string{"get"}, "pods/log", "dev", "x"), Deny, "does not admit pods/log"},
		{"a write through a read rule", "kubectl_get", kubeFacts([]string{"create"}, "pods", "dev", "x"), Deny, `admits only read statements; this Thing is a create`},
		{"statements: [get] admits get", "kubectl_logs", kubeFacts([]string{"get"}, "pods/log", "dev", "x"), Allow, ""},
		{"statements: [get] refuses list", "kubectl_logs", kubeFacts([]string{"list"}, "pods", "dev", ""), Deny, "admits only get statements"},
		{"apply in scope", "kubectl_apply", kubeFacts([]string{"create", "update"}, "deployments.apps", "dev-2", "web"), Allow, ""},
		{"apply with an admitted risk", "kubectl_apply", kubeFacts([]string{"create", "update"}, "deployments.apps", "dev", "web", "secret-ref"), Allow, ""},
		{"apply with a risk not named", "kubectl_apply", kubeFacts([]string{"create", "update"}, "deployments.apps", "dev", "web", "secret-ref", "privileged"), Deny, "asks for privileged"},
		{"apply another resource", "kubectl_apply", kubeFacts([]string{"create"}, "services", "dev", "web"), Deny, "does not admit services"},
		{"a kubernetes: rule refuses SQL", "run_query", &Facts{Parts: []Part{{Kind: "read", Kinds: []string{"read"}, Tag: "SELECT"}}, ReadOnly: true}, Deny, "admits only Kubernetes requests"},
		{"a rule without kubernetes: refuses risks too", "kubectl_delete", kubeFacts([]string{"delete"}, "secrets", "dev", "x", "secret"), Deny, "asks for secret"},
		{"and admits the rest", "kubectl_delete", kubeFacts([]string{"delete"}, "configmaps", "kube-system", "x"), Allow, ""},
		{"an unknown verb is never admitted", "kubectl_delete", kubeFacts([]string{"impersonate"}, "users", "", "admin"), Deny, "admits only read/write statements"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := e.Decide(context.Background(), Input{Subject: "a", Tool: tt.tool, Facts: tt.facts, Connection: Connection{Name: "c", Kind: "kubernetes"}})
			if err != nil {
				t.Fatal(err)
			}
			if d.Effect != tt.effect || !strings.Contains(d.Reason, tt.says) {
				t.Errorf("%s (%s), want %s saying %q", d.Effect, d.Reason, tt.effect, tt.says)
			}
		})
	}
}

// TestKubernetesCEL: statement.risks and the verb classes in
// statement.kinds reach a when.
func TestKubernetesCEL(t *testing.T) {
	cfg, err := config.Parse("rules.yaml", []byte(`
rules:
  - name: no-rbac
    when: "'rbac' in statement.risks"
    effect: deny
    message: no RBAC
  - name: writes-reviewed
    when: "'write' in statement.kinds && statement.written.all(r, r.namespace == 'dev')"
    effect: review
    read_only: false
    kubernetes: {allow_risks: [rbac]}
`))
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile(cfg, []string{"kubectl_apply"})
	if err != nil {
		t.Fatal(err)
	}
	f := kubeFacts([]string{"create"}, "roles.rbac.authorization.k8s.io", "dev", "r", "rbac")
	f.Kinds = []string{"write", "create"}
	if d, _ := e.Decide(context.Background(), Input{Tool: "kubectl_apply", Facts: f}); d.Effect != Deny || d.Reason != "no RBAC" {
		t.Errorf("rbac: %s %s", d.Effect, d.Reason)
	}
	f = kubeFacts([]string{"create"}, "configmaps", "dev", "c")
	f.Kinds = []string{"write", "create"}
	if d, _ := e.Decide(context.Background(), Input{Tool: "kubectl_apply", Facts: f}); d.Effect != Review {
		t.Errorf("configmap: %s %s", d.Effect, d.Reason)
	}
}

// TestReviewByDefault: a tool held by default is reviewed when a rule
// allows it in passing, allowed when the rule names it, and a deny or a
// review is untouched. The deciding rule's Secret and ConfigMap masking
// reaches the decision.
func TestReviewByDefault(t *testing.T) {
	cfg, err := config.Parse("rules.yaml", []byte(`
rules:
  - name: no-prod
    when: "statement.written.exists(r, r.namespace == 'prod')"
    effect: deny
  - name: ops-delete
    subjects: {identities: [ops]}
    tools: [kubectl_delete]
    effect: allow
    read_only: false
    kubernetes: {reveal_secrets: true, mask_configmap_keys: ["*/app/password"]}
  - name: agents-anything
    subjects: {identities: [agent]}
    effect: allow
    read_only: false
`))
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile(cfg, []string{"kubectl_delete", "kubectl_get"}, ReviewByDefault("kubectl_delete"))
	if err != nil {
		t.Fatal(err)
	}
	decide := func(who, tool, ns string) Decision {
		verb := "delete"
		if tool == "kubectl_get" {
			verb = "get"
		}
		d, err := e.Decide(context.Background(), Input{Subject: who, Tool: tool, Facts: kubeFacts([]string{verb}, "configmaps", ns, "x")})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := decide("agent", "kubectl_delete", "dev"); d.Effect != Review || !strings.Contains(d.Reason, "held for review by default") || d.Rule != "agents-anything" {
		t.Errorf("agent delete: %s %s %s", d.Effect, d.Rule, d.Reason)
	}
	if d := decide("agent", "kubectl_get", "dev"); d.Effect != Allow {
		t.Errorf("agent get: %s %s", d.Effect, d.Reason)
	}
	d := decide("ops", "kubectl_delete", "dev")
	if d.Effect != Allow || d.Rule != "ops-delete" || !d.RevealSecrets || len(d.MaskConfigMapKeys) != 1 {
		t.Errorf("ops delete: %+v", d)
	}
	if d := decide("ops", "kubectl_delete", "prod"); d.Effect != Deny {
		t.Errorf("ops delete in prod: %s %s", d.Effect, d.Reason)
	}
	if d := decide("agent", "kubectl_get", "dev"); d.RevealSecrets || d.MaskConfigMapKeys != nil {
		t.Errorf("agent get reveals: %+v", d)
	}
}
