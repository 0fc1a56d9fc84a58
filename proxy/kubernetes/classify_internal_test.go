package kubernetes

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	apirequest "k8s.io/apiserver/pkg/endpoints/request"

	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/policy/kubeclass"
)

const (
	mtApply     = "application/apply-patch+yaml"
	mtMerge     = "application/merge-patch+json"
	mtStrategic = "application/strategic-merge-patch+json"
	mtJSONPatch = "application/json-patch+json"
)

// bodyRequest is a write as parse leaves it for classifyBody, against
// the embedded discovery's resources.
func bodyRequest(t testing.TB, tab *kubeclass.Table, verb, resource, sub, ns, name string, body []byte) *request {
	t.Helper()
	r, err := tab.ForName(resource)
	if err != nil {
		t.Fatal(err)
	}
	return &request{info: &apirequest.RequestInfo{IsResourceRequest: true, Verb: verb, Resource: r.Resource, Subresource: sub, Namespace: ns, Name: name},
		res:  connectors.KubeResource{Group: r.Group, Version: r.Version, Resource: r.Resource, Kind: r.Kind, Namespaced: r.Namespaced},
		tool: "kubectl_apply", body: body}
}

// TestClassifyBody: the proxy's writes, with their bodies: what each
// asks for, and what is refused before anything is sent.
func TestClassifyBody(t *testing.T) {
	tab := kubeclass.Builtin()
	const privPod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"x","securityContext":{"privileged":true}}]}}`
	for _, tt := range []struct {
		name, verb, resource, sub, ns, objName, media, body string
		risks                                               []string
		says                                                string // a refusal saying this; "" for none
	}{
		{"create a privileged pod", "create", "pods", "", "dev", "", "application/json", privPod, []string{kubeclass.RiskPrivileged}, ""},
		{"create in YAML", "create", "pods", "", "dev", "", "application/yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {hostPID: true}\n", []string{kubeclass.RiskHostPID}, ""},
		{"update a configmap", "update", "configmaps", "", "dev", "c", "application/json; charset=utf-8", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"privileged":"true"}}`, nil, ""},
		{"YAML sent as JSON", "create", "pods", "", "dev", "", "application/json", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n", nil, "not JSON"},
		{"update another name", "update", "configmaps", "", "dev", "c", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d"}}`, nil, `names "d"`},
		{"create in another namespace", "create", "pods", "", "dev", "", "application/json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"kube-system"}}`, nil, "namespace"},
		{"a kind that is not the URL's", "create", "configmaps", "", "dev", "", "application/json", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}`, nil, "the body is a secrets"},
		{"two objects", "create", "pods", "", "dev", "", "application/yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\n", nil, "2 objects"},
		{"protobuf that does not decode", "create", "pods", "", "dev", "", "application/vnd.kubernetes.protobuf", "k8s\x00", nil, "the protobuf body"},
		{"a server-side apply", "patch", "deployments.apps", "", "dev", "web", mtApply, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {template: {spec: {hostNetwork: true}}}\n", []string{kubeclass.RiskHostNetwork}, ""},
		{"a merge patch", "patch", "deployments.apps", "", "dev", "web", mtMerge, `{"spec":{"template":{"spec":{"volumes":[{"name":"h","hostPath":{"path":"/"}}]}}}}`, []string{kubeclass.RiskHostPath}, ""},
		{"a strategic patch directive", "patch", "deployments.apps", "", "dev", "web", mtStrategic, `{"spec":{"template":{"spec":{"$frobnicate":["containers"]}}}}`, nil, "$frobnicate"},
		{"a merge patch with duplicate keys", "patch", "pods", "", "dev", "p", mtMerge, `{"spec":{"hostPID":false,"hostPID":true}}`, nil, "duplicate"},
		{"a JSON patch", "patch", "deployments.apps", "", "dev", "web", mtJSONPatch, `[{"op":"test","path":"/metadata/name","value":"web"},{"op":"add","path":"/spec/template/spec/containers/0/securityContext","value":{"capabilities":{"add":["SYS_ADMIN"]}}}]`, []string{kubeclass.RiskCapabilities}, ""},
		{"a JSON patch by escaped pointer", "patch", "pods", "", "dev", "p", mtJSONPatch, `[{"op":"replace","path":"/spec/host~0Network","value":true},{"op":"replace","path":"/spec/hostPID","value":true}]`, []string{kubeclass.RiskHostPID}, ""},
		{"a JSON patch that moves", "patch", "pods", "", "dev", "p", mtJSONPatch, `[{"op":"move","from":"/metadata/annotations/x","path":"/spec/hostPID"}]`, nil, "move copies"},
		{"a JSON patch of the RBAC rules", "patch", "clusterroles.rbac.authorization.k8s.io", "", "", "r", mtJSONPatch, `[{"op":"add","path":"/rules/-","value":{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}}]`, []string{kubeclass.RiskRBAC, kubeclass.RiskRBACWildcard}, ""},
		{"a JSON patch of a binding's role", "patch", "rolebindings.rbac.authorization.k8s.io", "", "dev", "b", mtJSONPatch, `[{"op":"replace","path":"/roleRef/name","value":"cluster-admin"}]`, []string{kubeclass.RiskRBAC, kubeclass.RiskRBACEscalate}, ""},
		{"a binding (the scheduler's)", "create", "pods", "binding", "dev", "p", "application/json", `{"apiVersion":"v1","kind":"Binding","metadata":{"name":"p"},"target":{"kind":"Node","name":"n1"}}`, nil, "not carried"},
		{"a status", "update", "deployments.apps", "status", "dev", "web", "application/json", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"status":{"replicas":1}}`, nil, "not carried"},
		{"a patch type Warden does not read", "patch", "pods", "", "dev", "p", "application/x-frobnicate", `{}`, nil, "not one Warden classifies"},
		{"a body on a get", "get", "pods", "", "dev", "p", "application/json", `{}`, nil, "carries no body"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := bodyRequest(t, tab, tt.verb, tt.resource, tt.sub, tt.ns, tt.objName, []byte(tt.body))
			f, rf := classifyBody(tab, req, tt.media)
			if tt.says != "" {
				if rf == nil || !strings.Contains(rf.msg, tt.says) {
					t.Fatalf("refusal %v, want one saying %q", rf, tt.says)
				}
				return
			}
			if rf != nil {
				t.Fatal(rf.msg)
			}
			if !slices.Equal(f.Risks, tt.risks) {
				t.Errorf("risks %v, want %v", f.Risks, tt.risks)
			}
			if f.ReadOnly || len(f.Written) != 1 || req.written == nil {
				t.Errorf("facts %+v, written %v", f, req.written)
			}
			// An object goes on as it was read, written anew as JSON.
			if tt.verb != "patch" || tt.media == mtApply {
				var sent map[string]any
				if err := json.Unmarshal(req.body, &sent); err != nil || sent["kind"] != req.written["kind"] ||
					(tt.media != mtApply && req.contentType != "application/json") {
					t.Errorf("sends %q as %q", req.body, req.contentType)
				}
			}
		})
	}
	// DeleteOptions: a JSON object, no facts of its own.
	req := bodyRequest(t, tab, "delete", "pods", "", "dev", "p", []byte(`{"propagationPolicy":"Foreground"}`))
	if f, rf := classifyBody(tab, req, "application/json"); f != nil || rf != nil {
		t.Errorf("delete options: %+v %v", f, rf)
	}
}

// FuzzClassifyBody feeds the proxy's classifier arbitrary write bodies of
// each media type: it must never panic, and a body it admits is one
// object of the request's kind, namespace and name, which is what is
// sent on.
func FuzzClassifyBody(f *testing.F) {
	tab := kubeclass.Builtin()
	medias := []string{"application/json", "application/yaml", mtApply, mtMerge, mtStrategic, mtJSONPatch}
	for i, b := range []string{
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"hostPID":true}}`,
		"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n",
		"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {hostNetwork: true}\n",
		`{"spec":{"hostPID":true}}`,
		`{"spec":{"template":{"spec":{"$patch":"replace"}}}}`,
		`[{"op":"add","path":"/spec/hostPID","value":true}]`,
	} {
		f.Add([]byte(b), uint8(i))
	}
	f.Fuzz(func(t *testing.T, body []byte, m uint8) {
		media := medias[int(m)%len(medias)]
		verb := "update"
		if media != "application/json" && media != "application/yaml" {
			verb = "patch"
		}
		req := bodyRequest(t, tab, verb, "pods", "", "dev", "p", body)
		facts, rf := classifyBody(tab, req, media)
		if rf != nil {
			return
		}
		if facts == nil || len(facts.Written) != 1 || req.written == nil {
			t.Fatalf("admitted %q (%s) with facts %+v, written %v", body, media, facts, req.written)
		}
		md, _ := req.written["metadata"].(map[string]any)
		if req.written["kind"] != "Pod" || md["name"] != "p" || md["namespace"] != "dev" {
			t.Fatalf("admitted %q (%s) as %v", body, media, req.written)
		}
		if media == "application/json" && !json.Valid(req.body) {
			t.Fatalf("sends %q", req.body)
		}
	})
}
