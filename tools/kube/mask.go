package kube

import "github.com/wardenhq/warden/connectors"

// Masked is what a Secret's value reads as.
const Masked = "***"

// lastApplied is the annotation kubectl apply (client-side) keeps a copy
// of the whole object in: a Secret's values too.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// isSecrets reports whether r is the core Secret resource.
func isSecrets(r connectors.KubeResource) bool { return r.Group == "" && r.Resource == "secrets" }

// maskSecret replaces, in a Secret object, every value of data and
// stringData by Masked (the keys stay), and the last-applied copy of the
// object. It returns how many values it masked.
func maskSecret(obj map[string]any) int64 {
	var n int64
	for _, field := range []string{"data", "stringData"} {
		if m, ok := obj[field].(map[string]any); ok {
			for k := range m {
				m[k] = Masked
				n++
			}
		}
	}
	if md, ok := obj["metadata"].(map[string]any); ok {
		if an, ok := md["annotations"].(map[string]any); ok {
			if _, ok := an[lastApplied]; ok {
				an[lastApplied] = Masked
				n++
			}
		}
	}
	return n
}

// stripNoise removes what kubectl get -o yaml hides (managedFields), and
// what a diff must not show as a change: resourceVersion, uid,
// generation, creationTimestamp and status when forDiff.
func stripNoise(obj map[string]any, forDiff bool) {
	md, _ := obj["metadata"].(map[string]any)
	if md != nil {
		delete(md, "managedFields")
	}
	if !forDiff {
		return
	}
	if md != nil {
		for _, k := range []string{"resourceVersion", "uid", "generation", "creationTimestamp"} {
			delete(md, k)
		}
	}
	delete(obj, "status")
}

// maskObject masks obj when it is a Secret (by kind, or because the
// request was for secrets) and strips its noise.
func maskObject(obj map[string]any, secrets, forDiff bool) int64 {
	stripNoise(obj, forDiff)
	if secrets || (obj["kind"] == "Secret" && (obj["apiVersion"] == "v1" || obj["apiVersion"] == nil)) {
		return maskSecret(obj)
	}
	return 0
}
