package gateway

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"time"

	"github.com/wardenhq/warden/approvals"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/credentials"
	"github.com/wardenhq/warden/masking"
)

// Options wire the stages of a Gateway.
type Options struct {
	Connections map[string]connectors.Connector
	Decider     Decider
	Holder      Holder   // default: approvals.Disabled
	Minter      Minter   // default: credentials.Static
	Masker      Masker   // default: masking.None
	Recorder    Recorder // required
	Limits      config.Limits
	Logger      *slog.Logger
}

// Gateway runs governed operations. It is safe for concurrent use.
type Gateway struct {
	conns    map[string]connectors.Connector
	names    []string
	decider  Decider
	holder   Holder
	minter   Minter
	masker   Masker
	recorder Recorder
	limits   config.Limits
	logger   *slog.Logger
}

// New builds a gateway. Decider and Recorder are required: there is no
// default that allows, and no running without an audit trail.
func New(o Options) (*Gateway, error) {
	if o.Decider == nil {
		return nil, errors.New("gateway: a Decider is required")
	}
	if o.Recorder == nil {
		return nil, errors.New("gateway: a Recorder is required")
	}
	g := &Gateway{
		conns:    o.Connections,
		decider:  o.Decider,
		holder:   o.Holder,
		minter:   o.Minter,
		masker:   o.Masker,
		recorder: o.Recorder,
		limits:   o.Limits,
		logger:   o.Logger,
	}
	if g.holder == nil {
		g.holder = approvals.Disabled{}
	}
	if g.minter == nil {
		g.minter = credentials.Static{}
	}
	if g.masker == nil {
		g.masker = masking.None{}
	}
	if g.logger == nil {
		g.logger = slog.New(slog.DiscardHandler)
	}
	l := &g.limits
	if l.MaxSQLBytes <= 0 {
		l.MaxSQLBytes = config.DefaultMaxSQLBytes
	}
	if l.MaxRows <= 0 {
		l.MaxRows = config.DefaultMaxRows
	}
	if l.DefaultMaxRows <= 0 || l.DefaultMaxRows > l.MaxRows {
		l.DefaultMaxRows = min(config.DefaultDefaultMaxRows, l.MaxRows)
	}
	if l.StatementTimeout <= 0 {
		l.StatementTimeout = config.DefaultStatementTimeout
	}
	for n := range g.conns {
		g.names = append(g.names, n)
	}
	sort.Strings(g.names)
	return g, nil
}

// Connection returns the connector of a configured connection.
func (g *Gateway) Connection(name string) (connectors.Connector, bool) {
	c, ok := g.conns[name]
	return c, ok && name != ""
}

// Connections lists the configured connections' names, sorted.
func (g *Gateway) Connections() []string { return g.names }

// Limits are the configured limits, defaults applied.
func (g *Gateway) Limits() config.Limits { return g.limits }

// Decider is the decide stage, for front doors that describe what a
// caller may do (list_connections, tool hints).
func (g *Gateway) Decider() Decider { return g.decider }

// Holder is the hold stage, for the tools that follow held calls.
func (g *Gateway) Holder() Holder { return g.holder }

// Logger is the gateway's logger.
func (g *Gateway) Logger() *slog.Logger { return g.logger }

// EndSession ends a session: its just-in-time credentials are revoked at
// once. Front doors call it when an MCP session closes or a client
// disconnects.
func (g *Gateway) EndSession(ctx context.Context, session string) {
	g.minter.EndSession(ctx, session)
}

// Close revokes every credential the gateway minted and closes every
// connector.
func (g *Gateway) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	g.minter.Close(ctx)
	cancel()
	var errs []error
	for _, c := range g.conns {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
