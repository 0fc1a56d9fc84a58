package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// KubeCluster describes the test Kubernetes API server (scripts/kube.sh:
// etcd, kube-apiserver and kube-controller-manager on 127.0.0.1, and
// kwok as the kubelet of one node: only pods bound to it run, see
// KubeRunningPod).
type KubeCluster struct {
	// Server is the API server's https URL; CAFile the CA of its
	// certificate.
	Server, CAFile string
	// TokenFile holds a system:masters token; Token is its content.
	TokenFile, Token string
	// Kubeconfig is an admin kubeconfig with that token; Kubectl a kubectl
	// of the same version.
	Kubeconfig, Kubectl string
}

// Kube returns the test Kubernetes API server, or skips/fails the test.
func Kube(t testing.TB) KubeCluster {
	t.Helper()
	const how = "run `source \"$(scripts/kube.sh start)\"` (the first start builds the binaries, ~17 min), or `make test`"
	k := KubeCluster{
		Server:     os.Getenv("WARDEN_TEST_KUBE_SERVER"),
		CAFile:     os.Getenv("WARDEN_TEST_KUBE_CA_FILE"),
		TokenFile:  os.Getenv("WARDEN_TEST_KUBE_TOKEN_FILE"),
		Kubeconfig: os.Getenv("WARDEN_TEST_KUBECONFIG"),
		Kubectl:    os.Getenv("WARDEN_TEST_KUBECTL"),
	}
	if k.Server == "" || k.CAFile == "" || k.TokenFile == "" {
		missing(t, "the Kubernetes API server", how)
	}
	b, err := os.ReadFile(k.TokenFile)
	if err != nil {
		missing(t, "the Kubernetes API server", "read its token: "+err.Error()+"; "+how)
	}
	k.Token = strings.TrimSpace(string(b))
	if _, err := os.Stat(k.CAFile); err != nil {
		missing(t, "the Kubernetes API server", "its CA: "+err.Error()+"; "+how)
	}
	return k
}

// KubeAdmin is a clientset of the test cluster's admin (system:masters).
func KubeAdmin(t testing.TB, k KubeCluster) *k8s.Clientset {
	t.Helper()
	cs, err := k8s.NewForConfig(&rest.Config{Host: k.Server, BearerToken: k.Token, TLSClientConfig: rest.TLSClientConfig{CAFile: k.CAFile}})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// KubeNamespace creates a namespace of its own for one test and deletes
// it when the test ends.
func KubeNamespace(t testing.TB, admin *k8s.Clientset) string {
	t.Helper()
	var b [4]byte
	rand.Read(b[:])
	name := "wt-" + hex.EncodeToString(b[:])
	ctx := context.Background()
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		missing(t, "the Kubernetes API server", "create a namespace: "+err.Error())
	}
	t.Cleanup(func() { admin.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	return name
}

// KubeGone waits (up to 30 s, for the garbage collector) until nothing
// named name is left of a lease: its ServiceAccount in sessionNS, its
// Roles and RoleBindings in namespaces, its ClusterRole and
// ClusterRoleBinding.
func KubeGone(t testing.TB, admin *k8s.Clientset, sessionNS string, namespaces []string, name string) {
	t.Helper()
	ctx := context.Background()
	left := func() []string {
		var out []string
		check := func(what string, err error) {
			if !apierrors.IsNotFound(err) {
				out = append(out, fmt.Sprintf("%s (%v)", what, err))
			}
		}
		_, err := admin.CoreV1().ServiceAccounts(sessionNS).Get(ctx, name, metav1.GetOptions{})
		check("ServiceAccount", err)
		_, err = admin.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{})
		check("ClusterRole", err)
		_, err = admin.RbacV1().ClusterRoleBindings().Get(ctx, name, metav1.GetOptions{})
		check("ClusterRoleBinding", err)
		for _, ns := range namespaces {
			_, err = admin.RbacV1().Roles(ns).Get(ctx, name, metav1.GetOptions{})
			check("Role in "+ns, err)
			_, err = admin.RbacV1().RoleBindings(ns).Get(ctx, name, metav1.GetOptions{})
			check("RoleBinding in "+ns, err)
		}
		return out
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		l := left()
		if len(l) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left of %s after 30s: %s", name, strings.Join(l, ", "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// KubeOtherCA writes, in dir, a CA certificate that did not sign the test
// API server's certificate, and returns its path.
func KubeOtherCA(t testing.TB, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "not-the-cluster-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "other-ca.crt")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
