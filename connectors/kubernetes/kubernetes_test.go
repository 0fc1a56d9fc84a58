package kubernetes_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/connectortest"
	"github.com/wardenhq/warden/connectors/kubernetes"
	"github.com/wardenhq/warden/internal/testenv"
	"github.com/wardenhq/warden/policy"
)

// setup returns the connector on the test cluster, for two fresh
// namespaces it may grant, an admin clientset, and the namespaces.
func setup(t *testing.T) (*kubernetes.Kubernetes, *k8s.Clientset, []string) {
	t.Helper()
	kc := testenv.Kube(t)
	admin := testenv.KubeAdmin(t, kc)
	ns := []string{testenv.KubeNamespace(t, admin), testenv.KubeNamespace(t, admin)}
	cfg := config.Connection{Name: "k", Kind: config.KindKubernetes, Credentials: "jit", JIT: config.JIT{TTL: time.Hour},
		Kube: config.KubeSettings{Server: kc.Server, CAFile: kc.CAFile, Token: config.TokenRef{File: kc.TokenFile},
			Namespaces: ns, SessionNamespace: "warden-sessions-test"}}
	c, err := kubernetes.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, admin, ns
}

func lease() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func TestPingAndResolve(t *testing.T) {
	c, _, _ := setup(t)
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"po": "pods", "pods": "pods", "Pod": "pods", "pod": "pods", "deploy": "deployments.apps",
		"deployments.apps": "deployments.apps", "deployments.v1.apps": "deployments.apps", "Deployment": "deployments.apps",
		"ns": "namespaces", "secrets": "secrets", "cm": "configmaps", "clusterroles": "clusterroles.rbac.authorization.k8s.io"} {
		r, err := c.ResolveName(ctx, name)
		if err != nil || r.GroupResource() != want {
			t.Errorf("ResolveName(%q) = %+v, %v; want %s", name, r, err, want)
		}
	}
	if r, _ := c.ResolveName(ctx, "ns"); r.Namespaced {
		t.Error("namespaces resolved as namespaced")
	}
	for _, bad := range []string{"nosuchthing", "pods/log", "*", "po,svc", ""} {
		if r, err := c.ResolveName(ctx, bad); err == nil {
			t.Errorf("ResolveName(%q) = %+v", bad, r)
		}
	}
	if r, err := c.ResolveKind(ctx, "apps/v1", "Deployment"); err != nil || r.Resource != "deployments" || !r.Namespaced {
		t.Errorf("ResolveKind(apps/v1 Deployment) = %+v, %v", r, err)
	}
	if _, err := c.ResolveKind(ctx, "v1", "NoSuchKind"); !errors.Is(err, kubernetes.ErrUnknownResource) {
		t.Errorf("ResolveKind(v1 NoSuchKind): %v", err)
	}
}

// TestPinnedCA: a server certificate another CA signed is refused.
func TestPinnedCA(t *testing.T) {
	kc := testenv.Kube(t)
	dir := t.TempDir()
	ca := testenv.KubeOtherCA(t, dir)
	cfg := config.Connection{Name: "k", Kind: config.KindKubernetes, Kube: config.KubeSettings{Server: kc.Server, CAFile: ca,
		Token: config.TokenRef{File: kc.TokenFile}, Namespaces: []string{"default"}}}
	c, err := kubernetes.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Ping(context.Background())
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Ping with another CA pinned: %v", err)
	}
}

// TestMintRevoke: a minted ServiceAccount can do exactly its grants, its
// objects are labelled and owned by the lease's ClusterRole, and after
// Revoke the API server refuses its token and nothing of it is left.
func TestMintRevoke(t *testing.T) {
	c, admin, ns := setup(t)
	ctx := context.Background()
	if _, err := admin.CoreV1().ConfigMaps(ns[0]).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cms := connectors.KubeResource{Version: "v1", Resource: "configmaps", Kind: "ConfigMap", Namespaced: true}
	want := connectors.KubeGrants{Rules: []connectors.KubeRule{{Namespace: ns[0], Resource: "configmaps", Verbs: []string{"get"}, Names: []string{"app"}},
		{Resource: "namespaces", Verbs: []string{"list"}}}}
	g, err := c.ScopedGrants(policy.Decision{Rule: "r", ReadOnly: true}, want)
	if err != nil {
		t.Fatal(err)
	}
	l := lease()
	name := c.Principal(l)
	resp, err := c.Mint(ctx, connectors.MintRequest{Lease: l, Grants: g, TTL: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Revoke(context.Background(), connectors.RevokeRequest{Lease: l, Principal: name}) })
	cred := resp.Credential
	if cred.BearerToken == nil || cred.BearerToken.Subject != "system:serviceaccount:warden-sessions-test:"+name ||
		time.Until(resp.Expires) < 9*time.Minute || strings.Contains(resp.Summary, cred.BearerToken.Token.Reveal()) {
		t.Fatalf("mint: %+v, summary %q", cred.BearerToken, resp.Summary)
	}
	t.Logf("summary: %s", resp.Summary)
	do := func(verb, namespace, name string, r connectors.KubeResource) error {
		_, err := c.Kube(ctx, connectors.KubeRequest{Verb: verb, Resource: r, Namespace: namespace, Name: name, Credential: cred})
		return err
	}
	if err := do("get", ns[0], "app", cms); err != nil {
		t.Errorf("the granted get: %v", err)
	}
	nsRes := connectors.KubeResource{Version: "v1", Resource: "namespaces", Kind: "Namespace"}
	if err := do("list", "", "", nsRes); err != nil {
		t.Errorf("the granted cluster-wide list: %v", err)
	}
	// Everything else is refused by the API server itself.
	for _, f := range []struct {
		verb, ns, name string
		r              connectors.KubeResource
	}{{"list", ns[0], "", cms}, {"get", ns[1], "app", cms}, {"delete", ns[0], "app", cms}, {"get", "", ns[0], nsRes},
		{"list", ns[0], "", connectors.KubeResource{Version: "v1", Resource: "secrets", Namespaced: true}}} {
		if err := do(f.verb, f.ns, f.name, f.r); !kubernetes.IsReason(err, "Forbidden") {
			t.Errorf("%s %s %s/%s as the minted account: %v, want Forbidden", f.verb, f.r.Resource, f.ns, f.name, err)
		}
	}
	// The objects exist, labelled, owned by the lease's ClusterRole.
	owner, err := admin.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{})
	if err != nil || len(owner.Rules) != 1 {
		t.Fatalf("owner ClusterRole: %+v, %v", owner, err)
	}
	sa, err := admin.CoreV1().ServiceAccounts("warden-sessions-test").Get(ctx, name, metav1.GetOptions{})
	if err != nil || len(sa.OwnerReferences) != 1 || sa.OwnerReferences[0].UID != owner.UID || sa.Labels[kubernetes.LabelLease] != l {
		t.Fatalf("ServiceAccount: %+v, %v", sa, err)
	}
	role, err := admin.RbacV1().Roles(ns[0]).Get(ctx, name, metav1.GetOptions{})
	if err != nil || role.OwnerReferences[0].UID != owner.UID {
		t.Fatalf("Role: %+v, %v", role, err)
	}
	for _, r := range role.Rules {
		for _, v := range r.Verbs {
			if v == "*" || v == "escalate" || v == "bind" || v == "impersonate" {
				t.Errorf("Role grants %q", v)
			}
		}
	}
	if _, err := admin.RbacV1().Roles(ns[1]).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a Role in a namespace the grants do not name: %v", err)
	}

	if err := c.Revoke(ctx, connectors.RevokeRequest{Lease: l, Principal: name}); err != nil {
		t.Fatal(err)
	}
	// At once the token is refused (its Roles are gone), and once the
	// API server's cache of authenticated tokens (10 s) lets it go it no
	// longer authenticates at all (401).
	if err := do("get", ns[0], "app", cms); !kubernetes.IsReason(err, "Unauthorized") && !kubernetes.IsReason(err, "Forbidden") {
		t.Errorf("the revoked token: %v, want it refused", err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		err := do("list", "", "", nsRes)
		if kubernetes.IsReason(err, "Unauthorized") {
			break
		}
		if err == nil {
			t.Fatal("the revoked token listed namespaces")
		}
		if time.Now().After(deadline) {
			t.Fatalf("the revoked token still authenticates after 30s: %v", err)
		}
	}
	testenv.KubeGone(t, admin, "warden-sessions-test", ns, name)
	if err := c.Revoke(ctx, connectors.RevokeRequest{Lease: l, Principal: name}); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
}

// TestGarbageCollection: deleting only the owner ClusterRole removes the
// rest (the cluster's garbage collector follows the ownerReferences), as
// after a revocation that failed half-way.
func TestGarbageCollection(t *testing.T) {
	c, admin, ns := setup(t)
	ctx := context.Background()
	g, err := c.ScopedGrants(policy.Decision{}, connectors.KubeGrants{Rules: []connectors.KubeRule{{Namespace: ns[1], Resource: "pods", Verbs: []string{"list"}}}})
	if err != nil {
		t.Fatal(err)
	}
	l := lease()
	name := c.Principal(l)
	if _, err := c.Mint(ctx, connectors.MintRequest{Lease: l, Grants: g, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	bg := metav1.DeletePropagationBackground
	if err := admin.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
		t.Fatal(err)
	}
	testenv.KubeGone(t, admin, "warden-sessions-test", ns, name)
}

// TestScopedGrantsRefuse: what a minted Role must never hold.
func TestScopedGrantsRefuse(t *testing.T) {
	c, _, ns := setup(t)
	for name, r := range map[string]connectors.KubeRule{
		"star verb":          {Namespace: ns[0], Resource: "pods", Verbs: []string{"*"}},
		"escalate":           {Namespace: ns[0], Group: "rbac.authorization.k8s.io", Resource: "roles", Verbs: []string{"escalate"}},
		"bind":               {Namespace: ns[0], Group: "rbac.authorization.k8s.io", Resource: "roles", Verbs: []string{"bind"}},
		"impersonate":        {Resource: "users", Verbs: []string{"impersonate"}},
		"star resource":      {Namespace: ns[0], Resource: "*", Verbs: []string{"get"}},
		"star group":         {Namespace: ns[0], Group: "*", Resource: "pods", Verbs: []string{"get"}},
		"other namespace":    {Namespace: "kube-system", Resource: "pods", Verbs: []string{"get"}},
		"session namespace":  {Namespace: "warden-sessions-test", Resource: "serviceaccounts", Verbs: []string{"get"}},
		"star name":          {Namespace: ns[0], Resource: "pods", Verbs: []string{"get"}, Names: []string{"*"}},
		"no verb":            {Namespace: ns[0], Resource: "pods"},
		"write in read-only": {Namespace: ns[0], Resource: "pods", Verbs: []string{"delete"}},
		"every namespace":    {Resource: "secrets", Verbs: []string{"list"}},
		"unknown resource":   {Resource: "nosuchthings", Verbs: []string{"list"}},
	} {
		d := policy.Decision{Rule: "r", ReadOnly: name == "write in read-only"}
		if g, err := c.ScopedGrants(d, connectors.KubeGrants{Rules: []connectors.KubeRule{r}}); err == nil {
			t.Errorf("%s: granted %+v", name, g)
		}
	}
	if _, err := c.Grants(policy.Decision{Rule: "r"}); err == nil {
		t.Error("a decision alone granted something")
	}
}

// TestMintFailsCleanly: a mint that fails half-way (a granted namespace
// the cluster does not have) leaves what Revoke removes, and Revoke
// removes it.
func TestMintFailsCleanly(t *testing.T) {
	kc := testenv.Kube(t)
	admin := testenv.KubeAdmin(t, kc)
	ns := testenv.KubeNamespace(t, admin)
	missing := "wt-missing-" + lease()[:8]
	cfg := config.Connection{Name: "k", Kind: config.KindKubernetes, Credentials: "jit", JIT: config.JIT{TTL: time.Hour},
		Kube: config.KubeSettings{Server: kc.Server, CAFile: kc.CAFile, Token: config.TokenRef{File: kc.TokenFile},
			Namespaces: []string{ns, missing}, SessionNamespace: "warden-sessions-test"}}
	c, err := kubernetes.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	g, err := c.ScopedGrants(policy.Decision{}, connectors.KubeGrants{Rules: []connectors.KubeRule{
		{Namespace: ns, Resource: "pods", Verbs: []string{"list"}}, {Namespace: missing, Resource: "pods", Verbs: []string{"list"}}}})
	if err != nil {
		t.Fatal(err)
	}
	l := lease()
	if _, err := c.Mint(ctx, connectors.MintRequest{Lease: l, Grants: g, TTL: time.Hour}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("mint into a missing namespace: %v", err)
	}
	if err := c.Revoke(ctx, connectors.RevokeRequest{Lease: l, Principal: c.Principal(l)}); err != nil {
		t.Fatal(err)
	}
	testenv.KubeGone(t, admin, "warden-sessions-test", []string{ns}, c.Principal(l))
}

// TestContract: the KubeAPI contract suite, as Warden's own credential
// and as a minted one.
func TestContract(t *testing.T) {
	t.Run("static", func(t *testing.T) {
		connectortest.RunKube(t, connectortest.KubeHarness{Open: func(t *testing.T) connectortest.KubeFixture {
			c, _, ns := setup(t)
			return connectortest.KubeFixture{Conn: c, Credential: connectors.Static, Namespace: ns[0]}
		}})
	})
	t.Run("jit", func(t *testing.T) {
		connectortest.RunKube(t, connectortest.KubeHarness{Open: func(t *testing.T) connectortest.KubeFixture {
			c, _, ns := setup(t)
			g, err := c.ScopedGrants(policy.Decision{}, connectors.KubeGrants{Rules: []connectors.KubeRule{
				{Namespace: ns[0], Resource: "configmaps", Verbs: []string{"create", "get", "list", "delete"}}}})
			if err != nil {
				t.Fatal(err)
			}
			l := lease()
			resp, err := c.Mint(context.Background(), connectors.MintRequest{Lease: l, Grants: g, TTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Revoke(context.Background(), connectors.RevokeRequest{Lease: l, Principal: c.Principal(l)}) })
			return connectortest.KubeFixture{Conn: c, Credential: resp.Credential, Namespace: ns[0]}
		}})
	})
}
