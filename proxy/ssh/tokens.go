package ssh

import (
	"fmt"
	"net"
	"net/http"
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
	// Login is the user name to log in as: the connection's name.
	Login string `json:"login"`
	// KnownHosts pins the proxy's host key at its address.
	KnownHosts string `json:"known_hosts"`
	// Command is a ready ssh command line (the token is typed at its
	// prompt, or given by SSH_ASKPASS).
	Command string `json:"command"`
}

// TokenHandler serves `warden connect` for ssh connections: a token, the
// proxy's address (as clients reach it) and its pinned host key.
func TokenHandler(t *proxy.Tokens, ident identity.Identifier, connections map[string]bool, address string, hostKey xssh.PublicKey) http.Handler {
	return proxy.TokenHandler(t, ident, "ssh", connections, func(is proxy.Issued, connection string) any {
		return NewConnectInfo(is, connection, address, hostKey)
	})
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
	return ConnectInfo{Issued: is, Host: host, Port: port, Connection: connection, Login: connection,
		KnownHosts: KnownHostsLine(public, hostKey), Command: cmd.String()}
}
