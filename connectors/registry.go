package connectors

import (
	"context"
	"fmt"
	"log/slog"
	"sort"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/policy"
)

// Factory opens a connector for one configured connection. Opening must not
// require the target to be up: connect lazily, report problems on use.
type Factory func(ctx context.Context, cfg config.Connection, logger *slog.Logger) (Connector, error)

// Kind is one target kind a build knows.
type Kind struct {
	// Open opens a connector for a connection of the kind.
	Open Factory
	// Classifier, when the kind has statements, returns the classifier of
	// a configured connection without its target (no catalog look-ups:
	// what is not built in counts as a write), for `warden policy
	// explain` and `policy test`.
	Classifier func(cfg config.Connection) policy.Classifier
}

// Registry maps connection kinds to what the build knows of them. The
// binary builds it explicitly from the built-in kinds; there are no
// init() side effects.
type Registry map[string]Kind

// Open opens every configured connection. On error, those already opened
// are closed.
func (r Registry) Open(ctx context.Context, conns []config.Connection, logger *slog.Logger) (map[string]Connector, error) {
	out := make(map[string]Connector, len(conns))
	for _, c := range conns {
		k, ok := r[c.Kind]
		if !ok {
			CloseAll(out)
			return nil, fmt.Errorf("connection %q: unknown kind %q (this build knows %v)", c.Name, c.Kind, r.Kinds())
		}
		conn, err := k.Open(ctx, c, logger.With("connection", c.Name))
		if err != nil {
			CloseAll(out)
			return nil, fmt.Errorf("connection %q: %w", c.Name, err)
		}
		out[c.Name] = conn
	}
	return out, nil
}

// Classifiers returns the offline classifier of a configured connection,
// nil for a kind without one (or unknown).
func (r Registry) Classifiers(cfg config.Connection) policy.Classifier {
	if k, ok := r[cfg.Kind]; ok && k.Classifier != nil {
		return k.Classifier(cfg)
	}
	return nil
}

// Kinds lists the registered kinds.
func (r Registry) Kinds() []string {
	var ks []string
	for k := range r {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// CloseAll closes every connector in m.
func CloseAll(m map[string]Connector) {
	for _, c := range m {
		c.Close()
	}
}
