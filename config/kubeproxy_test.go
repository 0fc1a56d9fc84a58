package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKubeProxyConfig: listen.kubernetes and proxy.kubernetes, their
// defaults and mistakes, each reported with its line.
func TestKubeProxyConfig(t *testing.T) {
	dir := t.TempDir()
	cfg, err := Parse(filepath.Join(dir, "w.yaml"), []byte("listen:\n  kubernetes: 127.0.0.1:8443\n"))
	if err != nil {
		t.Fatal(err)
	}
	kp := cfg.Proxy.Kubernetes
	if cfg.Listen.Kubernetes != "127.0.0.1:8443" || kp.Address != "127.0.0.1:8443" || kp.TokenTTL != DefaultProxyTokenTTL ||
		kp.MaxConnections != DefaultProxyMaxConnections || kp.MaxBodyBytes != DefaultKubeProxyMaxBodyBytes ||
		kp.CertFile != filepath.Join(dir, "kube_proxy.crt") || kp.KeyFile != filepath.Join(dir, "kube_proxy.key") {
		t.Fatalf("defaults: %+v", kp)
	}
	os.WriteFile(filepath.Join(dir, "c.pem"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(dir, "k.pem"), []byte("x"), 0o600)
	cfg, err = Parse(filepath.Join(dir, "w.yaml"), []byte(`listen:
  kubernetes: 0.0.0.0:8443
proxy:
  kubernetes:
    tls: {cert: c.pem, key: k.pem}
    address: k8s-gw.example.com:8443
    token_ttl: 5m
    max_body_bytes: 1048576
`))
	if err != nil {
		t.Fatal(err)
	}
	kp = cfg.Proxy.Kubernetes
	if kp.TLS.Cert != filepath.Join(dir, "c.pem") || kp.Address != "k8s-gw.example.com:8443" || kp.TokenTTL != 5*time.Minute || kp.MaxBodyBytes != 1<<20 {
		t.Fatalf("settings: %+v", kp)
	}
	for yaml, want := range map[string]string{
		"listen:\n  kubernetes: nowhere\n":                                              "2:15: listen.kubernetes: expected host:port",
		"proxy:\n  kubernetes:\n    tls: {cert: a.pem}\n":                               "proxy.kubernetes.tls: cert and key go together",
		"proxy:\n  kubernetes:\n    tls: {cert: a.pem, key: b.pem}\n":                   "no such file",
		"proxy:\n  kubernetes:\n    token_ttl: 10s\n":                                   "proxy.kubernetes.token_ttl: must be at least 1m",
		"proxy:\n  kubernetes:\n    max_connections: -1\n":                              "proxy.kubernetes.max_connections: must be positive",
		"proxy:\n  kubernetes:\n    max_body_bytes: 10\n":                               "proxy.kubernetes.max_body_bytes: must be at least 1024",
		"proxy:\n  kubernetes:\n    address: x\n":                                       "proxy.kubernetes.address: expected host:port",
		"proxy:\n  kubernetes:\n    approval_wait: -1s\n":                               "proxy.kubernetes.approval_wait: must be positive",
		"proxy:\n  kubernetes:\n    tls: {cert: c.pem, key: k.pem}\n    cert_file: x\n": "with tls they are not used",
		"proxy:\n  kubernetes:\n    tlss: {}\n":                                         "unknown key",
	} {
		_, err := Parse(filepath.Join(dir, "w.yaml"), []byte(yaml))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", yaml, err, want)
		}
	}
}
