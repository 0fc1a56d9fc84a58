package postgres

import (
	"context"
	"net"
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
	Kind       string `json:"kind"` // "postgres"
}

// Issuer issues tokens for the proxy at address (as clients reach it;
// tlsOn: it offers TLS), for `warden connect`.
func Issuer(t *proxy.Tokens, address string, tlsOn bool) proxy.Issuer {
	return proxy.Issuer{Kind: "postgres", Issue: func(p identity.Principal, connection string) (any, error) {
		is, err := t.Issue(p, connection)
		if err != nil {
			return nil, err
		}
		return connectInfo(is, connection, address, tlsOn), nil
	}}
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
	return ConnectInfo{Issued: is, Host: host, Port: port, Database: connection, SSLMode: mode, DSN: u.String(), Connection: connection, Kind: "postgres"}
}

// IssueLocal issues a token without HTTP (tests, in-process use).
func IssueLocal(_ context.Context, t *proxy.Tokens, p identity.Principal, connection, address string, tlsOn bool) (ConnectInfo, error) {
	is, err := t.Issue(p, connection)
	if err != nil {
		return ConnectInfo{}, err
	}
	return connectInfo(is, connection, address, tlsOn), nil
}
