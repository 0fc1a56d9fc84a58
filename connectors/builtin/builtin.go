package builtin

import (
	"context"
	"log/slog"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/postgres"
	"github.com/wardenhq/warden/connectors/sqlite"
	"github.com/wardenhq/warden/connectors/ssh"
)

// Registry returns the built-in connector kinds.
func Registry() connectors.Registry {
	return connectors.Registry{
		config.KindPostgres: {Open: withLogger(postgres.Open), Classifier: postgres.OfflineClassifier},
		config.KindSQLite:   {Open: withLogger(sqlite.Open), Classifier: sqlite.Classifier},
		// No classifier yet: until policy/cmdclass is the kind's
		// Classifier, ssh connections have none and the gateway refuses
		// their commands.
		config.KindSSH: {Open: ssh.Open},
	}
}

// withLogger adapts a factory that needs only a logger.
func withLogger(open func(context.Context, config.Connection, *slog.Logger) (connectors.Connector, error)) connectors.Factory {
	return func(ctx context.Context, cfg config.Connection, o connectors.OpenOptions) (connectors.Connector, error) {
		return open(ctx, cfg, o.Logger)
	}
}
