package builtin

import (
	"context"
	"log/slog"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/kubernetes"
	"github.com/wardenhq/warden/connectors/mysql"
	"github.com/wardenhq/warden/connectors/postgres"
	"github.com/wardenhq/warden/connectors/sqlite"
	"github.com/wardenhq/warden/connectors/ssh"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/policy/cmdclass"
)

// Registry returns the built-in connector kinds.
func Registry() connectors.Registry {
	return connectors.Registry{
		config.KindPostgres: {Open: withLogger(postgres.Open), Classifier: postgres.OfflineClassifier},
		config.KindMySQL:    {Open: withLogger(mysql.Open), Classifier: mysql.OfflineClassifier},
		config.KindSQLite:   {Open: withLogger(sqlite.Open), Classifier: sqlite.Classifier},
		config.KindSSH:      {Open: ssh.Open, Classifier: shellClassifier},
		// Kubernetes requests are classified by their tools (policy/kubeclass
		// over the cluster's discovery); the kind's Classifier is for
		// policy explain and test, over the built-in discovery.
		config.KindKubernetes: {Open: kubernetes.Open, Classifier: kubernetes.OfflineClassifier},
	}
}

// shellClassifier classifies the command lines of an ssh connection
// (policy/cmdclass; its defaults: no substitutions, HOME/USER/LOGNAME).
func shellClassifier(config.Connection) policy.Classifier {
	return cmdclass.New(cmdclass.Options{})
}

// withLogger adapts a factory that needs only a logger.
func withLogger(open func(context.Context, config.Connection, *slog.Logger) (connectors.Connector, error)) connectors.Factory {
	return func(ctx context.Context, cfg config.Connection, o connectors.OpenOptions) (connectors.Connector, error) {
		return open(ctx, cfg, o.Logger)
	}
}
