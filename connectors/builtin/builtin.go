package builtin

import (
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/postgres"
	"github.com/wardenhq/warden/connectors/sqlite"
)

// Registry returns the built-in connector kinds.
func Registry() connectors.Registry {
	return connectors.Registry{
		config.KindPostgres: {Open: postgres.Open, Classifier: postgres.OfflineClassifier},
		config.KindSQLite:   {Open: sqlite.Open, Classifier: sqlite.Classifier},
	}
}
