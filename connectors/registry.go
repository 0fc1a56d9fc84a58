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
type Factory func(ctx context.Context, cfg config.Connection, opts OpenOptions) (Connector, error)

// OpenOptions is what a factory gets besides its connection's settings.
// Each kind uses what it needs and ignores the rest.
type OpenOptions struct {
	// Logger is the connection's logger (Registry.Open adds the
	// connection's name); nil discards.
	Logger *slog.Logger
	// SSHCA is where Warden's SSH user CA key is (config ssh_ca), for the
	// kinds that sign certificates with it.
	SSHCA config.SSHCA
	// Classifier, when set, gives the classifier of a connection whose
	// kind has no grammar of its own inside its connector (ssh commands).
	// When nil, Registry.Open passes the kind's Classifier. A kind that
	// needs one and gets none has no classifier, and the gateway refuses
	// its statements (fail closed).
	Classifier func(cfg config.Connection) policy.Classifier
}

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
func (r Registry) Open(ctx context.Context, conns []config.Connection, opts OpenOptions) (map[string]Connector, error) {
	out := make(map[string]Connector, len(conns))
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	for _, c := range conns {
		k, ok := r[c.Kind]
		if !ok {
			CloseAll(out)
			return nil, fmt.Errorf("connection %q: unknown kind %q (this build knows %v)", c.Name, c.Kind, r.Kinds())
		}
		o := opts
		o.Logger = logger.With("connection", c.Name)
		if o.Classifier == nil {
			o.Classifier = k.Classifier
		}
		conn, err := k.Open(ctx, c, o)
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
