package config

import (
	"net"
	"os"
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
	if c.Listen.Kubernetes != "" {
		if _, _, err := net.SplitHostPort(c.Listen.Kubernetes); err != nil {
			add("listen.kubernetes", "listen.kubernetes: expected host:port, got %q", c.Listen.Kubernetes)
		}
	}
	if kp.Address == "" {
		kp.Address = c.Listen.Kubernetes
	} else if _, _, err := net.SplitHostPort(kp.Address); err != nil {
		add("proxy.kubernetes.address", "proxy.kubernetes.address: expected host:port, got %q", kp.Address)
	}
	switch {
	case kp.TLS.Cert == "" && kp.TLS.Key == "":
		if kp.CertFile == "" {
			kp.CertFile = "kube_proxy.crt"
		}
		if kp.KeyFile == "" {
			kp.KeyFile = "kube_proxy.key"
		}
		kp.CertFile, kp.KeyFile = c.resolve(kp.CertFile), c.resolve(kp.KeyFile)
	case kp.TLS.Cert == "" || kp.TLS.Key == "":
		add("proxy.kubernetes.tls", "proxy.kubernetes.tls: cert and key go together (PEM files)")
	default:
		if kp.CertFile != "" || kp.KeyFile != "" {
			add("proxy.kubernetes.cert_file", "proxy.kubernetes: cert_file and key_file keep the self-signed certificate made when tls is not set; with tls they are not used")
		}
		kp.TLS.Cert, kp.TLS.Key = c.resolve(kp.TLS.Cert), c.resolve(kp.TLS.Key)
		for _, f := range []struct{ key, path string }{{"cert", kp.TLS.Cert}, {"key", kp.TLS.Key}} {
			if _, err := os.Stat(f.path); err != nil {
				add("proxy.kubernetes.tls."+f.key, "proxy.kubernetes.tls.%s: %v", f.key, err)
			}
		}
	}
	if kp.TokenTTL == 0 {
		kp.TokenTTL = DefaultProxyTokenTTL
	} else if kp.TokenTTL < time.Minute {
		add("proxy.kubernetes.token_ttl", "proxy.kubernetes.token_ttl: must be at least 1m, got %s", kp.TokenTTL)
	}
	if kp.MaxConnections == 0 {
		kp.MaxConnections = DefaultProxyMaxConnections
	} else if kp.MaxConnections < 0 {
		add("proxy.kubernetes.max_connections", "proxy.kubernetes.max_connections: must be positive, got %d", kp.MaxConnections)
	}
	if kp.ApprovalWait < 0 {
		add("proxy.kubernetes.approval_wait", "proxy.kubernetes.approval_wait: must be positive, got %s", kp.ApprovalWait)
	}
	if kp.MaxBodyBytes == 0 {
		kp.MaxBodyBytes = DefaultKubeProxyMaxBodyBytes
	} else if kp.MaxBodyBytes < 1024 {
		add("proxy.kubernetes.max_body_bytes", "proxy.kubernetes.max_body_bytes: must be at least 1024, got %d", kp.MaxBodyBytes)
	}
	return errs
}
