package kubeclass

import "strings"

// Risks an object or a request can carry. A rule admits a part with
// risks only if its kubernetes: allow_risks names every one of them
// (policy.Part.Risks); statement.risks lists them in a `when`.
const (
	// RiskPrivileged: a privileged container (securityContext.privileged),
	// a Windows host process (windowsOptions.hostProcess), an unmasked
	// /proc (procMount: Unmasked), a device claimed with adminAccess, or
	// a Namespace whose Pod Security Admission label enforces less than
	// baseline.
	RiskPrivileged = "privileged"
	// RiskPrivilegeEscalation: allowPrivilegeEscalation: true.
	RiskPrivilegeEscalation = "privilege-escalation"
	// RiskHostPath: a hostPath volume (or a PersistentVolume's hostPath
	// or local path): the node's files; or a gitRepo volume, which runs
	// git on the node.
	RiskHostPath = "host-path"
	// RiskHostNetwork, RiskHostPID, RiskHostIPC: the node's network,
	// process and IPC namespaces.
	RiskHostNetwork = "host-network"
	RiskHostPID     = "host-pid"
	RiskHostIPC     = "host-ipc"
	// RiskHostPort: a container port bound on the node (hostPort).
	RiskHostPort = "host-port"
	// RiskCapabilities: Linux capabilities added (capabilities.add).
	RiskCapabilities = "capabilities"
	// RiskRunAsRoot: runAsUser or runAsGroup 0, or runAsNonRoot: false.
	RiskRunAsRoot = "run-as-root"
	// RiskUnconfined: a seccomp or AppArmor profile of type Unconfined
	// (or the annotations that say so), or an SELinux type that is not
	// confined (spc_t, unconfined_t).
	RiskUnconfined = "unconfined"
	// RiskTokenMount: a ServiceAccount token mounted on request
	// (automountServiceAccountToken: true, or a projected
	// serviceAccountToken volume).
	RiskTokenMount = "token-mount"
	// RiskServiceAccount: a pod that runs as a ServiceAccount other than
	// its namespace's default (serviceAccountName).
	RiskServiceAccount = "service-account"
	// RiskSecretRef: an object that reads a Secret by reference (an env
	// var's secretKeyRef, envFrom's secretRef, a secret volume, any field
	// named ...SecretRef, as CSI volumes and custom resources have):
	// whoever sees the pod's output or the controller's work sees the
	// Secret.
	RiskSecretRef = "secret-ref"
	// RiskNodeName: a pod pinned to a node past the scheduler (nodeName,
	// or a Binding).
	RiskNodeName = "node-name"
	// RiskExternalIP: a Service with externalIPs, or Endpoints and
	// EndpointSlices written: traffic sent to an address the caller
	// chooses.
	RiskExternalIP = "external-ip"
	// RiskIngressSnippet: an annotation whose key ends in -snippet (the
	// ingress-nginx configuration-snippet, server-snippet...): text the
	// ingress controller runs as its own configuration.
	RiskIngressSnippet = "ingress-snippet"
	// RiskSecret: a Secret written.
	RiskSecret = "secret"
	// RiskRBAC: an RBAC object (Role, ClusterRole, RoleBinding,
	// ClusterRoleBinding) written.
	RiskRBAC = "rbac"
	// RiskRBACWildcard: an RBAC rule with * in its verbs, resources, API
	// groups or non-resource URLs, or a ClusterRole that aggregates others.
	RiskRBACWildcard = "rbac-wildcard"
	// RiskRBACEscalate: an RBAC rule that grants escalate, bind or
	// impersonate, or a resource that yields other rights (pods/exec,
	// pods/attach, nodes/proxy, serviceaccounts/token,
	// certificatesigningrequests/approval); a binding to cluster-admin,
	// admin or edit, or to a system: group.
	RiskRBACEscalate = "rbac-escalate"
	// RiskWebhook: admission control written (a Validating or Mutating
	// WebhookConfiguration, an admission policy or its binding), or a
	// CustomResourceDefinition's conversion webhook.
	RiskWebhook = "webhook"
	// RiskCRD: a CustomResourceDefinition written.
	RiskCRD = "crd"
	// RiskAPIService: an APIService written (an aggregated API server
	// serves a part of the API).
	RiskAPIService = "apiservice"
	// RiskCertificates: a CertificateSigningRequest or its approval, or
	// a ClusterTrustBundle.
	RiskCertificates = "certificates"
	// RiskCustomResource: an object of a kind Kubernetes does not ship (a
	// custom resource), whose controller may do anything with it.
	RiskCustomResource = "custom-resource"
	// RiskExec: a command run in a container (pods/exec, attach,
	// portforward, ephemeralcontainers).
	RiskExec = "exec"
	// RiskProxy: a request proxied to a pod, service or node.
	RiskProxy = "proxy"
	// RiskToken: a ServiceAccount token requested (serviceaccounts/token),
	// or a Secret of type kubernetes.io/service-account-token, which the
	// cluster fills with a token that never expires.
	RiskToken = "token"
	// RiskImpersonate: the impersonate verb.
	RiskImpersonate = "impersonate"
)

// Risks lists every risk, in the order parts report them.
var Risks = []string{
	RiskPrivileged, RiskPrivilegeEscalation, RiskHostPath, RiskHostNetwork, RiskHostPID, RiskHostIPC, RiskHostPort,
	RiskCapabilities, RiskRunAsRoot, RiskUnconfined, RiskTokenMount, RiskServiceAccount, RiskSecretRef, RiskNodeName,
	RiskExternalIP, RiskIngressSnippet, RiskSecret, RiskRBAC, RiskRBACWildcard, RiskRBACEscalate, RiskWebhook, RiskCRD, RiskAPIService,
	RiskCertificates, RiskCustomResource, RiskExec, RiskProxy, RiskToken, RiskImpersonate,
}

// riskSet collects risks; list returns them in Risks' order.
type riskSet map[string]bool

func (s riskSet) list() []string {
	var out []string
	for _, r := range Risks {
		if s[r] {
			out = append(out, r)
		}
	}
	return out
}

// builtinGroups are the API groups Kubernetes itself serves; an object
// of any other group is a custom resource.
var builtinGroups = map[string]bool{
	"": true, "apps": true, "batch": true, "autoscaling": true, "policy": true,
	"admissionregistration.k8s.io": true, "apiextensions.k8s.io": true, "apiregistration.k8s.io": true,
	"authentication.k8s.io": true, "authorization.k8s.io": true, "certificates.k8s.io": true,
	"coordination.k8s.io": true, "discovery.k8s.io": true, "events.k8s.io": true,
	"flowcontrol.apiserver.k8s.io": true, "internal.apiserver.k8s.io": true, "networking.k8s.io": true,
	"node.k8s.io": true, "rbac.authorization.k8s.io": true, "resource.k8s.io": true,
	"scheduling.k8s.io": true, "storage.k8s.io": true, "storagemigration.k8s.io": true,
}

// kindRisks are the risks of writing any object of res.
func kindRisks(res Resource, s riskSet) {
	if !builtinGroups[res.Group] {
		s[RiskCustomResource] = true
	}
	switch res.Group + "/" + res.Resource {
	case "/secrets":
		s[RiskSecret] = true
	case "/bindings":
		s[RiskNodeName] = true
	case "/endpoints", "discovery.k8s.io/endpointslices":
		s[RiskExternalIP] = true
	case "rbac.authorization.k8s.io/roles", "rbac.authorization.k8s.io/clusterroles",
		"rbac.authorization.k8s.io/rolebindings", "rbac.authorization.k8s.io/clusterrolebindings":
		s[RiskRBAC] = true
	case "admissionregistration.k8s.io/validatingwebhookconfigurations", "admissionregistration.k8s.io/mutatingwebhookconfigurations",
		"admissionregistration.k8s.io/validatingadmissionpolicies", "admissionregistration.k8s.io/validatingadmissionpolicybindings",
		"admissionregistration.k8s.io/mutatingadmissionpolicies", "admissionregistration.k8s.io/mutatingadmissionpolicybindings":
		s[RiskWebhook] = true
	case "apiextensions.k8s.io/customresourcedefinitions":
		s[RiskCRD] = true
	case "apiregistration.k8s.io/apiservices":
		s[RiskAPIService] = true
	case "certificates.k8s.io/certificatesigningrequests", "certificates.k8s.io/clustertrustbundles":
		s[RiskCertificates] = true
	}
}

// subresourceRisks are the risks of any request on a subresource.
func subresourceRisks(subresource string, s riskSet) {
	switch subresource {
	case "exec", "attach", "portforward", "ephemeralcontainers":
		s[RiskExec] = true
	case "proxy":
		s[RiskProxy] = true
	case "token":
		s[RiskToken] = true
	case "binding":
		s[RiskNodeName] = true
	case "approval":
		s[RiskCertificates] = true
	}
}

// objectRisks are the risks of writing the object body of res.
func objectRisks(res Resource, body map[string]any) []string {
	s := riskSet{}
	kindRisks(res, s)
	switch res.Group + "/" + res.Resource {
	case "rbac.authorization.k8s.io/roles", "rbac.authorization.k8s.io/clusterroles":
		roleRisks(body, s)
	case "rbac.authorization.k8s.io/rolebindings", "rbac.authorization.k8s.io/clusterrolebindings":
		bindingRisks(body, s)
	case "apiextensions.k8s.io/customresourcedefinitions":
		if conv, ok := field(body, "spec", "conversion").(map[string]any); ok {
			if st, _ := foldGet(conv, "strategy").(string); !strings.EqualFold(st, "None") && st != "" || foldGet(conv, "webhook") != nil {
				s[RiskWebhook] = true
			}
		}
		// The schema names fields (privileged, hostPath...) without
		// setting them: it is not scanned.
		scan(withoutSchema(body), s)
		return s.list()
	}
	switch res.Group + "/" + res.Resource {
	case "/namespaces":
		// Pod Security Admission's labels: a namespace that enforces
		// less than baseline admits privileged pods.
		if labels, ok := field(body, "metadata", "labels").(map[string]any); ok {
			for k, v := range labels {
				if strings.HasPrefix(strings.ToLower(k), "pod-security.kubernetes.io/enforce") && !strings.HasSuffix(strings.ToLower(k), "-version") {
					if lvl, _ := v.(string); lvl != "baseline" && lvl != "restricted" {
						s[RiskPrivileged] = true
					}
				}
			}
		}
	case "/secrets":
		// A Secret of this type gets a token of the ServiceAccount it
		// names, minted by the cluster, that never expires.
		if typ, _ := foldGet(body, "type").(string); typ == "kubernetes.io/service-account-token" {
			s[RiskToken] = true
		}
	}
	top := body
	if res.Group == "" && (res.Resource == "configmaps" || res.Resource == "secrets") {
		// data values are opaque strings, their keys anyone's.
		top = map[string]any{}
		for k, v := range body {
			switch strings.ToLower(k) {
			case "data", "binarydata", "stringdata":
			default:
				top[k] = v
			}
		}
	}
	scan(top, s)
	return s.list()
}

// scan walks v for the fields of a pod spec (or anything else) that ask
// for host access or more rights, wherever they are: a pod template in a
// workload, a custom resource's embedded pod spec. Field names match
// whatever their case, since a decoder that folds case would read them.
// A field whose value is not the harmless one (false, absent, a non-root
// user) counts, whatever its type: fail closed.
func scan(v any, s riskSet) {
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			scan(e, s)
		}
	case map[string]any:
		for k, val := range t {
			switch foldKey(k) {
			case "labels", "matchlabels", "nodeselector":
				continue // string maps: anyone's keys
			case "annotations":
				annotationRisks(val, s)
				continue
			case "privileged", "hostprocess":
				if set(val) {
					s[RiskPrivileged] = true
				}
			case "procmount":
				if str, ok := val.(string); val != nil && (!ok || !strings.EqualFold(str, "Default") && str != "") {
					s[RiskPrivileged] = true
				}
			case "allowprivilegeescalation":
				if set(val) {
					s[RiskPrivilegeEscalation] = true
				}
			case "hostpath", "gitrepo":
				if val != nil {
					s[RiskHostPath] = true
				}
			case "adminaccess":
				if set(val) {
					s[RiskPrivileged] = true
				}
			case "local":
				if m, ok := val.(map[string]any); ok && foldGet(m, "path") != nil {
					s[RiskHostPath] = true
				}
			case "hostnetwork":
				if set(val) {
					s[RiskHostNetwork] = true
				}
			case "hostpid":
				if set(val) {
					s[RiskHostPID] = true
				}
			case "hostipc":
				if set(val) {
					s[RiskHostIPC] = true
				}
			case "hostport":
				if val != nil && !isZero(val) {
					s[RiskHostPort] = true
				}
			case "capabilities":
				if m, ok := val.(map[string]any); !ok && val != nil {
					s[RiskCapabilities] = true
				} else if add := foldGet(m, "add"); add != nil {
					if l, ok := add.([]any); !ok || len(l) > 0 {
						s[RiskCapabilities] = true
					}
				}
			case "runasuser", "runasgroup":
				if val != nil && !positive(val) {
					s[RiskRunAsRoot] = true
				}
			case "runasnonroot":
				if val != nil && val != true {
					s[RiskRunAsRoot] = true
				}
			case "seccompprofile", "apparmorprofile":
				if m, ok := val.(map[string]any); ok {
					if typ, _ := foldGet(m, "type").(string); strings.EqualFold(typ, "Unconfined") {
						s[RiskUnconfined] = true
					}
				}
			case "selinuxoptions":
				if m, ok := val.(map[string]any); ok {
					if typ, _ := foldGet(m, "type").(string); strings.Contains(typ, "spc_t") || strings.Contains(typ, "unconfined") {
						s[RiskUnconfined] = true
					}
				}
			case "automountserviceaccounttoken":
				if set(val) {
					s[RiskTokenMount] = true
				}
			case "serviceaccounttoken":
				if val != nil {
					s[RiskTokenMount] = true
				}
			case "serviceaccountname", "serviceaccount":
				if str, ok := val.(string); val != nil && (!ok || str != "" && str != "default") {
					s[RiskServiceAccount] = true
				}
			case "secret":
				if _, ok := val.(map[string]any); ok {
					s[RiskSecretRef] = true
				}
			default:
				// secretKeyRef, secretRef, and the CSI and storage
				// classes' nodePublishSecretRef, controllerExpandSecretRef...
				if lk := foldKey(k); (strings.HasSuffix(lk, "secretref") || strings.HasSuffix(lk, "secretkeyref")) && val != nil {
					s[RiskSecretRef] = true
				}
			case "nodename":
				if str, ok := val.(string); val != nil && (!ok || str != "") {
					s[RiskNodeName] = true
				}
			case "externalips":
				if l, ok := val.([]any); val != nil && (!ok || len(l) > 0) {
					s[RiskExternalIP] = true
				}
			}
			scan(val, s)
		}
	}
}

// annotationRisks reads the annotations that loosen a pod's confinement.
func annotationRisks(v any, s riskSet) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	for k, val := range m {
		k = foldKey(k)
		str, _ := val.(string)
		if strings.HasSuffix(k, "-snippet") || strings.HasSuffix(k, "-snippets") {
			s[RiskIngressSnippet] = true
		}
		if (strings.HasPrefix(k, "container.apparmor.security.beta.kubernetes.io/") || strings.HasPrefix(k, "seccomp.security.alpha.kubernetes.io/") ||
			strings.HasPrefix(k, "container.seccomp.security.alpha.kubernetes.io/")) && strings.Contains(strings.ToLower(str), "unconfined") {
			s[RiskUnconfined] = true
		}
	}
}

// roleRisks reads a Role's or ClusterRole's rules.
func roleRisks(body map[string]any, s riskSet) {
	if foldGet(body, "aggregationRule") != nil {
		s[RiskRBACWildcard] = true
	}
	rules, _ := foldGet(body, "rules").([]any)
	for _, r := range rules {
		rule, ok := r.(map[string]any)
		if !ok {
			continue
		}
		for _, f := range []string{"verbs", "resources", "apiGroups", "nonResourceURLs", "resourceNames"} {
			for _, e := range strings_(foldGet(rule, f)) {
				if strings.Contains(e, "*") && f != "resourceNames" {
					s[RiskRBACWildcard] = true
				}
				switch strings.ToLower(e) {
				case "escalate", "bind", "impersonate":
					if f == "verbs" {
						s[RiskRBACEscalate] = true
					}
				case "pods/exec", "pods/attach", "nodes/proxy", "serviceaccounts/token", "certificatesigningrequests/approval":
					if f == "resources" {
						s[RiskRBACEscalate] = true
					}
				}
			}
		}
	}
	scan(body, s)
}

// bindingRisks reads a RoleBinding's or ClusterRoleBinding's role and
// subjects.
func bindingRisks(body map[string]any, s riskSet) {
	if ref, ok := foldGet(body, "roleRef").(map[string]any); ok {
		name, _ := foldGet(ref, "name").(string)
		switch name {
		case "cluster-admin", "admin", "edit":
			s[RiskRBACEscalate] = true
		}
		if strings.HasPrefix(name, "system:") {
			s[RiskRBACEscalate] = true
		}
	}
	subjects, _ := foldGet(body, "subjects").([]any)
	for _, sub := range subjects {
		m, ok := sub.(map[string]any)
		if !ok {
			continue
		}
		name, _ := foldGet(m, "name").(string)
		if strings.HasPrefix(name, "system:") || strings.Contains(name, "*") {
			s[RiskRBACEscalate] = true
		}
	}
	scan(body, s)
}

// withoutSchema is a CustomResourceDefinition's body without its
// versions' schemas.
func withoutSchema(body map[string]any) map[string]any {
	spec, ok := foldGet(body, "spec").(map[string]any)
	if !ok {
		return body
	}
	out := map[string]any{}
	for k, v := range body {
		out[k] = v
	}
	sp := map[string]any{}
	for k, v := range spec {
		switch strings.ToLower(k) {
		case "validation":
			continue
		case "versions":
			var vs []any
			l, _ := v.([]any)
			for _, e := range l {
				if m, ok := e.(map[string]any); ok {
					c := map[string]any{}
					for k2, v2 := range m {
						if !strings.EqualFold(k2, "schema") {
							c[k2] = v2
						}
					}
					vs = append(vs, c)
				}
			}
			sp[k] = vs
			continue
		}
		sp[k] = v
	}
	out["spec"] = sp
	return out
}

// foldKey is k as a decoder that ignores case would match it: lower
// case, with the two letters encoding/json's folding also takes for
// ASCII ones (U+017F for s, the Kelvin sign for k).
func foldKey(k string) string {
	return strings.ToLower(jsonFolds.Replace(k))
}

var jsonFolds = strings.NewReplacer("\u017f", "s", "\u212a", "k")

// set reports whether a flag is anything but false or absent.
func set(v any) bool { return v != nil && v != false }

func isZero(v any) bool {
	switch n := v.(type) {
	case int64:
		return n == 0
	case uint64:
		return n == 0
	case float64:
		return n == 0
	}
	return false
}

func positive(v any) bool {
	switch n := v.(type) {
	case int64:
		return n > 0
	case uint64:
		return n > 0
	case float64:
		return n > 0
	}
	return false
}

// foldGet returns the value of key in m, whatever the case of m's key.
func foldGet(m map[string]any, key string) any {
	if v, ok := m[key]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}

// field walks nested mappings.
func field(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = foldGet(mm, p)
	}
	return v
}

// strings_ is v's string elements; a non-string element counts as "*"
// (fail closed).
func strings_(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		if s, ok := e.(string); ok {
			out = append(out, s)
		} else {
			out = append(out, "*")
		}
	}
	return out
}
