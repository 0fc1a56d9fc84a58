package kubeclass

import (
	"slices"
	"testing"

	"github.com/wardenhq/warden/config"
)

// TestRisksKnownToConfig: a rule's allow_risks can name exactly the risks
// the classifier reports.
func TestRisksKnownToConfig(t *testing.T) {
	if !slices.Equal(Risks, config.KubernetesRisks) {
		t.Errorf("kubeclass.Risks %v\n!= config.KubernetesRisks %v", Risks, config.KubernetesRisks)
	}
	if !slices.Equal(verbOrder, config.KubernetesVerbs) {
		t.Errorf("verbs %v != config.KubernetesVerbs %v", verbOrder, config.KubernetesVerbs)
	}
}

// TestRequestRisks: what a single request asks for, by verb and
// subresource, with the discovery snapshot's resources.
func TestRequestRisks(t *testing.T) {
	tab := snapshotTable(t)
	for _, tt := range []struct {
		verb, resource, sub, ns string
		risks                   []string
		readOnly                bool
	}{
		{"get", "secrets", "", "dev", nil, true},
		{"list", "clusterroles", "", "", nil, true},
		{"create", "secrets", "", "dev", []string{RiskSecret}, false},
		{"patch", "clusterrolebindings", "", "", []string{RiskRBAC}, false},
		{"delete", "validatingwebhookconfigurations", "", "", []string{RiskWebhook}, false},
		{"update", "crd", "", "", []string{RiskCRD}, false},
		{"get", "pods", "log", "dev", nil, true},
		{"get", "pods", "exec", "dev", []string{RiskExec}, false},
		{"create", "pods", "attach", "dev", []string{RiskExec}, false},
		{"create", "pods", "portforward", "dev", []string{RiskExec}, false},
		{"patch", "pods", "ephemeralcontainers", "dev", []string{RiskExec}, false},
		{"get", "nodes", "proxy", "", []string{RiskProxy}, false},
		{"get", "services", "proxy", "dev", []string{RiskProxy}, false},
		{"create", "serviceaccounts", "token", "dev", []string{RiskToken}, false},
		{"update", "csr", "approval", "", []string{RiskCertificates}, false},
		{"create", "pods", "binding", "dev", []string{RiskNodeName}, false},
		{"impersonate", "serviceaccounts", "", "dev", []string{RiskImpersonate}, false},
		{"escalate", "clusterroles", "", "", []string{RiskRBAC, RiskRBACEscalate}, false},
		{"patch", "deployments", "scale", "dev", nil, false},
	} {
		res, err := tab.ForName(tt.resource)
		if err != nil {
			t.Fatal(err)
		}
		f := Request(tt.verb, res, tt.sub, tt.ns, "x")
		if !slices.Equal(f.Risks, tt.risks) || f.ReadOnly != tt.readOnly {
			t.Errorf("%s %s/%s: risks %v read-only %v, want %v %v", tt.verb, tt.resource, tt.sub, f.Risks, f.ReadOnly, tt.risks, tt.readOnly)
		}
	}
}

// TestApplyFacts: the connector narrows create-or-update to what the
// cluster says.
func TestApplyFacts(t *testing.T) {
	objs, f, err := Manifest([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: b-}\n"), "dev", snapshotTable(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.Parts[0].Kinds, []string{"create", "update"}) || !slices.Equal(f.Parts[1].Kinds, []string{"create"}) || f.Written[1].Text != "dev/configmaps/b-*" {
		t.Errorf("manifest facts: %+v", f)
	}
	g := ApplyFacts(objs, []string{"update", ""})
	if !slices.Equal(g.Parts[0].Kinds, []string{"update"}) || !slices.Equal(g.Kinds, []string{"write", "create", "update"}) {
		t.Errorf("narrowed facts: %+v", g)
	}
}
