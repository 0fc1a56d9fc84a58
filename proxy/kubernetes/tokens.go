package kubernetes

import (
	"net"

	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/proxy"
)

// ConnectInfo is what a client needs to reach a connection through the
// proxy: the server URL, the certificate to pin, and a bearer token.
type ConnectInfo struct {
	proxy.Issued
	Kind       string `json:"kind"` // "kubernetes"
	Connection string `json:"connection"`
	// Server is the kubeconfig's cluster server:
	// https://HOST:PORT/k8s/CONNECTION.
	Server string `json:"server"`
	// CertificateAuthority is the proxy's certificate (PEM), which the
	// kubeconfig pins.
	CertificateAuthority string `json:"certificate_authority"`
}

// Issuer issues tokens for the proxy at address (as clients reach it)
// whose certificate is pemCert, for `warden connect` and `warden
// kube-credential`. The token is the Issued password, sent as a bearer
// token.
func Issuer(t *proxy.Tokens, address string, pemCert []byte) proxy.Issuer {
	return proxy.Issuer{Kind: "kubernetes", Issue: func(p identity.Principal, connection string) (any, error) {
		is, err := t.Issue(p, connection)
		if err != nil {
			return nil, err
		}
		return ConnectInfo{Issued: is, Kind: "kubernetes", Connection: connection, Server: ServerURL(address, connection),
			CertificateAuthority: string(pemCert)}, nil
	}}
}

// ServerURL is connection's server URL through the proxy at address; a
// wildcard host is this host's loopback.
func ServerURL(address, connection string) string {
	host, port, _ := net.SplitHostPort(address)
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "https://" + net.JoinHostPort(host, port) + PathPrefix + connection
}
