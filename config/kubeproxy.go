package config

import (
	"time"
)

// KubeProxy configures the Kubernetes API proxy (listen.kubernetes): HTTPS
// only, for kubectl and every client-go program.
type KubeProxy struct {
	// TLS is the proxy's certificate and key (PEM files). Without it,
	// Warden makes a self-signed certificate for 127.0.0.1, ::1, localhost
	// (and the host of Address) and keeps it in CertFile and KeyFile.
	TLS ProxyTLS `yaml:"tls"`
	// CertFile and KeyFile are where the self-signed certificate is kept
	// when TLS is not set (default kube_proxy.crt and kube_proxy.key next
	// to the configuration file); the key file is mode 0600.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// Address is host:port as clients reach the proxy, written into the
	// kubeconfig `warden connect` writes (default: listen.kubernetes).
	Address string `yaml:"address"`
	// TokenTTL is how long a token the kubeconfig's credential plugin
	// gets is good for (default 15m); the plugin asks for another then.
	TokenTTL time.Duration `yaml:"token_ttl"`
	// MaxConnections bounds concurrent client connections (default 256).
	MaxConnections int `yaml:"max_connections"`
	// ApprovalWait bounds how long a request held for approval waits.
	ApprovalWait time.Duration `yaml:"approval_wait"`
	// MaxBodyBytes bounds a write's body, which is read whole and
	// classified before anything is sent (default 3 MiB, the API server's
	// own limit).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

// DefaultKubeProxyMaxBodyBytes is the API server's request body limit.
const DefaultKubeProxyMaxBodyBytes = 3 << 20

// validateKubeProxy checks listen.kubernetes and proxy.kubernetes and
// applies defaults.
func (c *Config) validateKubeProxy() Errors {
	var errs Errors
	add := func(path, format string, args ...any) { errs = append(errs, c.Errorf(path, format, args...)) }
	kp := &c.Proxy.Kubernetes
	tlsSet := c.checkProxyCommon(proxyCommon{name: "kubernetes", listen: c.Listen.Kubernetes, address: &kp.Address, tls: &kp.TLS,
		tokenTTL: &kp.TokenTTL, minTokenTTL: time.Minute, maxConns: &kp.MaxConnections, approvalWait: kp.ApprovalWait}, add)
	switch {
	case kp.TLS.Cert == "" && kp.TLS.Key == "":
		// No TLS files: the self-signed certificate Warden makes is kept
		// here.
		if kp.CertFile == "" {
			kp.CertFile = "kube_proxy.crt"
		}
		if kp.KeyFile == "" {
			kp.KeyFile = "kube_proxy.key"
		}
		kp.CertFile, kp.KeyFile = c.resolve(kp.CertFile), c.resolve(kp.KeyFile)
	case tlsSet && (kp.CertFile != "" || kp.KeyFile != ""):
		add("proxy.kubernetes.cert_file", "proxy.kubernetes: cert_file and key_file keep the self-signed certificate made when tls is not set; with tls they are not used")
	}
	if kp.MaxBodyBytes == 0 {
		kp.MaxBodyBytes = DefaultKubeProxyMaxBodyBytes
	} else if kp.MaxBodyBytes < 1024 {
		add("proxy.kubernetes.max_body_bytes", "proxy.kubernetes.max_body_bytes: must be at least 1024, got %d", kp.MaxBodyBytes)
	}
	return errs
}
