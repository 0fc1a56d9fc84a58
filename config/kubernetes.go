package config

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// KindKubernetes is a Kubernetes cluster (connectors/kubernetes).
const KindKubernetes = "kubernetes"

// DefaultKubeSessionNamespace is where a kubernetes connection's
// just-in-time ServiceAccounts live when session_namespace is unset.
const DefaultKubeSessionNamespace = "warden-sessions"

// MinKubeTokenTTL is the shortest token the API server issues through
// TokenRequest (its floor for expirationSeconds): a kubernetes
// connection's jit.ttl is at least this.
const MinKubeTokenTTL = 10 * time.Minute

// KubeSettings are the fields of a kind: kubernetes connection:
//
//   - name: prod-k8s
//     kind: kubernetes
//     server: https://k8s.internal:6443
//     ca_file: /etc/warden/k8s-ca.crt        # or ca: "-----BEGIN CERTIFICATE-----..."
//     token: {file: /etc/warden/k8s-token}   # or {env: K8S_TOKEN}, or kubeconfig: /etc/warden/warden.kubeconfig
//     namespaces: [default, shop]            # what rules may grant
//     session_namespace: warden-sessions     # where the session ServiceAccounts live
//     labels: {env: prod}
type KubeSettings struct {
	// Server is the API server's https URL.
	Server string `yaml:"server"`
	// CAFile or CA (PEM) pin the CA that signed the API server's
	// certificate: nothing else is trusted.
	CAFile string `yaml:"ca_file"`
	CA     string `yaml:"ca"`
	// Kubeconfig is a kubeconfig file whose user (of Context, default its
	// current context) is Warden's own credential; its server and CA are
	// not used (Server and the pinned CA are). Token instead reads a
	// bearer token from a secret reference.
	Kubeconfig string   `yaml:"kubeconfig"`
	Context    string   `yaml:"context"`
	Token      TokenRef `yaml:"token"`
	// Namespaces are the namespaces rules may grant on the cluster; a
	// just-in-time Role is never bound anywhere else.
	Namespaces []string `yaml:"namespaces"`
	// SessionNamespace holds the session ServiceAccounts (default
	// warden-sessions; Warden creates it if it is missing).
	SessionNamespace string `yaml:"session_namespace"`
	// TokenAudience is the audience of the session tokens (default: the
	// API server's own, which is what it accepts).
	TokenAudience string `yaml:"token_audience"`
}

// TokenRef says where a bearer token is read from: an environment
// variable or a file. The token itself never appears in the file.
type TokenRef struct {
	Env  string `yaml:"env"`
	File string `yaml:"file"`
}

// Ref is the token's source as a secret reference.
func (t TokenRef) Ref() SecretRef { return SecretRef{Env: t.Env, File: t.File} }

// IsZero reports whether no source is configured.
func (t TokenRef) IsZero() bool { return t.Env == "" && t.File == "" }

// kubeFieldsSet reports whether any kubernetes-only field is set.
func (cn *Connection) kubeFieldsSet() bool {
	k := cn.Kube
	return k.Server != "" || k.CAFile != "" || k.CA != "" || k.Kubeconfig != "" || k.Context != "" || !k.Token.IsZero() ||
		len(k.Namespaces) > 0 || k.SessionNamespace != "" || k.TokenAudience != ""
}

// dnsLabel is a Kubernetes namespace name (RFC 1123 label).
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// validateKubeConnection checks the fields of a kind: kubernetes
// connection and applies its defaults.
func (c *Config) validateKubeConnection(p string, cn *Connection) Errors {
	var errs Errors
	add := func(path, format string, args ...any) { errs = append(errs, c.Errorf(path, format, args...)) }
	k := &cn.Kube
	switch u, err := url.Parse(k.Server); {
	case k.Server == "":
		add(p, "%s: server (the API server's https URL) is required for a kubernetes connection", p)
	case err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil:
		add(p+".server", "%s.server: expected an https URL with a host and no path (https://k8s.internal:6443), got %q", p, k.Server)
	}
	switch {
	case k.CAFile == "" && k.CA == "":
		add(p, "%s: ca_file or ca is required for a kubernetes connection: Warden trusts only the CA it is given for the API server", p)
	case k.CAFile != "" && k.CA != "":
		add(p+".ca", "%s: set ca_file or ca, not both", p)
	case k.CAFile != "":
		k.CAFile = c.resolve(k.CAFile)
	default:
		if !validPEMCerts(k.CA) {
			add(p+".ca", "%s.ca: not a PEM certificate (-----BEGIN CERTIFICATE-----)", p)
		}
	}
	switch {
	case k.Kubeconfig == "" && k.Token.IsZero():
		add(p, "%s: kubeconfig or token ({file: ...} or {env: ...}) is required for a kubernetes connection: Warden's own credential, which creates the session ServiceAccounts", p)
	case k.Kubeconfig != "" && !k.Token.IsZero():
		add(p+".token", "%s: set kubeconfig or token, not both", p)
	case k.Kubeconfig != "":
		k.Kubeconfig = c.resolve(k.Kubeconfig)
	default:
		if k.Token.Env != "" && k.Token.File != "" {
			add(p+".token", "%s.token: set env or file, not both", p)
		}
		if k.Token.File != "" {
			k.Token.File = c.resolve(k.Token.File)
		}
	}
	if k.Context != "" && k.Kubeconfig == "" {
		add(p+".context", "%s.context: names a context of kubeconfig, which is not set", p)
	}
	if len(k.Namespaces) == 0 {
		add(p, "%s: namespaces (the namespaces rules may grant) are required for a kubernetes connection", p)
	}
	seen := map[string]bool{}
	for j, ns := range k.Namespaces {
		q := fmt.Sprintf("%s.namespaces[%d]", p, j)
		switch {
		case !dnsLabel.MatchString(ns):
			add(q, "%s.namespaces: %q is not a namespace name (lower-case letters, digits and '-', at most 63)", p, ns)
		case seen[ns]:
			add(q, "%s.namespaces: %q is listed twice", p, ns)
		}
		seen[ns] = true
	}
	if k.SessionNamespace == "" {
		k.SessionNamespace = DefaultKubeSessionNamespace
	} else if !dnsLabel.MatchString(k.SessionNamespace) {
		add(p+".session_namespace", "%s.session_namespace: %q is not a namespace name", p, k.SessionNamespace)
	}
	if seen[k.SessionNamespace] {
		add(p+".session_namespace", "%s.session_namespace: %q is also in namespaces: the session ServiceAccounts' namespace must not be one rules grant", p, k.SessionNamespace)
	}
	if cn.Credentials == "jit" && cn.JIT.TTL < MinKubeTokenTTL {
		add(p+".jit.ttl", "%s.jit.ttl: a kubernetes token lives at least %s (the API server's floor), got %s", p, MinKubeTokenTTL, cn.JIT.TTL)
	}
	if cn.Address != "" || cn.Database != "" || cn.Path != "" || cn.Admin.User != "" || !cn.Admin.SecretRef.IsZero() || cn.SSLMode != "" || cn.sshFieldsSet() {
		add(p, "%s: a kubernetes connection takes server, ca_file or ca, kubeconfig or token, namespaces (no address, database, path, admin, sslmode or ssh fields)", p)
	}
	return errs
}

// validPEMCerts reports whether s holds PEM certificates and nothing else.
func validPEMCerts(s string) bool {
	rest, n := []byte(s), 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return false
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return false
		}
		n++
	}
	return n > 0 && len(trimSpace(rest)) == 0
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}
