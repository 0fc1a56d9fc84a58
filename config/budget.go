package config

import "time"

// Defaults of a connection's budget.
const (
	// DefaultReservedConnections are Warden's admin connections to a
	// database, outside the budget.
	DefaultReservedConnections = 2
	// DefaultConnectionWait is how long a call waits for a budget slot.
	DefaultConnectionWait = 5 * time.Second
	// DefaultSSHMaxConnections is an ssh connection's budget of SSH
	// connections to the host (each carries up to 8 sessions).
	DefaultSSHMaxConnections = 16
)

// validateBudget checks a connection's budget settings and applies the
// defaults that do not need the server (max_connections of a database
// comes from the server when unset).
func (c *Config) validateBudget(p string, cn *Connection) Errors {
	var errs Errors
	add := func(path, format string, args ...any) { errs = append(errs, c.Errorf(path, format, args...)) }
	if cn.MaxConns != 0 {
		add(p+".max_conns", "%s.max_conns is now max_connections: the budget of connections Warden holds to this target across all sessions (default: a quarter of the server's max_connections)", p)
	}
	if cn.MaxConnections < 0 {
		add(p+".max_connections", "%s.max_connections: must be positive, got %d", p, cn.MaxConnections)
	}
	if cn.ReservedConnections < 0 {
		add(p+".reserved_connections", "%s.reserved_connections: must be positive, got %d", p, cn.ReservedConnections)
	}
	if cn.ConnectionWait < 0 {
		add(p+".connection_wait", "%s.connection_wait: must be positive, got %s", p, cn.ConnectionWait)
	}
	switch cn.Kind {
	case KindPostgres, KindMySQL:
		if cn.ReservedConnections == 0 {
			cn.ReservedConnections = DefaultReservedConnections
		}
	case KindSSH:
		if cn.MaxConnections == 0 {
			cn.MaxConnections = DefaultSSHMaxConnections
		}
		if cn.ReservedConnections != 0 {
			add(p+".reserved_connections", "%s.reserved_connections: an ssh connection needs none (revoking a certificate's sessions needs no new connection)", p)
		}
	case KindSQLite:
		if cn.MaxConnections != 0 || cn.ReservedConnections != 0 || cn.ConnectionWait != 0 {
			add(p, "%s: a sqlite connection has no connection budget (max_connections, reserved_connections, connection_wait)", p)
		}
	}
	if cn.ConnectionWait == 0 {
		cn.ConnectionWait = DefaultConnectionWait
	}
	return errs
}
