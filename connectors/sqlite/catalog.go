package sqlite

import (
	"context"

	"github.com/wardenhq/warden/policy/sqlclass"
)

// Volatility implements sqlclass.FunctionResolver (see sqlclass.SQLite).
func (s *SQLite) Volatility(ctx context.Context, name string) (byte, bool, error) {
	return sqlclass.SQLite{}.Volatility(ctx, name)
}

// TypeKind implements sqlclass.TypeResolver (see sqlclass.SQLite).
func (s *SQLite) TypeKind(ctx context.Context, name string) (byte, bool, error) {
	return sqlclass.SQLite{}.TypeKind(ctx, name)
}
