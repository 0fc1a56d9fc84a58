package config

import (
	"fmt"
	"path"
	"strings"
)

// KubernetesScope is a rule's kubernetes: key.
type KubernetesScope struct {
	// Namespaces are globs of the namespaces the rule admits objects and
	// requests in. Set, it admits no cluster-scoped object and no request
	// across every namespace; empty, any namespace and the cluster scope.
	Namespaces []string `yaml:"namespaces"`
	// Resources are globs of the resources the rule admits, as policy
	// names them: the plural, with the group unless it is the core group
	// ("pods", "deployments.apps", "*.apps", "pods/log"). "*" does not
	// match a subresource: list "pods/*" or "pods/log". Empty: any.
	Resources []string `yaml:"resources"`
	// AllowRisks are the risks (privileged, host-path, rbac, ...) the
	// rule admits; a request or object with a risk it does not name is
	// not admitted. Empty: none.
	AllowRisks []string `yaml:"allow_risks"`
	// RevealSecrets lets the calls the rule admits see Secret values
	// (kubectl_get, an apply's diff); by default they are masked as ***.
	RevealSecrets bool `yaml:"reveal_secrets"`
	// MaskConfigMapKeys are globs of namespace/name/key of the ConfigMap
	// keys whose values are masked as *** in what the calls the rule
	// admits see ("*/app-config/password", "prod/*/*token*").
	MaskConfigMapKeys []string `yaml:"mask_configmap_keys"`
}

// KubernetesReadVerbs are the verbs read stands for in a rule's
// statements: the Kubernetes verbs that only read.
var KubernetesReadVerbs = []string{"get", "list", "watch"}

// KubernetesWriteVerbs are the verbs write stands for.
var KubernetesWriteVerbs = []string{"create", "update", "patch", "delete", "deletecollection"}

// KubernetesVerbs are the Kubernetes verbs a rule's statements may list.
// Other verbs (impersonate, escalate, bind, use, approve) are never
// admitted.
var KubernetesVerbs = append(append([]string{}, KubernetesReadVerbs...), KubernetesWriteVerbs...)

// KubernetesRisks are the risks a rule's kubernetes: allow_risks may
// name, as policy/kubeclass reports them.
var KubernetesRisks = []string{
	"privileged", "privilege-escalation", "host-path", "host-network", "host-pid", "host-ipc", "host-port",
	"capabilities", "run-as-root", "unconfined", "token-mount", "service-account", "secret-ref", "node-name",
	"external-ip", "ingress-snippet", "secret", "rbac", "rbac-wildcard", "rbac-escalate", "webhook", "crd", "apiservice",
	"certificates", "custom-resource", "exec", "proxy", "token", "impersonate",
}

// validateKubernetesScope checks a rule's kubernetes: key.
func (c *Config) validateKubernetesScope(p, label string, r *Rule) Errors {
	k := r.Kubernetes
	if k == nil {
		return nil
	}
	var errs Errors
	add := func(path, format string, args ...any) { errs = append(errs, c.Errorf(path, format, args...)) }
	p += ".kubernetes"
	for j, g := range k.Namespaces {
		if err := checkGlob(g); err != nil {
			add(fmt.Sprintf("%s.namespaces[%d]", p, j), "%s.kubernetes.namespaces: %q: %v", label, g, err)
		}
	}
	for j, g := range k.Resources {
		if err := checkGlob(g); err != nil {
			add(fmt.Sprintf("%s.resources[%d]", p, j), "%s.kubernetes.resources: %q: %v", label, g, err)
		} else if g != strings.ToLower(g) {
			add(fmt.Sprintf("%s.resources[%d]", p, j), "%s.kubernetes.resources: %q: resources are lower-case plurals (pods, deployments.apps), not kinds", label, g)
		}
	}
	for j, g := range k.MaskConfigMapKeys {
		if err := checkGlob(g); err != nil || strings.Count(g, "/") != 2 {
			add(fmt.Sprintf("%s.mask_configmap_keys[%d]", p, j), "%s.kubernetes.mask_configmap_keys: %q is not a glob of namespace/name/key", label, g)
		}
	}
	for j, risk := range k.AllowRisks {
		if !contains(KubernetesRisks, risk) {
			add(fmt.Sprintf("%s.allow_risks[%d]", p, j), "%s.kubernetes.allow_risks: unknown risk %q (expected %s)", label, risk, strings.Join(KubernetesRisks, ", "))
		}
	}
	return errs
}

func checkGlob(g string) error {
	if strings.TrimSpace(g) == "" {
		return fmt.Errorf("empty pattern")
	}
	if _, err := path.Match(g, ""); err != nil {
		return fmt.Errorf("bad glob: %v", err)
	}
	return nil
}
