package policy

import (
	"fmt"
	"path"
	"strings"

	"github.com/wardenhq/warden/config"
)

// expandKinds adds to a rule's statement kinds the Kubernetes verbs that
// read and write stand for (config.KubernetesReadVerbs and
// KubernetesWriteVerbs): a rule with the default kinds admits get, list
// and watch, and with read_only: false the writing verbs too.
func expandKinds(kinds []string) []string {
	out := append([]string{}, kinds...)
	for _, k := range kinds {
		switch k {
		case KindRead:
			out = append(out, config.KubernetesReadVerbs...)
		case KindWrite:
			out = append(out, config.KubernetesWriteVerbs...)
		}
	}
	return out
}

// kubeScope is a rule's kubernetes: key, compiled.
type kubeScope struct {
	namespaces []string // globs; empty: any, and the cluster scope
	resources  []string // globs; empty: any
}

func compileKubeScope(k *config.KubernetesScope) *kubeScope {
	if k == nil {
		return nil
	}
	return &kubeScope{namespaces: k.Namespaces, resources: k.Resources}
}

// hintRisks goes with a refusal for a risk the rule does not admit.
const hintRisks = "Remove from the object what it asks for (or ask an operator for a rule whose kubernetes: allow_risks names it)"

// admitKube checks a part's risks against the rule's allow_risks (for
// every rule: a risk is admitted only where it is named), and a
// Kubernetes part's resources against the rule's kubernetes: scope.
func (r *rule) admitKube(f *Facts, st Part) (ok bool, why, hint string) {
	for _, risk := range st.Risks {
		if !r.allowRisks.has(risk) {
			what := st.Tag
			if res := partResources(st); len(res) > 0 {
				what += " " + res[0].Text
			}
			return false, fmt.Sprintf("rule %q does not admit %s: it asks for %s, which the rule's kubernetes: allow_risks does not name", r.Name, what, risk), hintRisks
		}
	}
	if r.kube == nil || !f.Kubernetes {
		return true, "", ""
	}
	for _, res := range partResources(st) {
		if len(r.kube.namespaces) > 0 {
			if res.Namespace == "" {
				return false, fmt.Sprintf("rule %q admits only the namespaces %s, and %s is cluster-scoped or spans every namespace", r.Name, strings.Join(r.kube.namespaces, ", "), res.Text), ""
			}
			if !globMatch(r.kube.namespaces, res.Namespace) {
				return false, fmt.Sprintf("rule %q does not admit the namespace %s (it admits %s)", r.Name, res.Namespace, strings.Join(r.kube.namespaces, ", ")), ""
			}
		}
		if len(r.kube.resources) > 0 && !globMatch(r.kube.resources, res.Kind) {
			return false, fmt.Sprintf("rule %q does not admit %s (it admits %s)", r.Name, res.Kind, strings.Join(r.kube.resources, ", ")), ""
		}
	}
	return true, "", ""
}

func partResources(st Part) []Resource {
	return append(append([]Resource{}, st.Written...), st.Read...)
}

func globMatch(globs []string, s string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, s); ok {
			return true
		}
	}
	return false
}
