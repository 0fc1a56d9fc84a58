package kubernetes

import (
	"slices"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/policy/kubeclass"
)

// BuiltinDiscovery names the discovery OfflineClassifier resolves kinds
// with, as `warden policy explain` and `policy test` report it.
const BuiltinDiscovery = "built-in Kubernetes " + kubeclass.BuiltinVersion + " discovery (no custom resources; the cluster was not asked)"

// OfflineClassifier is the classifier of a configured connection without
// its cluster (warden policy explain and test): kubectl_apply's manifests
// classified by policy/kubeclass with the embedded discovery of a
// Kubernetes kubeclass.BuiltinVersion API server (kubeclass.Builtin), so a
// custom resource's kind is refused as unknown. Objects that name no
// namespace go where kubectl_apply sends them: "default" when the
// connection lists it, else the first namespace it lists.
func OfflineClassifier(cfg config.Connection) policy.Classifier {
	return offline{kubeclass.NewClassifier(kubeclass.Builtin(), defaultNamespace(cfg.Kube.Namespaces))}
}

type offline struct{ *kubeclass.Classifier }

// Discovery says which discovery resolved the kinds.
func (offline) Discovery() string { return BuiltinDiscovery }

// defaultNamespace is tools/kube's defaultNamespace over the configured
// namespaces.
func defaultNamespace(ns []string) string {
	if len(ns) == 0 || slices.Contains(ns, "default") {
		return "default"
	}
	return ns[0]
}
