package kube

import (
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/kubernetes/kubemask"
	"github.com/wardenhq/warden/policy"
)

// Masked is what a Secret's value reads as.
const Masked = kubemask.Masked

// isSecrets reports whether r is the core Secret resource.
func isSecrets(r connectors.KubeResource) bool { return r.Group == "" && r.Resource == "secrets" }

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

// masks is what a call may not see of the objects it reads (see
// kubemask.Masks). The zero value masks every Secret value and no
// ConfigMap key: what diffs and the audit trail show.
type masks = kubemask.Masks

// masksOf is what decision d lets the call see.
func masksOf(d policy.Decision) masks {
	return masks{RevealSecrets: d.RevealSecrets, ConfigMapKeys: d.MaskConfigMapKeys}
}

// maskObject strips obj's noise and masks what m says (kubemask.Object).
// It returns how many values it masked.
func maskObject(obj map[string]any, secrets, forDiff bool, m masks) int64 {
	stripNoise(obj, forDiff)
	return kubemask.Object(obj, secrets, m)
}
