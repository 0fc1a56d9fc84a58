package connectors

import (
	"context"
	"fmt"
	"log/slog"
	"sort"

	"github.com/wardenhq/warden/config"
)

// Factory opens a connector for one configured connection. Opening must not
// require the target to be up: connect lazily, report problems on use.
type Factory func(ctx context.Context, cfg config.Connection, logger *slog.Logger) (Connector, error)

// Registry maps connection kinds to factories. The binary builds it
// explicitly from the built-in kinds; there are no init() side effects.
type Registry map[string]Factory

// Open opens every configured connection. On error, those already opened
// are closed.
func (r Registry) Open(ctx context.Context, conns []config.Connection, logger *slog.Logger) (map[string]Connector, error) {
	out := make(map[string]Connector, len(conns))
	for _, c := range conns {
		f, ok := r[c.Kind]
		if !ok {
			CloseAll(out)
			return nil, fmt.Errorf("connection %q: unknown kind %q (this build knows %v)", c.Name, c.Kind, r.Kinds())
		}
		conn, err := f(ctx, c, logger.With("connection", c.Name))
		if err != nil {
			CloseAll(out)
			return nil, fmt.Errorf("connection %q: %w", c.Name, err)
		}
		out[c.Name] = conn
	}
	return out, nil
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
