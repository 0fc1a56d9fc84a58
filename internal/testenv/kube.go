package testenv

import (
	"os"
	"strings"
	"testing"
)

// KubeCluster describes the test Kubernetes API server (scripts/kube.sh:
// etcd, kube-apiserver and kube-controller-manager on 127.0.0.1; no
// kubelet, so pods are stored and never run).
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
