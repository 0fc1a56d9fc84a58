package ssh

import (
	"fmt"
	"net"
	"strings"

	xssh "golang.org/x/crypto/ssh"

	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/proxy"
)

// ConnectInfo is what a client needs to log in to the proxy.
type ConnectInfo struct {
	proxy.Issued
	Host       string `json:"host"`
	Port       string `json:"port"`
	Connection string `json:"connection"`
	Kind       string `json:"kind"` // "ssh"
	// Login is the user name to log in as: the connection's name.
	Login string `json:"login"`
	// KnownHosts pins the proxy's host key at its address.
	KnownHosts string `json:"known_hosts"`
	// Command is a ready ssh command line (the token is typed at its
	// prompt, or given by SSH_ASKPASS).
	Command string `json:"command"`
}

// Issuer issues tokens for the proxy at address (as clients reach it),
// whose host key is hostKey, for `warden connect`.
func Issuer(t *proxy.Tokens, address string, hostKey xssh.PublicKey) proxy.Issuer {
	return proxy.Issuer{Kind: "ssh", Issue: func(p identity.Principal, connection string) (any, error) {
		is, err := t.Issue(p, connection)
		if err != nil {
			return nil, err
		}
		return NewConnectInfo(is, connection, address, hostKey), nil
	}}
}

// NewConnectInfo says how to use token is on connection through the
// proxy at address.
func NewConnectInfo(is proxy.Issued, connection, address string, hostKey xssh.PublicKey) ConnectInfo {
	host, port, _ := net.SplitHostPort(address)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	public := net.JoinHostPort(host, port)
	var cmd strings.Builder
	fmt.Fprintf(&cmd, "ssh -p %s", port)
	fmt.Fprintf(&cmd, " %s@%s", connection, host)
	return ConnectInfo{Issued: is, Host: host, Port: port, Connection: connection, Kind: "ssh", Login: connection,
		KnownHosts: KnownHostsLine(public, hostKey), Command: cmd.String()}
}
