package mysql

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/proxy"
)

// ConnectInfo is what a client needs to log in to the proxy.
type ConnectInfo struct {
	proxy.Issued
	Host       string `json:"host"`
	Port       string `json:"port"`
	Connection string `json:"connection"`
	Kind       string `json:"kind"` // "mysql"
	// Login is the user name to log in as: the connection's name.
	Login string `json:"login"`
	// Database is the connection's database, as clients name it.
	Database string `json:"database"`
	// TLS: the proxy offers TLS (clients should require it).
	TLS bool `json:"tls"`
	// DSN is a go-sql-driver data source name.
	DSN string `json:"dsn"`
	// MySQL and MariaDB are ready command lines of the mysql and mariadb
	// clients, to run with the token in MYSQL_PWD (or with -p added, to
	// type it at the prompt).
	MySQL   string `json:"mysql_command"`
	MariaDB string `json:"mariadb_command"`
}

// Issuer issues tokens for the proxy at address (as clients reach it;
// tlsOn: it offers TLS), for `warden connect`. databases maps each mysql
// connection to its database.
func Issuer(t *proxy.Tokens, address string, tlsOn bool, databases map[string]string) proxy.Issuer {
	return proxy.Issuer{Kind: "mysql", Issue: func(p identity.Principal, connection string) (any, error) {
		is, err := t.Issue(p, connection)
		if err != nil {
			return nil, err
		}
		return NewConnectInfo(is, connection, databases[connection], address, tlsOn), nil
	}}
}

// IssueLocal issues a token without HTTP (tests, in-process use).
func IssueLocal(_ context.Context, t *proxy.Tokens, p identity.Principal, connection, database, address string, tlsOn bool) (ConnectInfo, error) {
	is, err := t.Issue(p, connection)
	if err != nil {
		return ConnectInfo{}, err
	}
	return NewConnectInfo(is, connection, database, address, tlsOn), nil
}

// NewConnectInfo says how to use token is on connection through the
// proxy at address.
func NewConnectInfo(is proxy.Issued, connection, database, address string, tlsOn bool) ConnectInfo {
	host, port, _ := net.SplitHostPort(address)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	mysqlSSL, mariadbSSL, dsnTLS := "--ssl-mode=DISABLED", "--skip-ssl", ""
	if tlsOn {
		mysqlSSL, mariadbSSL, dsnTLS = "--ssl-mode=REQUIRED", "--ssl", "&tls=true"
	}
	quoted := shellQuote(connection)
	cmd := func(prog, ssl string) string {
		return fmt.Sprintf("%s -h %s -P %s %s -u %s %s", prog, host, port, ssl, quoted, shellQuote(database))
	}
	dsn := fmt.Sprintf("%s:%s@tcp(%s)/%s?interpolateParams=false%s", connection, is.Password, net.JoinHostPort(host, port), database, dsnTLS)
	return ConnectInfo{Issued: is, Host: host, Port: port, Connection: connection, Kind: "mysql", Login: connection,
		Database: database, TLS: tlsOn, DSN: dsn, MySQL: cmd("mysql", mysqlSSL), MariaDB: cmd("mariadb", mariadbSSL)}
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
