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
	// Include names more files of rules (globs, relative to this file).
	Include []string `yaml:"include"`

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
	SSLMode     string `yaml:"sslmode"`
	MaxConns    int    `yaml:"max_conns"`
}

// Admin is the credential Warden holds for a connection.
type Admin struct {
	User      string `yaml:"user"`
	SecretRef `yaml:",inline"`
}

// Connection kinds understood by this build.
const (
	KindPostgres = "postgres"
	KindSQLite   = "sqlite"
)

// Defaults applied when the file leaves a limit unset.
const (
	DefaultMaxSQLBytes      = 64 << 10
	DefaultDefaultMaxRows   = 200
	DefaultMaxRows          = 10000
	DefaultStatementTimeout = 30 * time.Second
	DefaultListen           = "127.0.0.1:8080"
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
