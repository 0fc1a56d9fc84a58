package config

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// Proxy configures the wire-protocol proxies (listen.postgres,
// listen.ssh).
type Proxy struct {
	Postgres PostgresProxy `yaml:"postgres"`
	SSH      SSHProxy      `yaml:"ssh"`
	MySQL    MySQLProxy    `yaml:"mysql"`
	// Kubernetes configures the Kubernetes API proxy (kubeproxy.go).
	Kubernetes KubeProxy `yaml:"kubernetes"`
}

// SSHProxy configures the SSH proxy.
type SSHProxy struct {
	// HostKeyFile is the proxy's own ed25519 host key (OpenSSH PEM),
	// which clients pin; made (mode 0600) when it does not exist.
	// Default: ssh_host_ed25519_key next to the configuration file.
	HostKeyFile string `yaml:"host_key_file"`
	// Address is host:port as clients reach the proxy, printed by
	// `warden connect` (default: listen.ssh).
	Address string `yaml:"address"`
	// TokenTTL is how long a token printed by `warden connect` may be used
	// to log in (default 15m).
	TokenTTL time.Duration `yaml:"token_ttl"`
	// MaxConnections bounds concurrent client connections (default 256).
	MaxConnections int `yaml:"max_connections"`
	// ApprovalWait bounds how long an operation held for approval waits.
	ApprovalWait time.Duration `yaml:"approval_wait"`
	// Env are the environment variables a client may pass to the host
	// (a trailing * matches a prefix; default LANG, LC_*, TZ). The host's
	// own AcceptEnv applies as well.
	Env []string `yaml:"env"`
}

// PostgresProxy configures the PostgreSQL wire-protocol proxy.
type PostgresProxy struct {
	// TLS is the certificate the proxy answers SSLRequest with. Without
	// it, clients are refused TLS and may connect in plaintext only from
	// loopback addresses (or anywhere with AllowPlaintext).
	TLS ProxyTLS `yaml:"tls"`
	// AllowPlaintext lets clients on other hosts connect without TLS: their
	// access token then crosses the network in the clear. Off by default.
	AllowPlaintext bool `yaml:"allow_plaintext"`
	// Address is host:port as clients reach the proxy, printed by
	// `warden connect` (default: listen.postgres).
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
	// MaxMessageBytes bounds the body of one protocol message from a
	// logged-in client (a Query, a Parse, a Bind with its parameter
	// values): a longer one is refused from its header and the
	// connection closed (default: limits.max_sql_bytes and
	// DefaultProxyBindBytes for a Bind's values).
	MaxMessageBytes int `yaml:"max_message_bytes"`
}

// ProxyTLS names PEM files.
type ProxyTLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Defaults of the PostgreSQL proxy.
const (
	DefaultProxyTokenTTL       = 15 * time.Minute
	DefaultProxyMaxConnections = 256
	// DefaultProxyBindBytes is what the default max_message_bytes leaves
	// for a Bind's parameter values beyond the longest statement.
	DefaultProxyBindBytes = 1 << 20
)

// validateProxy checks listen.postgres and proxy.postgres, applies
// defaults and resolves file names.
func (c *Config) validateProxy() Errors {
	var errs Errors
	add := func(path, format string, args ...any) { errs = append(errs, c.Errorf(path, format, args...)) }
	pp := &c.Proxy.Postgres
	c.checkProxyCommon(proxyCommon{name: "postgres", listen: c.Listen.Postgres, address: &pp.Address, tls: &pp.TLS,
		tokenTTL: &pp.TokenTTL, maxConns: &pp.MaxConnections, approvalWait: pp.ApprovalWait}, add)
	if pp.MaxMessageBytes == 0 {
		pp.MaxMessageBytes = max(c.Limits.MaxSQLBytes, 0) + DefaultProxyBindBytes
	} else if pp.MaxMessageBytes < 0 {
		add("proxy.postgres.max_message_bytes", "proxy.postgres.max_message_bytes: must be positive, got %d", pp.MaxMessageBytes)
	}
	errs = append(errs, c.validateSSHProxy()...)
	errs = append(errs, c.validateMySQLProxy()...)
	return append(errs, c.validateKubeProxy()...)
}

// validateSSHProxy checks listen.ssh and proxy.ssh and applies defaults.
func (c *Config) validateSSHProxy() Errors {
	var errs Errors
	add := func(path, format string, args ...any) { errs = append(errs, c.Errorf(path, format, args...)) }
	sp := &c.Proxy.SSH
	if c.Listen.SSH != "" {
		if _, _, err := net.SplitHostPort(c.Listen.SSH); err != nil {
			add("listen.ssh", "listen.ssh: expected host:port, got %q", c.Listen.SSH)
		}
	}
	if sp.Address == "" {
		sp.Address = c.Listen.SSH
	} else if _, _, err := net.SplitHostPort(sp.Address); err != nil {
		add("proxy.ssh.address", "proxy.ssh.address: expected host:port, got %q", sp.Address)
	}
	if sp.HostKeyFile == "" {
		sp.HostKeyFile = "ssh_host_ed25519_key"
	}
	sp.HostKeyFile = c.resolve(sp.HostKeyFile)
	if sp.TokenTTL == 0 {
		sp.TokenTTL = DefaultProxyTokenTTL
	} else if sp.TokenTTL < 0 {
		add("proxy.ssh.token_ttl", "proxy.ssh.token_ttl: must be positive, got %s", sp.TokenTTL)
	}
	if sp.MaxConnections == 0 {
		sp.MaxConnections = DefaultProxyMaxConnections
	} else if sp.MaxConnections < 0 {
		add("proxy.ssh.max_connections", "proxy.ssh.max_connections: must be positive, got %d", sp.MaxConnections)
	}
	if sp.ApprovalWait < 0 {
		add("proxy.ssh.approval_wait", "proxy.ssh.approval_wait: must be positive, got %s", sp.ApprovalWait)
	}
	for i, v := range sp.Env {
		name := strings.TrimSuffix(v, "*")
		if name == "" || strings.ContainsAny(name, "*?[]=\x00 ") {
			add(fmt.Sprintf("proxy.ssh.env[%d]", i), "proxy.ssh.env[%d]: expected a variable name, optionally ending in *, got %q", i, v)
		}
	}
	return errs
}

// proxyWarnings flags weaker proxy setups.
func (c *Config) proxyWarnings() []string {
	out := c.mysqlProxyWarnings()
	if c.Listen.Postgres == "" {
		return out
	}
	if c.Proxy.Postgres.AllowPlaintext {
		out = append(out, fmt.Sprintf("%s:%d: proxy.postgres.allow_plaintext is on: clients on other hosts may send their access token in the clear", c.Path, c.Pos("proxy.postgres.allow_plaintext").Line))
	}
	return out
}

// proxyCommon is what the wire proxies' settings share: the listen
// address, proxy.NAME's own address, TLS, token lifetime, connection limit
// and approval wait.
type proxyCommon struct {
	name         string // postgres, mysql, kubernetes
	listen       string
	address      *string
	tls          *ProxyTLS
	tokenTTL     *time.Duration
	minTokenTTL  time.Duration // the shortest token_ttl accepted (0: any positive)
	maxConns     *int
	approvalWait time.Duration
}

// checkProxyCommon checks p's settings, applies their defaults and
// resolves TLS file names; add records a problem at a key path. It
// reports whether TLS files are configured.
func (c *Config) checkProxyCommon(p proxyCommon, add func(path, format string, args ...any)) (tlsSet bool) {
	key := "proxy." + p.name
	if p.listen != "" {
		if _, _, err := net.SplitHostPort(p.listen); err != nil {
			add("listen."+p.name, "listen.%s: expected host:port, got %q", p.name, p.listen)
		}
	}
	if *p.address == "" {
		*p.address = p.listen
	} else if _, _, err := net.SplitHostPort(*p.address); err != nil {
		add(key+".address", "%s.address: expected host:port, got %q", key, *p.address)
	}
	switch t := p.tls; {
	case t.Cert == "" && t.Key == "":
	case t.Cert == "" || t.Key == "":
		add(key+".tls", "%s.tls: cert and key go together (PEM files)", key)
	default:
		tlsSet = true
		t.Cert, t.Key = c.resolve(t.Cert), c.resolve(t.Key)
		for _, f := range []struct{ key, path string }{{"cert", t.Cert}, {"key", t.Key}} {
			if _, err := os.Stat(f.path); err != nil {
				add(key+".tls."+f.key, "%s.tls.%s: %v", key, f.key, err)
			}
		}
	}
	switch {
	case *p.tokenTTL == 0:
		*p.tokenTTL = DefaultProxyTokenTTL
	case p.minTokenTTL > 0 && *p.tokenTTL < p.minTokenTTL:
		add(key+".token_ttl", "%s.token_ttl: must be at least %s, got %s", key, shortDuration(p.minTokenTTL), *p.tokenTTL)
	case *p.tokenTTL < 0:
		add(key+".token_ttl", "%s.token_ttl: must be positive, got %s", key, *p.tokenTTL)
	}
	if *p.maxConns == 0 {
		*p.maxConns = DefaultProxyMaxConnections
	} else if *p.maxConns < 0 {
		add(key+".max_connections", "%s.max_connections: must be positive, got %d", key, *p.maxConns)
	}
	if p.approvalWait < 0 {
		add(key+".approval_wait", "%s.approval_wait: must be positive, got %s", key, p.approvalWait)
	}
	return tlsSet
}

// shortDuration writes d as a config would (1m, not 1m0s).
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
