package postgres

import (
	"context"
	"net"
	"net/http"
	"net/url"

	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/proxy"
)

// ConnectInfo is what a client needs to log in to the proxy.
type ConnectInfo struct {
	proxy.Issued
	Host       string `json:"host"`
	Port       string `json:"port"`
	Database   string `json:"database"`
	SSLMode    string `json:"sslmode"`
	DSN        string `json:"dsn"`
	Connection string `json:"connection"`
}

// TokenHandler serves POST {"connection": NAME}: a token for the caller
// (identified like every HTTP request, by ident) on that postgres
// connection, and how to connect with it. address is the proxy's address
// as clients reach it; tlsOn whether it offers TLS.
func TokenHandler(t *proxy.Tokens, ident identity.Identifier, connections map[string]bool, address string, tlsOn bool) http.Handler {
	return proxy.TokenHandler(t, ident, "postgres", connections, func(is proxy.Issued, connection string) any {
		return connectInfo(is, connection, address, tlsOn)
	})
}

func connectInfo(is proxy.Issued, connection, address string, tlsOn bool) ConnectInfo {
	host, port, _ := net.SplitHostPort(address)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	mode := "disable"
	if tlsOn {
		mode = "require"
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(is.User, is.Password), Host: net.JoinHostPort(host, port),
		Path: "/" + connection, RawQuery: "sslmode=" + mode}
	return ConnectInfo{Issued: is, Host: host, Port: port, Database: connection, SSLMode: mode, DSN: u.String(), Connection: connection}
}

// IssueLocal issues a token without HTTP (tests, in-process use).
func IssueLocal(_ context.Context, t *proxy.Tokens, p identity.Principal, connection, address string, tlsOn bool) (ConnectInfo, error) {
	is, err := t.Issue(p, connection)
	if err != nil {
		return ConnectInfo{}, err
	}
	return connectInfo(is, connection, address, tlsOn), nil
}
