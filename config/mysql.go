package config

import (
	"net"
	"strings"
)

// mysqlSSLModes are the sslmode values of a mysql connection: the
// PostgreSQL names Warden uses for every database, which MySQL's own
// --ssl-mode calls DISABLED, PREFERRED, REQUIRED, VERIFY_CA and
// VERIFY_IDENTITY ("allow", plaintext first, has no MySQL equivalent).
var mysqlSSLModes = []string{"disable", "prefer", "require", "verify-ca", "verify-full"}

// validateMySQLConnection checks the fields of a kind: mysql connection
// (MySQL or MariaDB).
func (c *Config) validateMySQLConnection(p string, cn *Connection) Errors {
	var errs Errors
	add := func(path, format string, args ...any) { errs = append(errs, c.Errorf(path, format, args...)) }
	if cn.Address == "" {
		add(p+".address", "%s: address (host:port) is required for a mysql connection", p)
	} else if _, _, err := net.SplitHostPort(cn.Address); err != nil {
		add(p+".address", "%s.address: expected host:port, got %q", p, cn.Address)
	}
	if cn.Database == "" {
		add(p+".database", "%s: database is required for a mysql connection (the default database unqualified table names resolve in)", p)
	}
	if cn.Admin.User == "" {
		add(p+".admin.user", "%s.admin.user is required for a mysql connection", p)
	} else if len(cn.Admin.User) > 80 {
		add(p+".admin.user", "%s.admin.user: %d characters is longer than a MariaDB user name may be (80; MySQL: 32)", p, len(cn.Admin.User))
	}
	if cn.Admin.SecretRef.IsZero() {
		add(p+".admin", "%s.admin: password_env or password_file is required (passwords are never written in this file)", p)
	}
	if cn.SSLMode != "" && !contains(mysqlSSLModes, cn.SSLMode) {
		add(p+".sslmode", "%s.sslmode: expected one of %s for a mysql connection, got %q", p, strings.Join(mysqlSSLModes, ", "), cn.SSLMode)
	}
	if cn.Path != "" {
		add(p+".path", "%s.path: a mysql connection has an address and database, not a path", p)
	}
	if cn.sshFieldsSet() {
		add(p, "%s: host_key, host_ca and principals are for ssh connections, not mysql", p)
	}
	return errs
}
