package kubeclass

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestRequestBody: the API proxy's writes, with their bodies, against the
// discovery snapshot's resources.
func TestRequestBody(t *testing.T) {
	tab := snapshotTable(t)
	res := func(name string) Resource {
		r, err := tab.ForName(name)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	const privPod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"x","securityContext":{"privileged":true}}]}}`
	for _, tt := range []struct {
		name, verb, resource, sub, ns, objName, media, body string
		risks                                               []string
		says                                                string // an error saying this; "" for none
	}{
		{"create a privileged pod", "create", "pods", "", "dev", "", "application/json", privPod, []string{RiskPrivileged}, ""},
		{"create in YAML", "create", "pods", "", "dev", "", "application/yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {hostPID: true}\n", []string{RiskHostPID}, ""},
		{"update a configmap", "update", "configmaps", "", "dev", "c", "application/json; charset=utf-8", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"privileged":"true"}}`, nil, ""},
		{"update another name", "update", "configmaps", "", "dev", "c", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d"}}`, nil, `the body names "d", and the request "c"`},
		{"create in another namespace", "create", "pods", "", "dev", "", "application/json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"kube-system"}}`, nil, "names the namespace kube-system"},
		{"a kind that is not the URL's", "create", "configmaps", "", "dev", "", "application/json", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}`, nil, "the body is a Secret"},
		{"two objects", "create", "pods", "", "dev", "", "application/yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\n", nil, "one object"},
		{"protobuf", "create", "pods", "", "dev", "", "application/vnd.kubernetes.protobuf", "k8s\x00", nil, "not application/vnd.kubernetes.protobuf"},
		{"a server-side apply", "patch", "deployments.apps", "", "dev", "web", MediaApplyPatch, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {template: {spec: {hostNetwork: true}}}\n", []string{RiskHostNetwork}, ""},
		{"a merge patch", "patch", "deployments.apps", "", "dev", "web", MediaMergePatch, `{"spec":{"template":{"spec":{"volumes":[{"name":"h","hostPath":{"path":"/"}}]}}}}`, []string{RiskHostPath}, ""},
		{"a strategic patch directive", "patch", "deployments.apps", "", "dev", "web", MediaStrategicPatch, `{"spec":{"template":{"spec":{"$retainKeys":["containers"]}}}}`, nil, "patch directive"},
		{"a merge patch with duplicate keys", "patch", "pods", "", "dev", "p", MediaMergePatch, `{"spec":{"hostPID":false,"hostPID":true}}`, nil, "duplicate key"},
		{"a JSON patch", "patch", "deployments.apps", "", "dev", "web", MediaJSONPatch, `[{"op":"test","path":"/metadata/name","value":"web"},{"op":"add","path":"/spec/template/spec/containers/0/securityContext","value":{"capabilities":{"add":["SYS_ADMIN"]}}}]`, []string{RiskCapabilities}, ""},
		{"a JSON patch by escaped pointer", "patch", "pods", "", "dev", "p", MediaJSONPatch, `[{"op":"replace","path":"/spec/host~0Network","value":true},{"op":"replace","path":"/spec/hostPID","value":true}]`, []string{RiskHostPID}, ""},
		{"a JSON patch that moves", "patch", "pods", "", "dev", "p", MediaJSONPatch, `[{"op":"move","from":"/metadata/annotations/x","path":"/spec/hostPID"}]`, nil, "writes a value the request does not hold"},
		{"a JSON patch of the RBAC rules", "patch", "clusterroles", "", "", "r", MediaJSONPatch, `[{"op":"add","path":"/rules/-","value":{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}}]`, []string{RiskRBAC, RiskRBACWildcard}, ""},
		{"a JSON patch of a binding's role", "patch", "rolebindings", "", "dev", "b", MediaJSONPatch, `[{"op":"replace","path":"/roleRef/name","value":"cluster-admin"}]`, []string{RiskRBAC, RiskRBACEscalate}, ""},
		{"a binding", "create", "pods", "binding", "dev", "p", "application/json", `{"apiVersion":"v1","kind":"Binding","metadata":{"name":"p"},"target":{"kind":"Node","name":"n1"}}`, []string{RiskNodeName}, ""},
		{"a status", "update", "deployments.apps", "status", "dev", "web", "application/json", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"status":{"replicas":1}}`, nil, ""},
		{"delete options", "delete", "pods", "", "dev", "p", "application/json", `{"propagationPolicy":"Foreground"}`, nil, ""},
		{"a body on a get", "get", "pods", "", "dev", "p", "application/json", `{}`, nil, "carries no body"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			send, f, err := RequestBody(tt.verb, res(tt.resource), tt.sub, tt.ns, tt.objName, tt.media, []byte(tt.body), tab)
			if tt.says != "" {
				if err == nil || !strings.Contains(err.Error(), tt.says) {
					t.Fatalf("error %v, want one saying %q", err, tt.says)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(f.Risks, tt.risks) {
				t.Errorf("risks %v, want %v", f.Risks, tt.risks)
			}
			if len(send) > 0 && !json.Valid(send) {
				t.Errorf("the body to send is not JSON: %s", send)
			}
			if f.ReadOnly || len(f.Written) != 1 {
				t.Errorf("facts %+v", f)
			}
		})
	}
}
