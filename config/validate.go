package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// Effects a rule may have.
var Effects = []string{"allow", "deny", "review"}

// validate applies defaults, resolves relative paths and checks every
// value. It returns all problems, not just the first.
func (c *Config) validate() Errors {
	var errs Errors
	add := func(path, format string, args ...any) { errs = append(errs, c.Errorf(path, format, args...)) }

	if c.Listen.MCP == "" {
		c.Listen.MCP = DefaultListen
	} else if _, _, err := net.SplitHostPort(c.Listen.MCP); err != nil {
		add("listen.mcp", "listen.mcp: expected host:port, got %q", c.Listen.MCP)
	}

	switch {
	case c.Store == "":
		c.Store = "sqlite://" + filepath.Join(c.Dir, "warden.db")
	case strings.HasPrefix(c.Store, "sqlite://"):
		p := strings.TrimPrefix(c.Store, "sqlite://")
		if p == "" {
			add("store", "store: expected sqlite://PATH, got %q", c.Store)
		}
		c.Store = "sqlite://" + c.resolve(p)
	case strings.HasPrefix(c.Store, "postgres://"), strings.HasPrefix(c.Store, "postgresql://"):
		add("store", "store: a PostgreSQL store (for several replicas) is not available in this build yet; use sqlite://PATH")
	default:
		add("store", "store: expected sqlite://PATH, got %q", c.Store)
	}

	if c.Identity.Local != "" && !validIdentity(c.Identity.Local) {
		add("identity.local", "identity.local: %q is not a valid identity name", c.Identity.Local)
	}
	users := map[string]bool{}
	for i, u := range c.Identity.Users {
		p := fmt.Sprintf("identity.users[%d]", i)
		switch {
		case u.Name == "":
			add(p+".name", "%s: name is required", p)
		case !validIdentity(u.Name):
			add(p+".name", "%s.name: %q is not a valid identity name", p, u.Name)
		case users[u.Name]:
			add(p+".name", "%s.name: identity %q is listed twice", p, u.Name)
		}
		users[u.Name] = true
	}
	errs = append(errs, c.validateOIDC()...)

	l := &c.Limits
	if l.MaxSQLBytes == 0 {
		l.MaxSQLBytes = DefaultMaxSQLBytes
	}
	if l.DefaultMaxRows == 0 {
		l.DefaultMaxRows = DefaultDefaultMaxRows
	}
	if l.MaxRows == 0 {
		l.MaxRows = DefaultMaxRows
	}
	if l.StatementTimeout == 0 {
		l.StatementTimeout = DefaultStatementTimeout
	}
	if l.MaxSQLBytes < 0 {
		add("limits.max_sql_bytes", "limits.max_sql_bytes: must be positive, got %d", l.MaxSQLBytes)
	}
	if l.MaxRows < 0 || l.DefaultMaxRows < 0 {
		add("limits", "limits: max_rows and default_max_rows must be positive")
	}
	if l.DefaultMaxRows > l.MaxRows {
		add("limits.default_max_rows", "limits.default_max_rows (%d) is larger than limits.max_rows (%d)", l.DefaultMaxRows, l.MaxRows)
	}
	if l.StatementTimeout < 0 {
		add("limits.statement_timeout", "limits.statement_timeout: must be positive, got %s", l.StatementTimeout)
	}
	errs = append(errs, c.validateRequestBytes()...)

	names := map[string]bool{}
	for i := range c.Connections {
		errs = append(errs, c.validateConnection(i, names)...)
	}

	errs = append(errs, c.validateRules()...)
	errs = append(errs, c.validateMasking()...)
	errs = append(errs, c.validateProxy()...)
	errs = append(errs, c.validateSSHCA()...)
	errs = append(errs, c.validateAudit()...)
	return errs
}

func (c *Config) validateConnection(i int, names map[string]bool) Errors {
	var errs Errors
	cn := &c.Connections[i]
	p := fmt.Sprintf("connections[%d]", i)
	add := func(path, format string, args ...any) { errs = append(errs, c.Errorf(path, format, args...)) }

	switch {
	case cn.Name == "":
		add(p+".name", "%s: name is required", p)
	case !namePattern.MatchString(cn.Name):
		add(p+".name", "%s.name: %q must be lower-case letters, digits, '.', '_' or '-'", p, cn.Name)
	case names[cn.Name]:
		add(p+".name", "%s.name: connection %q is defined twice", p, cn.Name)
	}
	names[cn.Name] = true

	switch cn.Credentials {
	case "":
		cn.Credentials = "static"
		if cn.Kind == KindSSH || cn.Kind == KindKubernetes {
			cn.Credentials = "jit"
		}
	case "static":
		if cn.Kind == KindSSH {
			add(p+".credentials", "%s.credentials: an ssh connection has only jit credentials (a certificate per session, signed by ssh_ca); a static key would be one long-lived secret shared by every agent, which Warden cannot scope, expire or revoke", p)
		}
	case "jit":
		if cn.Kind != KindPostgres && cn.Kind != KindMySQL && cn.Kind != KindSSH && cn.Kind != KindKubernetes {
			add(p+".credentials", "%s.credentials: jit credentials need a postgres, mysql, ssh or kubernetes connection (a %s target cannot create roles)", p, cn.Kind)
		}
	default:
		add(p+".credentials", "%s.credentials: expected static or jit, got %q", p, cn.Credentials)
	}
	j := &cn.JIT
	if j.TTL == 0 {
		j.TTL = DefaultJITTTL
	}
	if j.IdleTimeout == 0 {
		j.IdleTimeout = DefaultJITIdleTimeout
	}
	if j.ConnectionLimit == 0 {
		j.ConnectionLimit = DefaultJITConnectionLimit
	}
	if j.TTL < time.Minute || j.IdleTimeout < time.Second || j.ConnectionLimit < 1 {
		add(p+".jit", "%s.jit: ttl must be at least 1m, idle_timeout at least 1s and connection_limit at least 1", p)
	}
	if cn.Admin.Env != "" && cn.Admin.File != "" {
		add(p+".admin", "%s.admin: set password_env or password_file, not both", p)
	}
	if cn.Admin.File != "" {
		cn.Admin.File = c.resolve(cn.Admin.File)
	}

	if cn.Kind != KindKubernetes && cn.kubeFieldsSet() {
		add(p, "%s: server, ca_file, ca, kubeconfig, token, namespaces and session_namespace are for kubernetes connections, not %s", p, cn.Kind)
	}
	switch cn.Kind {
	case KindKubernetes:
		errs = append(errs, c.validateKubeConnection(p, cn)...)
	case KindPostgres:
		if cn.Address == "" {
			add(p+".address", "%s: address (host:port) is required for a postgres connection", p)
		} else if _, _, err := net.SplitHostPort(cn.Address); err != nil {
			add(p+".address", "%s.address: expected host:port, got %q", p, cn.Address)
		}
		if cn.Database == "" {
			add(p+".database", "%s: database is required for a postgres connection", p)
		}
		if cn.Admin.User == "" {
			add(p+".admin.user", "%s.admin.user is required for a postgres connection", p)
		}
		if cn.Admin.SecretRef.IsZero() {
			add(p+".admin", "%s.admin: password_env or password_file is required (passwords are never written in this file)", p)
		}
		if cn.SSLMode != "" && !contains(sslModes, cn.SSLMode) {
			add(p+".sslmode", "%s.sslmode: expected one of %s, got %q", p, strings.Join(sslModes, ", "), cn.SSLMode)
		}
		if cn.Path != "" {
			add(p+".path", "%s.path: a postgres connection has an address and database, not a path", p)
		}
		if cn.sshFieldsSet() {
			add(p, "%s: host_key, host_ca and principals are for ssh connections, not postgres", p)
		}
	case KindMySQL:
		errs = append(errs, c.validateMySQLConnection(p, cn)...)
	case KindSSH:
		errs = append(errs, c.validateSSHConnection(p, cn)...)
	case KindSQLite:
		if cn.Path == "" {
			add(p+".path", "%s: path is required for a sqlite connection", p)
		} else {
			cn.Path = c.resolve(cn.Path)
		}
		if cn.Address != "" || cn.Database != "" || cn.Admin.User != "" || !cn.Admin.SecretRef.IsZero() || cn.SSLMode != "" || cn.sshFieldsSet() {
			add(p, "%s: a sqlite connection takes only a path (no address, database, admin or sslmode)", p)
		}
	case "":
		add(p+".kind", "%s: kind is required (postgres, mysql, sqlite, ssh or kubernetes)", p)
	default:
		add(p+".kind", "%s.kind: expected postgres, mysql, sqlite, ssh or kubernetes, got %q", p, cn.Kind)
	}
	return append(errs, c.validateBudget(p, cn)...)
}

func (c *Config) resolve(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// validIdentity accepts names, e-mail addresses and OIDC subjects, but no
// control characters or whitespace.
func validIdentity(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// validateOIDC checks identity.resource, identity.oidc and
// identity.authorization_servers, and applies their defaults.
func (c *Config) validateOIDC() Errors {
	var errs Errors
	add := func(path, format string, args ...any) { errs = append(errs, c.Errorf(path, format, args...)) }
	id := &c.Identity
	if id.Resource != "" {
		if msg := checkHTTPURL(id.Resource); msg != "" {
			add("identity.resource", "identity.resource: %s, got %q", msg, id.Resource)
		}
	} else if len(id.OIDC) > 0 {
		add("identity.oidc", "identity.resource is required with identity.oidc: it is the URL clients use to reach Warden's MCP endpoint (https://warden.example.com/mcp), the audience of the tokens Warden accepts")
	}
	issuers := map[string]bool{}
	names := map[string]bool{}
	for i := range id.OIDC {
		o := &id.OIDC[i]
		p := fmt.Sprintf("identity.oidc[%d]", i)
		switch {
		case o.Issuer == "":
			add(p+".issuer", "%s: issuer is required (the issuer URL, exactly as in the tokens' iss claim)", p)
		case checkHTTPURL(o.Issuer) != "":
			add(p+".issuer", "%s.issuer: %s, got %q", p, checkHTTPURL(o.Issuer), o.Issuer)
		case issuers[o.Issuer]:
			add(p+".issuer", "%s.issuer: issuer %q is listed twice", p, o.Issuer)
		}
		issuers[o.Issuer] = true
		if o.Name == "" {
			o.Name = o.Issuer
		} else if names[o.Name] {
			add(p+".name", "%s.name: name %q is used twice", p, o.Name)
		}
		names[o.Name] = true
		if o.Audience == "" {
			o.Audience = id.Resource
		} else if strings.TrimSpace(o.Audience) != o.Audience {
			add(p+".audience", "%s.audience: %q has leading or trailing spaces", p, o.Audience)
		}
		if o.SubjectClaim == "" {
			o.SubjectClaim = DefaultSubjectClaim
		}
		for _, f := range []struct{ key, v string }{{"subject_claim", o.SubjectClaim}, {"groups_claim", o.GroupsClaim}, {"subject_prefix", o.SubjectPrefix}, {"groups_prefix", o.GroupsPrefix}} {
			if f.v != "" && !validIdentity(f.v) {
				add(p+"."+f.key, "%s.%s: %q must not contain spaces or control characters", p, f.key, f.v)
			}
		}
		for j, sc := range o.Scopes {
			if sc == "" || !validIdentity(sc) {
				add(fmt.Sprintf("%s.scopes[%d]", p, j), "%s.scopes: %q is not a scope (one word, no spaces)", p, sc)
			}
		}
	}
	if len(id.AuthorizationServers) > 0 && len(id.OIDC) == 0 {
		add("identity.authorization_servers", "identity.authorization_servers: set identity.oidc too: Warden accepts tokens only from issuers listed there")
	}
	for j, as := range id.AuthorizationServers {
		if len(id.OIDC) > 0 && !issuers[as] {
			add(fmt.Sprintf("identity.authorization_servers[%d]", j), "identity.authorization_servers: %q is not one of the identity.oidc issuers, so Warden would refuse its tokens", as)
		}
	}
	if len(id.AuthorizationServers) == 0 {
		for _, o := range id.OIDC {
			id.AuthorizationServers = append(id.AuthorizationServers, o.Issuer)
		}
	}
	return errs
}

// checkHTTPURL returns what is wrong with an issuer or resource URL, or "".
// http:// is accepted only for loopback hosts (local development, tests).
func checkHTTPURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "expected an absolute https:// URL"
	}
	if u.Scheme == "http" {
		host := u.Hostname()
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return "expected an https:// URL (http:// is accepted only for localhost)"
		}
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "expected a URL without query, fragment or user information"
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Warnings lists configurations that are valid but weaker than they could
// be, for `warden config check`: those of every front door.
func (c *Config) Warnings() []string {
	return append(c.ServeWarnings(), c.HTTPWarnings()...)
}

// HTTPWarnings are the warnings that apply only to a Warden serving MCP
// over HTTP (warden serve, warden demo), not to a stdio one.
func (c *Config) HTTPWarnings() []string {
	if !c.Identity.AllowAnonymousLoopback {
		return nil
	}
	return []string{fmt.Sprintf("%s:%d: identity.allow_anonymous_loopback is on: any local process (and, behind a reverse proxy on this host, any client) can act as %q over HTTP", c.Path, c.Pos("identity.allow_anonymous_loopback").Line, c.Identity.Local)}
}

// ServeWarnings are the warnings that apply to a Warden serving this
// configuration, whatever its front door.
func (c *Config) ServeWarnings() []string {
	var out []string
	for i, cn := range c.Connections {
		if (cn.Kind == KindPostgres || cn.Kind == KindMySQL) && cn.Credentials == "static" {
			p := c.Pos(fmt.Sprintf("connections[%d]", i))
			out = append(out, fmt.Sprintf("%s:%d: connection %q uses static credentials: agents' SQL runs as %s, not as a just-in-time role scoped to each decision (weaker)", c.Path, p.Line, cn.Name, cn.Admin.User))
		}
	}
	subjects, groups := map[string]string{}, map[string]string{}
	for i, o := range c.Identity.OIDC {
		line := c.Pos(fmt.Sprintf("identity.oidc[%d]", i)).Line
		if other, ok := subjects[o.SubjectPrefix]; ok {
			out = append(out, fmt.Sprintf("%s:%d: identity.oidc issuers %q and %q share subject_prefix %q: the same identity name from either matches the same policy rules (set subject_prefix to keep them apart)", c.Path, line, other, o.Name, o.SubjectPrefix))
		}
		subjects[o.SubjectPrefix] = o.Name
		if o.GroupsClaim == "" {
			continue
		}
		if other, ok := groups[o.GroupsPrefix]; ok {
			out = append(out, fmt.Sprintf("%s:%d: identity.oidc issuers %q and %q share groups_prefix %q: a group named by either grants what policy gives that group (set groups_prefix to keep them apart)", c.Path, line, other, o.Name, o.GroupsPrefix))
		}
		groups[o.GroupsPrefix] = o.Name
	}
	out = append(out, c.maskingWarnings()...)
	out = append(out, c.proxyWarnings()...)
	out = append(out, c.sshWarnings()...)
	return out
}
