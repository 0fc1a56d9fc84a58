package kubeclass

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/wardenhq/warden/policy"
)

func TestManifestObjects(t *testing.T) {
	tab := smallTable(t)
	objs, f, err := Manifest([]byte(`# two objects
apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  containers: [{name: c, image: x, securityContext: {privileged: true}}]
--- # the second
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: prod}
spec: {template: {spec: {hostNetwork: true, containers: [{name: c, image: x}]}}}
`), "dev", tab)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].Namespace != "dev" || objs[1].Namespace != "prod" || objs[1].Resource.Name() != "deployments.apps" {
		t.Fatalf("objects: %+v", objs)
	}
	if !slices.Equal(objs[0].Risks, []string{RiskPrivileged}) || !slices.Equal(objs[1].Risks, []string{RiskHostNetwork}) {
		t.Errorf("risks: %v, %v", objs[0].Risks, objs[1].Risks)
	}
	// Body is what is sent: the default namespace is written in.
	b, _ := json.Marshal(objs[0].Body)
	if !strings.Contains(string(b), `"namespace":"dev"`) {
		t.Errorf("body %s does not name its namespace", b)
	}
	if !f.Kubernetes || f.ReadOnly || !slices.Equal(f.Kinds, []string{"write", "create", "update"}) || len(f.Parts) != 2 ||
		!slices.Equal(f.Risks, []string{RiskPrivileged, RiskHostNetwork}) {
		t.Errorf("facts: %+v", f)
	}
	if len(f.Written) != 2 || f.Written[0].Text != "dev/pods/a" || f.Written[1].Kind != "deployments.apps" || f.Written[1].Namespace != "prod" {
		t.Errorf("written: %+v", f.Written)
	}
}

func TestManifestRefusals(t *testing.T) {
	tab := smallTable(t)
	for _, c := range []struct{ name, manifest, says string }{
		{"duplicate key", "apiVersion: v1\nkind: Pod\nmetadata: {name: a, name: b}\n", "duplicate key"},
		{"anchor", "apiVersion: v1\nkind: Pod\nmetadata: &m {name: a}\n", "anchor"},
		{"yaml 1.1 boolean", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {hostNetwork: yes}\n", "kubectl would read"},
		{"namespace on cluster kind", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, namespace: b}\n", "cluster-scoped"},
		{"json duplicate", `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}, "metadata": {"name": "b"}}`, "duplicate key"},
		{"unknown kind", "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\n", "no kind"},
		{"no name", "apiVersion: v1\nkind: Pod\nmetadata: {}\n", "no metadata.name"},
		{"empty", "# nothing\n---\n", "no object"},
	} {
		_, _, err := Manifest([]byte(c.manifest), "dev", tab)
		if err == nil || !strings.Contains(err.Error(), c.says) || !errors.Is(err, policy.ErrNotUnderstood) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.says)
		}
	}
}

func TestRequest(t *testing.T) {
	pods := Resource{Version: "v1", Resource: "pods", Kind: "Pod", Namespaced: true}
	f := Request("GET", pods, "", "dev", "")
	if !f.ReadOnly || !slices.Equal(f.Kinds, []string{"read", "get"}) || len(f.Read) != 1 || f.Read[0].Text != "dev/pods" || len(f.Risks) != 0 {
		t.Errorf("get pods: %+v", f)
	}
	f = Request("create", pods, "exec", "dev", "web")
	if f.ReadOnly || !slices.Equal(f.Risks, []string{RiskExec}) || f.Written[0].Kind != "pods/exec" || f.Written[0].Text != "dev/pods/web/exec" {
		t.Errorf("exec: %+v", f)
	}
	f = Request("get", pods, "log", "dev", "web")
	if !f.ReadOnly || f.Read[0].Kind != "pods/log" {
		t.Errorf("log: %+v", f)
	}
}
