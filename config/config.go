package config

import "time"

// Config is the whole of warden.yaml.
type Config struct {
	Listen      Listen       `yaml:"listen"`
	Store       string       `yaml:"store"`
	Identity    Identity     `yaml:"identity"`
	Limits      Limits       `yaml:"limits"`
	Connections []Connection `yaml:"connections"`
	Rules       []Rule       `yaml:"rules"`
	Approvals   Approvals    `yaml:"approvals"`
	// Include names more files of rules (globs, relative to this file).
	Include []string `yaml:"include"`
	// Masking holds the masking profiles rules name (masking.go).
	Masking MaskingConfig `yaml:"masking"`
	// Proxy configures the wire-protocol proxies (proxy.go).
	Proxy Proxy `yaml:"proxy"`
	// SSHCA is Warden's SSH user certificate authority, which signs the
	// certificates of ssh connections (ssh.go).
	SSHCA SSHCA `yaml:"ssh_ca"`
	// Audit configures the audit log: its signing key, its checkpoints
	// (audit.go).
	Audit Audit `yaml:"audit"`

	// Path is the file the configuration was read from; Dir its directory.
	// Relative paths in the file are resolved against Dir.
	Path string `yaml:"-"`
	Dir  string `yaml:"-"`

	pos     positions
	ruleSrc []ruleSource
}

// Listen holds the addresses Warden serves on.
type Listen struct {
	// MCP is the streamable-HTTP address; the MCP endpoint is /mcp.
	MCP string `yaml:"mcp"`
	// Postgres is the PostgreSQL wire-protocol proxy's address; empty: off.
	Postgres string `yaml:"postgres"`
	// SSH is the SSH proxy's address; empty: off.
	SSH string `yaml:"ssh"`
	// MySQL is the MySQL wire-protocol proxy's address; empty: off.
	MySQL string `yaml:"mysql"`
	// Kubernetes is the Kubernetes API proxy's address (HTTPS); empty: off.
	Kubernetes string `yaml:"kubernetes"`
}

// Identity says who callers are.
type Identity struct {
	// Local is the identity of a stdio client.
	Local string `yaml:"local"`
	// AllowAnonymousLoopback lets HTTP clients connecting from a loopback
	// address without credentials act as the local identity. For demos.
	AllowAnonymousLoopback bool `yaml:"allow_anonymous_loopback"`
	// Users are statically known identities and their groups.
	Users []User `yaml:"users"`
	// Resource is the URL clients use to reach Warden's MCP endpoint
	// (https://warden.example.com/mcp): the audience bearer tokens must
	// carry, and the resource of its RFC 9728 metadata. Required with OIDC.
	Resource string `yaml:"resource"`
	// AuthorizationServers are the issuers Warden's RFC 9728 metadata names
	// for clients to get tokens from (default: every OIDC issuer, in order).
	AuthorizationServers []string `yaml:"authorization_servers"`
	// OIDC are the token issuers Warden trusts for HTTP (and WARDEN_TOKEN).
	OIDC []OIDCIssuer `yaml:"oidc"`
}

// OIDCIssuer is one trusted OpenID Connect issuer of bearer tokens.
type OIDCIssuer struct {
	// Name names the issuer in logs (default: the issuer URL).
	Name string `yaml:"name"`
	// Issuer is the issuer URL, exactly as in its tokens' iss claim; its
	// discovery document is at Issuer + /.well-known/openid-configuration.
	Issuer string `yaml:"issuer"`
	// Audience is what the aud claim must contain (default: identity.resource).
	Audience string `yaml:"audience"`
	// SubjectClaim names the claim that is the caller's identity (default "sub").
	SubjectClaim string `yaml:"subject_claim"`
	// SubjectPrefix is prepended to identities from this issuer, to keep
	// issuers apart in policy ("machines:").
	SubjectPrefix string `yaml:"subject_prefix"`
	// GroupsClaim names the claim holding the caller's groups: a list, or a
	// string separated by spaces or commas. Unset: no groups.
	GroupsClaim string `yaml:"groups_claim"`
	// GroupsPrefix is prepended to every group from this issuer.
	GroupsPrefix string `yaml:"groups_prefix"`
	// Scopes must all be granted to the token (scope or scp claim);
	// a token without them gets 403.
	Scopes []string `yaml:"scopes"`
}

// User is a statically configured identity.
type User struct {
	Name   string   `yaml:"name"`
	Groups []string `yaml:"groups"`
}

// Limits bound what a single call may ask for.
type Limits struct {
	MaxSQLBytes      int           `yaml:"max_sql_bytes"`
	DefaultMaxRows   int           `yaml:"default_max_rows"`
	MaxRows          int           `yaml:"max_rows"`
	StatementTimeout time.Duration `yaml:"statement_timeout"`
	// MaxRequestBytes bounds one MCP message: an HTTP request body, a
	// line on stdio (limits.go).
	MaxRequestBytes int `yaml:"max_request_bytes"`
}

// Connection is one target Warden governs.
type Connection struct {
	Name     string            `yaml:"name"`
	Kind     string            `yaml:"kind"`
	Address  string            `yaml:"address"`
	Database string            `yaml:"database"`
	Path     string            `yaml:"path"`
	Labels   map[string]string `yaml:"labels"`
	Admin    Admin             `yaml:"admin"`
	// Credentials is "static" (Warden uses the admin credential) or "jit".
	Credentials string `yaml:"credentials"`
	// JIT tunes just-in-time credentials (credentials: jit).
	JIT     JIT    `yaml:"jit"`
	SSLMode string `yaml:"sslmode"`
	// MaxConnections is the connection budget: how many connections
	// Warden holds open to the target at once, across every session and
	// both front doors (default: a quarter of the server's own
	// max_connections). ReservedConnections are Warden's admin
	// connections (mint, revoke, kill, reaper) outside the budget, so
	// that revocation always gets through (default 2). ConnectionWait is
	// how long a call waits in line for a slot of a full budget before it
	// fails (default 5s).
	MaxConnections      int           `yaml:"max_connections"`
	ReservedConnections int           `yaml:"reserved_connections"`
	ConnectionWait      time.Duration `yaml:"connection_wait"`
	// MaxConns is the former name of max_connections, refused with a
	// pointer to it.
	MaxConns int `yaml:"max_conns"`

	// HostKey pins an ssh connection's host key: one public key, as an
	// authorized_keys line ("ssh-ed25519 AAAA...") or a known_hosts line
	// ("host ssh-ed25519 AAAA..."). HostCA instead pins the CA that signs
	// the host's certificate (a "@cert-authority" known_hosts line or its
	// public key). Exactly one is required: an unknown or changed host
	// key refuses the connection (ssh.go).
	HostKey string `yaml:"host_key"`
	HostCA  string `yaml:"host_ca"`
	// Principals are the remote users of an ssh connection a rule may
	// grant (grants.principal).
	Principals []string `yaml:"principals"`
	// SourceAddress is what an ssh connection's certificates allow logins
	// from (their source-address option: addresses or CIDR blocks), when
	// the host sees Warden connect from another address than Warden's own
	// route to it says (NAT). Default: that route's local address.
	SourceAddress []string `yaml:"source_address"`

	// Kube are the fields of a kubernetes connection (kubernetes.go).
	Kube KubeSettings `yaml:",inline"`
}

// JIT tunes the just-in-time credentials of a connection.
type JIT struct {
	// TTL is how long a minted credential lives at most (VALID UNTIL).
	TTL time.Duration `yaml:"ttl"`
	// IdleTimeout revokes a session's credential unused for this long.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ConnectionLimit is the CONNECTION LIMIT of a minted role.
	ConnectionLimit int `yaml:"connection_limit"`
}

// Defaults of just-in-time credentials.
const (
	DefaultJITTTL             = time.Hour
	DefaultJITIdleTimeout     = 15 * time.Minute
	DefaultJITConnectionLimit = 4
)

// Admin is the credential Warden holds for a connection.
type Admin struct {
	User      string `yaml:"user"`
	SecretRef `yaml:",inline"`
}

// Connection kinds understood by this build.
const (
	KindPostgres = "postgres"
	KindMySQL    = "mysql"
	KindSQLite   = "sqlite"
	KindSSH      = "ssh"
)

// Defaults applied when the file leaves a limit unset.
const (
	DefaultMaxSQLBytes      = 64 << 10
	DefaultDefaultMaxRows   = 200
	DefaultMaxRows          = 10000
	DefaultStatementTimeout = 30 * time.Second
	DefaultListen           = "127.0.0.1:8080"
	DefaultSubjectClaim     = "sub"
)

// Connection returns the connection with the given name.
func (c *Config) Connection(name string) (*Connection, bool) {
	for i := range c.Connections {
		if c.Connections[i].Name == name {
			return &c.Connections[i], true
		}
	}
	return nil, false
}

// Groups returns the configured groups of a static identity.
func (c *Config) Groups(identity string) []string {
	for _, u := range c.Identity.Users {
		if u.Name == identity {
			return u.Groups
		}
	}
	return nil
}
