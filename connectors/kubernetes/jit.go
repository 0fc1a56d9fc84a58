package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/policy"
)

// Labels on every object minted for a lease.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelLease     = "warden.dev/lease"
)

var leasePattern = regexp.MustCompile(`^[a-z0-9]{6,40}$`)

// grantable are the verbs a minted Role may hold: never "*", escalate,
// bind or impersonate.
var grantable = map[string]bool{"get": true, "list": true, "watch": true, "create": true, "update": true,
	"patch": true, "delete": true, "deletecollection": true}

var readVerbs = map[string]bool{"get": true, "list": true, "watch": true}

// rbacName is a resource, group or object name a rule may carry.
var rbacName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

// Grants implements connectors.Credentialer: a Kubernetes credential is
// always scoped to its operation (ScopedGrants); a decision alone grants
// nothing.
func (c *Kubernetes) Grants(d policy.Decision) (connectors.Grants, error) {
	return nil, fmt.Errorf("kubernetes: connection %q mints a credential only for an operation's exact verbs, resources and namespaces (rule %q gives none)", c.info.Name, d.Rule)
}

// ScopedGrants implements connectors.ScopedGranter: need's rules, each
// checked: a verb Warden may grant (read verbs only when the decision is
// read-only), an exact resource and group, a namespace the connection
// lists (or cluster scope), never the session namespace.
func (c *Kubernetes) ScopedGrants(d policy.Decision, need connectors.Grants) (connectors.Grants, error) {
	g, ok := need.(connectors.KubeGrants)
	if !ok {
		return nil, fmt.Errorf("kubernetes: grants of type %T are not a cluster's", need)
	}
	if len(g.Rules) == 0 {
		return nil, errors.New("kubernetes: the operation needs no permission")
	}
	out := connectors.KubeGrants{}
	for _, r := range g.Rules {
		if err := c.checkRule(d, r); err != nil {
			return nil, err
		}
		r.Verbs = slices.Clone(r.Verbs)
		sort.Strings(r.Verbs)
		r.Names = slices.Clone(r.Names)
		sort.Strings(r.Names)
		out.Rules = append(out.Rules, r)
	}
	sort.Slice(out.Rules, func(i, j int) bool { return ruleKey(out.Rules[i]) < ruleKey(out.Rules[j]) })
	return out, nil
}

func ruleKey(r connectors.KubeRule) string {
	return r.Namespace + "\x00" + r.Group + "\x00" + r.Resource + "\x00" + strings.Join(r.Verbs, ",") + "\x00" + strings.Join(r.Names, ",")
}

func (c *Kubernetes) checkRule(d policy.Decision, r connectors.KubeRule) error {
	if len(r.Verbs) == 0 {
		return fmt.Errorf("kubernetes: a rule on %s names no verb", r.Resource)
	}
	for _, v := range r.Verbs {
		if !grantable[v] {
			return fmt.Errorf("kubernetes: verb %q is never granted", v)
		}
		if d.ReadOnly && !readVerbs[v] {
			return fmt.Errorf("kubernetes: rule %q is read-only and %s %s is not a read", d.Rule, v, r.Resource)
		}
	}
	res, sub, _ := strings.Cut(r.Resource, "/")
	if !rbacName.MatchString(res) || (sub != "" && !rbacName.MatchString(sub)) || (r.Group != "" && !rbacName.MatchString(r.Group)) {
		return fmt.Errorf("kubernetes: %q in group %q is not an exact resource", r.Resource, r.Group)
	}
	for _, n := range r.Names {
		if n == "" || strings.ContainsAny(n, "*/") {
			return fmt.Errorf("kubernetes: %q is not an object name", n)
		}
	}
	switch {
	case r.Namespace == "":
		// Cluster scope: a ClusterRole, for cluster-scoped resources only
		// (never a namespaced resource in every namespace).
		name := res
		if r.Group != "" {
			name += "." + r.Group
		}
		kr, err := c.ResolveName(context.Background(), name)
		if err != nil {
			return fmt.Errorf("kubernetes: a cluster-wide grant of %s: %w", name, err)
		}
		if kr.Namespaced {
			return fmt.Errorf("kubernetes: %s are namespaced: a grant across every namespace is never made", name)
		}
	case r.Namespace == c.sessionNS:
		return fmt.Errorf("kubernetes: namespace %q holds Warden's session accounts and is never granted", r.Namespace)
	case !slices.Contains(c.namespaces, r.Namespace):
		return fmt.Errorf("kubernetes: namespace %q is not one connection %q may grant (%s)", r.Namespace, c.info.Name, strings.Join(c.namespaces, ", "))
	}
	return nil
}

// Principal implements connectors.Credentialer: the ServiceAccount's name,
// warden-<lease>, in the session namespace; its Roles, bindings and
// owner ClusterRole have the same name.
func (c *Kubernetes) Principal(lease string) string { return "warden-" + lease }

// subject is the ServiceAccount's user name as RBAC sees it.
func (c *Kubernetes) subject(name string) string {
	return "system:serviceaccount:" + c.sessionNS + ":" + name
}

// Mint implements connectors.Credentialer. The owner, an empty
// ClusterRole (or the cluster-scoped rules, when there are some), is
// created first; then the ServiceAccount, a Role and RoleBinding per
// namespace, a ClusterRoleBinding for cluster-scoped rules, all owned by
// it; then a token from TokenRequest, valid for the TTL (at least 600 s).
// Mint returns only once the API server authorizes the token for every
// rule (RBAC's caches catch up within milliseconds).
func (c *Kubernetes) Mint(ctx context.Context, req connectors.MintRequest) (connectors.MintResponse, error) {
	if c.isClosed() {
		return connectors.MintResponse{}, connectors.ErrClosed
	}
	if !leasePattern.MatchString(req.Lease) {
		return connectors.MintResponse{}, fmt.Errorf("kubernetes: mint: bad lease id %q", req.Lease)
	}
	g, ok := req.Grants.(connectors.KubeGrants)
	if !ok || len(g.Rules) == 0 {
		return connectors.MintResponse{}, fmt.Errorf("kubernetes: mint: grants of type %T are not a cluster's", req.Grants)
	}
	name := c.Principal(req.Lease)
	ttl := int64(req.TTL.Seconds())
	if ttl < 600 {
		ttl = max(c.ttl, 600)
	}
	if err := c.ensureSessionNamespace(ctx); err != nil {
		return connectors.MintResponse{}, err
	}
	labels := map[string]string{LabelManagedBy: "warden", LabelLease: req.Lease}
	meta := func(ns string, owner *metav1.OwnerReference) metav1.ObjectMeta {
		m := metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}
		if owner != nil {
			m.OwnerReferences = []metav1.OwnerReference{*owner}
		}
		return m
	}
	byNS := map[string][]rbacv1.PolicyRule{}
	var namespaces []string
	for _, r := range g.Rules {
		res, sub, _ := strings.Cut(r.Resource, "/")
		if sub != "" {
			res += "/" + sub
		}
		pr := rbacv1.PolicyRule{APIGroups: []string{r.Group}, Resources: []string{res}, Verbs: r.Verbs, ResourceNames: r.Names}
		if _, seen := byNS[r.Namespace]; !seen && r.Namespace != "" {
			namespaces = append(namespaces, r.Namespace)
		}
		byNS[r.Namespace] = append(byNS[r.Namespace], pr)
	}
	sort.Strings(namespaces)
	rbac := c.clientset.RbacV1()
	owner, err := rbac.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: meta("", nil), Rules: byNS[""]}, metav1.CreateOptions{FieldManager: "warden"})
	if err != nil {
		return connectors.MintResponse{}, fmt.Errorf("kubernetes: mint: create ClusterRole %s: %w", name, apiErr(err))
	}
	ref := &metav1.OwnerReference{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole", Name: name, UID: owner.UID}
	sa, err := c.clientset.CoreV1().ServiceAccounts(c.sessionNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: meta(c.sessionNS, ref),
		AutomountServiceAccountToken: new(bool)}, metav1.CreateOptions{FieldManager: "warden"})
	if err != nil {
		return connectors.MintResponse{}, fmt.Errorf("kubernetes: mint: create ServiceAccount %s/%s: %w", c.sessionNS, name, apiErr(err))
	}
	subjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: c.sessionNS}}
	var summary []string
	for _, ns := range namespaces {
		if _, err := rbac.Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: meta(ns, ref), Rules: byNS[ns]}, metav1.CreateOptions{FieldManager: "warden"}); err != nil {
			return connectors.MintResponse{}, fmt.Errorf("kubernetes: mint: create Role %s/%s: %w", ns, name, apiErr(err))
		}
		rb := &rbacv1.RoleBinding{ObjectMeta: meta(ns, ref), Subjects: subjects,
			RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name}}
		if _, err := rbac.RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{FieldManager: "warden"}); err != nil {
			return connectors.MintResponse{}, fmt.Errorf("kubernetes: mint: create RoleBinding %s/%s: %w", ns, name, apiErr(err))
		}
		summary = append(summary, "in "+ns+": "+describeRules(byNS[ns]))
	}
	if len(byNS[""]) > 0 {
		crb := &rbacv1.ClusterRoleBinding{ObjectMeta: meta("", ref), Subjects: subjects,
			RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name}}
		if _, err := rbac.ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{FieldManager: "warden"}); err != nil {
			return connectors.MintResponse{}, fmt.Errorf("kubernetes: mint: create ClusterRoleBinding %s: %w", name, apiErr(err))
		}
		summary = append(summary, "cluster-wide: "+describeRules(byNS[""]))
	}
	tr := &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: &ttl}}
	if c.audience != "" {
		tr.Spec.Audiences = []string{c.audience}
	}
	tok, err := c.clientset.CoreV1().ServiceAccounts(c.sessionNS).CreateToken(ctx, name, tr, metav1.CreateOptions{})
	if err != nil {
		return connectors.MintResponse{}, fmt.Errorf("kubernetes: mint: TokenRequest for %s/%s: %w", c.sessionNS, name, apiErr(err))
	}
	cred := connectors.Credential{Mode: connectors.ModeJIT, Lease: req.Lease, BearerToken: &connectors.BearerToken{
		Subject: c.subject(name), Token: config.NewSecret(tok.Status.Token), Expires: tok.Status.ExpirationTimestamp.Time}}
	if err := c.awaitRBAC(ctx, cred, g.Rules); err != nil {
		return connectors.MintResponse{}, err
	}
	return connectors.MintResponse{
		Credential: cred,
		Expires:    tok.Status.ExpirationTimestamp.Time,
		Summary: fmt.Sprintf("ServiceAccount %s/%s (uid %s) %s; token until %s, audiences %s", c.sessionNS, name, sa.UID,
			strings.Join(summary, "; "), tok.Status.ExpirationTimestamp.UTC().Format(time.RFC3339), strings.Join(tok.Spec.Audiences, ",")),
	}, nil
}

func describeRules(rs []rbacv1.PolicyRule) string {
	var out []string
	for _, r := range rs {
		res := r.Resources[0]
		if r.APIGroups[0] != "" {
			res += "." + r.APIGroups[0]
		}
		s := strings.Join(r.Verbs, ",") + " " + res
		if len(r.ResourceNames) > 0 {
			s += " " + strings.Join(r.ResourceNames, ",")
		}
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}

// awaitRBAC waits until the API server authorizes the token for each
// rule's first verb (SelfSubjectAccessReview, as the token itself).
func (c *Kubernetes) awaitRBAC(ctx context.Context, cred connectors.Credential, rules []connectors.KubeRule) error {
	deadline := time.Now().Add(10 * time.Second)
	for _, r := range rules {
		res, sub, _ := strings.Cut(r.Resource, "/")
		attrs := &authzv1.ResourceAttributes{Namespace: r.Namespace, Verb: r.Verbs[0], Group: r.Group, Resource: res, Subresource: sub}
		if len(r.Names) > 0 {
			attrs.Name = r.Names[0]
		}
		for {
			ok, err := c.selfReview(ctx, cred, attrs)
			if err != nil {
				return fmt.Errorf("kubernetes: mint: check the new token: %w", err)
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("kubernetes: mint: the API server does not authorize the new account for %s %s after 10s", attrs.Verb, r.Resource)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

func (c *Kubernetes) selfReview(ctx context.Context, cred connectors.Credential, attrs *authzv1.ResourceAttributes) (bool, error) {
	body, _ := json.Marshal(&authzv1.SelfSubjectAccessReview{TypeMeta: metav1.TypeMeta{APIVersion: "authorization.k8s.io/v1", Kind: "SelfSubjectAccessReview"},
		Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: attrs}})
	resp, err := c.Kube(ctx, connectors.KubeRequest{Verb: "create", Credential: cred, Body: body,
		Resource: connectors.KubeResource{Group: "authorization.k8s.io", Version: "v1", Resource: "selfsubjectaccessreviews"}})
	if err != nil {
		return false, err
	}
	var out authzv1.SelfSubjectAccessReview
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		return false, err
	}
	return out.Status.Allowed, nil
}

// ensureSessionNamespace creates the session namespace if it is missing.
func (c *Kubernetes) ensureSessionNamespace(ctx context.Context) error {
	c.mu.Lock()
	ready := c.nsReady
	c.mu.Unlock()
	if ready {
		return nil
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.sessionNS, Labels: map[string]string{LabelManagedBy: "warden"}}}
	_, err := c.clientset.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{FieldManager: "warden"})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("kubernetes: mint: create namespace %s: %w", c.sessionNS, apiErr(err))
	}
	c.mu.Lock()
	c.nsReady = true
	c.mu.Unlock()
	return nil
}

// Revoke implements connectors.Credentialer. The ServiceAccount goes
// first: the API server refuses its tokens from then on. Then the
// bindings and Roles in every namespace the connection lists, and the
// owner ClusterRole, whose deletion lets the garbage collector remove
// anything else the lease owned. What is already gone is not an error.
func (c *Kubernetes) Revoke(ctx context.Context, req connectors.RevokeRequest) error {
	name := req.Principal
	if name == "" {
		name = c.Principal(req.Lease)
	}
	if name != c.Principal(req.Lease) {
		return fmt.Errorf("kubernetes: revoke: principal %q is not lease %s's", name, req.Lease)
	}
	bg := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &bg}
	var errs []error
	gone := func(what string, err error) {
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete %s: %w", what, apiErr(err)))
		}
	}
	gone("ServiceAccount "+c.sessionNS+"/"+name, c.clientset.CoreV1().ServiceAccounts(c.sessionNS).Delete(ctx, name, opts))
	rbac := c.clientset.RbacV1()
	gone("ClusterRoleBinding "+name, rbac.ClusterRoleBindings().Delete(ctx, name, opts))
	for _, ns := range c.namespaces {
		gone("RoleBinding "+ns+"/"+name, rbac.RoleBindings(ns).Delete(ctx, name, opts))
		gone("Role "+ns+"/"+name, rbac.Roles(ns).Delete(ctx, name, opts))
	}
	gone("ClusterRole "+name, rbac.ClusterRoles().Delete(ctx, name, opts))
	if len(errs) > 0 {
		return fmt.Errorf("kubernetes: revoke %s: %w", name, errors.Join(errs...))
	}
	return nil
}

// apiErr keeps the API server's message of err.
func apiErr(err error) error {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		st := se.Status()
		te := connectors.NewTargetError(string(st.Reason), st.Message, "", "", nil)
		te.CodeName = "reason"
		return te
	}
	return err
}

// OwnerUID is the UID of lease's owner ClusterRole, for tests and
// `warden leases`: empty when it is gone.
func (c *Kubernetes) OwnerUID(ctx context.Context, lease string) (types.UID, error) {
	cr, err := c.clientset.RbacV1().ClusterRoles().Get(ctx, c.Principal(lease), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return cr.UID, nil
}
