package config

// DefaultMaxRequestBytes is the default of limits.max_request_bytes: an
// MCP message far larger than any call's arguments need.
const DefaultMaxRequestBytes = 1 << 20

// requestMargin is what a message needs beyond its SQL by default: the
// JSON-RPC envelope and the call's other arguments.
const requestMargin = 64 << 10

// validateRequestBytes applies the default of limits.max_request_bytes
// (1 MiB, or max_sql_bytes and a margin when that is more, so that a
// statement the limits admit always fits in a message) and checks it.
func (c *Config) validateRequestBytes() Errors {
	l := &c.Limits
	switch {
	case l.MaxRequestBytes == 0:
		l.MaxRequestBytes = max(DefaultMaxRequestBytes, l.MaxSQLBytes+requestMargin)
	case l.MaxRequestBytes < 0:
		return Errors{c.Errorf("limits.max_request_bytes", "limits.max_request_bytes: must be positive, got %d", l.MaxRequestBytes)}
	}
	return nil
}
