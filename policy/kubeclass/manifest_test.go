package kubeclass

import (
	"encoding/json"
	"errors"
	"fmt"
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

// TestErrorsKeepValuesOut: a refused manifest's error names where and
// why, never a value (a Secret's data).
func TestErrorsKeepValuesOut(t *testing.T) {
	const secret = "hunter2-SECRET"
	for _, m := range []string{
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: " + secret + ", password: x}\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: x, password: " + secret + "}\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: \"" + secret + "}\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: " + secret + ", on: yes}\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n--- " + secret + "\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: &a " + secret + "}\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: !!binary " + secret + "}\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: " + secret + "}\nstatus: {x: 1}\n",
		`{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"password": "` + secret + `", "password": "x"}}`,
		`{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}} "` + secret + `"`,
		`{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"password": "` + secret + `"}`,
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: " + secret + "}\ndata: {k: \"\x01\"}\n",
	} {
		_, _, err := Manifest([]byte(m), "dev", snapshotTable(t))
		if err == nil {
			t.Errorf("%q: accepted", m)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error shows the value: %v", err)
		}
	}
}

// TestRiskFieldsFolded: a risky field is found whatever its case,
// including the letters encoding/json's folding maps to ASCII.
func TestRiskFieldsFolded(t *testing.T) {
	for key, risk := range map[string]string{
		"HOSTNETWORK": RiskHostNetwork, "ho\u017ftPID": RiskHostPID, "hostIPC": RiskHostIPC,
		"\u212aind_of": "", "hostnetwork": RiskHostNetwork,
	} {
		m := "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {\"" + key + "\": true, containers: [{name: c, image: x}]}\n"
		objs, _, err := Manifest([]byte(m), "dev", snapshotTable(t))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		want := []string{}
		if risk != "" {
			want = []string{risk}
		}
		if got := objs[0].Risks; !slices.Equal(append([]string{}, got...), want) {
			t.Errorf("%s: risks %v, want %v", key, got, want)
		}
	}
}

// TestDeviceAdminAccess: a ResourceClaim that asks for a device with
// admin access is privileged.
func TestDeviceAdminAccess(t *testing.T) {
	objs, _, err := Manifest([]byte(`apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: gpu}
spec:
  devices:
    requests: [{name: gpu, exactly: {deviceClassName: gpu.example.com, adminAccess: true}}]
`), "dev", snapshotTable(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(objs[0].Risks, []string{RiskPrivileged}) {
		t.Errorf("risks %v", objs[0].Risks)
	}
}

// TestLimits: what is too long, too deep or too many is refused, in
// time.
func TestLimits(t *testing.T) {
	var many strings.Builder
	for i := 0; i <= MaxObjects; i++ {
		fmt.Fprintf(&many, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c%d}\n", i)
	}
	for name, c := range map[string]struct{ manifest, says string }{
		"deep YAML":     {"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n", "nested deeper than 100"},
		"deeper YAML":   {"a: " + strings.Repeat("[", 1<<20) + strings.Repeat("]", 1<<20), "exceeded max depth"},
		"deep JSON":     {`{"apiVersion": "v1", "data": ` + strings.Repeat("[", 1<<20) + strings.Repeat("]", 1<<20) + "}", "nested deeper than 100"},
		"too long":      {"a: " + strings.Repeat("x", MaxManifestBytes), "longer than the limit"},
		"too many":      {many.String(), "more than 256 objects"},
		"invalid UTF-8": {"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: \"\xff\"}\n", "invalid UTF-8"},
		"a BOM":         {"\ufeffapiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", "U+FEFF"},
	} {
		_, _, err := Manifest([]byte(c.manifest), "dev", snapshotTable(t))
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.says)
		}
	}
}
