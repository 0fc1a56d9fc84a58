package sqlclass

import (
	"context"
	"strings"
)

// SQLite resolves functions and types for statements run on SQLite, which
// has no SQL-level user-defined functions: every function a statement can
// call is built in or registered by the application, and none writes. Only
// load_extension, which loads code, counts as volatile (it is also disabled
// in Warden's driver). Any type name is accepted in a cast and runs no code.
type SQLite struct{}

// Volatility implements FunctionResolver.
func (SQLite) Volatility(_ context.Context, name string) (byte, bool, error) {
	n := strings.ToLower(strings.Trim(name, `"`))
	if strings.Contains(n, ".") {
		return 0, false, nil // SQLite has no schema-qualified functions
	}
	if n == "load_extension" {
		return 'v', true, nil
	}
	return 's', true, nil
}

// TypeKind implements TypeResolver.
func (SQLite) TypeKind(context.Context, string) (byte, bool, error) { return 'b', true, nil }

var (
	_ FunctionResolver = SQLite{}
	_ TypeResolver     = SQLite{}
)
