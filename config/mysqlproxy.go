package config

import (
	"fmt"
	"time"
)

// MySQLProxy configures the MySQL wire-protocol proxy (listen.mysql).
type MySQLProxy struct {
	// TLS is the certificate the proxy offers clients. Without it,
	// clients may connect in plaintext only from loopback addresses (or
	// anywhere with AllowPlaintext).
	TLS ProxyTLS `yaml:"tls"`
	// AllowPlaintext lets clients on other hosts connect without TLS:
	// their statements and results then cross the network in the clear
	// (the login exchange never sends the token). Off by default.
	AllowPlaintext bool `yaml:"allow_plaintext"`
	// Address is host:port as clients reach the proxy, printed by
	// `warden connect` (default: listen.mysql).
	Address string `yaml:"address"`
	// TokenTTL is how long a token printed by `warden connect` may be used
	// to log in (default 15m). A session it opened lives on after.
	TokenTTL time.Duration `yaml:"token_ttl"`
	// MaxConnections bounds concurrent client connections (default 256).
	MaxConnections int `yaml:"max_connections"`
	// ApprovalWait is how long a statement held for approval waits for the
	// decision before it fails with the approval's id (default: the
	// approvals workflow's own wait).
	ApprovalWait time.Duration `yaml:"approval_wait"`
}

// validateMySQLProxy checks listen.mysql and proxy.mysql, applies
// defaults and resolves file names.
func (c *Config) validateMySQLProxy() Errors {
	var errs Errors
	add := func(path, format string, args ...any) { errs = append(errs, c.Errorf(path, format, args...)) }
	mp := &c.Proxy.MySQL
	c.checkProxyCommon(proxyCommon{name: "mysql", listen: c.Listen.MySQL, address: &mp.Address, tls: &mp.TLS,
		tokenTTL: &mp.TokenTTL, maxConns: &mp.MaxConnections, approvalWait: mp.ApprovalWait}, add)
	return errs
}

// mysqlProxyWarnings flags weaker MySQL proxy setups.
func (c *Config) mysqlProxyWarnings() []string {
	if c.Listen.MySQL == "" || !c.Proxy.MySQL.AllowPlaintext {
		return nil
	}
	return []string{fmt.Sprintf("%s:%d: proxy.mysql.allow_plaintext is on: clients on other hosts may send statements and results in the clear", c.Path, c.Pos("proxy.mysql.allow_plaintext").Line)}
}
