package kube

import (
	"path"

	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/policy"
)

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

// masks is what a call may not see of the objects it reads: Secret
// values unless its rule reveals them (kubernetes: reveal_secrets), and
// the ConfigMap keys its rule names (kubernetes: mask_configmap_keys,
// globs of namespace/name/key). The zero value masks every Secret value
// and no ConfigMap key: what diffs and the audit trail show.
type masks struct {
	revealSecrets bool
	configMapKeys []string
}

// masksOf is what decision d lets the call see.
func masksOf(d policy.Decision) masks {
	return masks{revealSecrets: d.RevealSecrets, configMapKeys: d.MaskConfigMapKeys}
}

// maskObject strips obj's noise and masks what m says: a Secret's values
// (a Secret by kind, or because the request was for secrets), a
// ConfigMap's named keys. It returns how many values it masked.
func maskObject(obj map[string]any, secrets, forDiff bool, m masks) int64 {
	stripNoise(obj, forDiff)
	core := obj["apiVersion"] == "v1" || obj["apiVersion"] == nil
	switch {
	case secrets || (obj["kind"] == "Secret" && core):
		if !m.revealSecrets {
			return maskSecret(obj)
		}
	case obj["kind"] == "ConfigMap" && core && len(m.configMapKeys) > 0:
		return maskConfigMapKeys(obj, m.configMapKeys)
	}
	return 0
}

// maskConfigMapKeys replaces the values of a ConfigMap's keys (in data
// and binaryData) whose namespace/name/key matches one of globs, and the
// last-applied copy of the object when it masked one.
func maskConfigMapKeys(obj map[string]any, globs []string) int64 {
	md, _ := obj["metadata"].(map[string]any)
	ns, _ := md["namespace"].(string)
	name, _ := md["name"].(string)
	var n int64
	for _, field := range []string{"data", "binaryData"} {
		data, ok := obj[field].(map[string]any)
		if !ok {
			continue
		}
		for k := range data {
			for _, g := range globs {
				if ok, _ := path.Match(g, ns+"/"+name+"/"+k); ok {
					data[k] = Masked
					n++
					break
				}
			}
		}
	}
	if n > 0 {
		if an, ok := md["annotations"].(map[string]any); ok {
			if _, ok := an[lastApplied]; ok {
				an[lastApplied] = Masked
				n++
			}
		}
	}
	return n
}
