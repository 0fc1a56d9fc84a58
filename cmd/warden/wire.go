package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/wardenhq/warden/approvals"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/builtin"
	"github.com/wardenhq/warden/credentials"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/masking"
	"github.com/wardenhq/warden/policy"
	kubeproxy "github.com/wardenhq/warden/proxy/kubernetes"
	sshproxy "github.com/wardenhq/warden/proxy/ssh"
	"github.com/wardenhq/warden/tools"
	toolsbuiltin "github.com/wardenhq/warden/tools/builtin"
)

// app is a wired Warden: configuration, store, gateway and catalogue.
type app struct {
	cfg     *config.Config
	stores  *stores
	gateway *gateway.Gateway
	tools   *tools.Catalogue
	users   identity.Directory
	logger  *slog.Logger

	// approvals is the approval workflow (the hold stage); webhooks tell
	// people of its requests.
	approvals *approvals.Service
	webhooks  *approvals.Webhooks

	// stops are the parts' cleanups in start order; Close runs them in
	// reverse, as does a start that fails half way.
	stops []func() error
}

// loadConfig loads and checks configuration and policy together; any
// problem is an error (config.Errors listing every one).
func loadConfig(path string) (*config.Config, *policy.Engine, error) {
	cfg, engine, err := checkConfig(path)
	if err != nil {
		return nil, nil, err
	}
	return cfg, engine, nil
}

// policyTools are the names rules may use in tools: the MCP tools and the
// proxies' own operations (ssh_shell, ssh_sftp).
func policyTools() []string {
	return append(append(tools.Names(toolsbuiltin.Tools()), sshproxy.Tools()...), kubeproxy.Tools()...)
}

// compilePolicy compiles cfg's rules for the tools this build has, those
// held for review by default (kubectl_delete) among them.
func compilePolicy(cfg *config.Config) (*policy.Engine, error) {
	return policy.Compile(cfg, policyTools(), policy.ReviewByDefault(tools.Reviewed(toolsbuiltin.Tools())...))
}

// checkConfig is loadConfig for a report (config check, policy check): the
// error lists every problem of the configuration and of its policy, in
// file and line order, and cfg is then what could be decoded (nil when the
// file could not be read or parsed), to count; engine is nil.
func checkConfig(path string) (*config.Config, *policy.Engine, error) {
	cfg, err := config.Check(path)
	if cfg == nil {
		return nil, nil, err
	}
	// Policy compiles what decoded even when the configuration has
	// problems, so that its own (unknown tools, conditions) are reported
	// in the same run.
	engine, perr := compilePolicy(cfg)
	if err := cfg.Combine(err, perr); err != nil {
		return cfg, nil, err
	}
	return cfg, engine, nil
}

// problems lists err as configuration errors: each of a config.Errors,
// or err itself as a problem of the file at path (one that cannot be read).
func problems(path string, err error) []*config.Error {
	if err == nil {
		return []*config.Error{}
	}
	if es := config.AsErrors(err); es != nil {
		return es
	}
	return []*config.Error{{File: path, Msg: err.Error()}}
}

// offlineClassifiers classifies statements as each connection's kind
// would, without its target (policy explain and test).
func offlineClassifiers(conn config.Connection) policy.Classifier {
	return builtin.Registry().Classifiers(conn)
}

// openApp starts the parts in one order: store, connectors, credentials
// (with the reaper), approvals, gateway, catalogue. Close stops them in
// the reverse order.
func openApp(ctx context.Context, path string, logger *slog.Logger) (a *app, err error) {
	cfg, engine, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	masker, err := masking.New(cfg)
	if err != nil {
		return nil, err
	}
	a = &app{cfg: cfg, logger: logger, users: identity.Directory{}}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	so, err := configStoreOptions(cfg, logger)
	if err != nil {
		return nil, err
	}
	if a.stores, err = openStores(ctx, cfg.Store, so); err != nil {
		return nil, err
	}
	a.stops = append(a.stops, a.stores.Close)
	store := a.stores.audit
	conns, err := builtin.Registry().Open(ctx, cfg.Connections, connectors.OpenOptions{Logger: logger, SSHCA: cfg.SSHCA})
	if err != nil {
		return nil, err
	}
	creds := credentials.New(store, conns, cfg.Connections, logger.With("component", "credentials"))
	if err := creds.Start(ctx); err != nil {
		for _, c := range conns {
			c.Close()
		}
		return nil, fmt.Errorf("start the credential reaper: %w", err)
	}
	// The gateway owns the connectors and the credentials from here on:
	// its Close revokes every credential, then closes the connectors.
	a.stops = append(a.stops, func() error {
		if a.gateway != nil {
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		creds.Close(ctx)
		for _, c := range conns {
			c.Close()
		}
		return nil
	})
	if a.approvals, a.webhooks, err = newApprovals(cfg, a.stores, logger); err != nil {
		return nil, err
	}
	a.stops = append(a.stops, func() error {
		a.approvals.Close()
		if a.webhooks != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			a.webhooks.Close(ctx)
			cancel()
		}
		return nil
	})
	g, err := gateway.New(gateway.Options{
		Connections: conns,
		Decider:     engine,
		Holder:      a.approvals,
		Minter:      creds,
		Masker:      masker,
		Recorder:    store,
		Limits:      cfg.Limits,
		Logger:      logger.With("component", "gateway"),
	})
	if err != nil {
		return nil, err
	}
	a.gateway = g
	a.stops = append(a.stops, g.Close)
	a.tools = tools.New(g, toolsbuiltin.Tools())
	for _, u := range cfg.Identity.Users {
		a.users[u.Name] = u.Groups
	}
	// Those of the HTTP front door only are logged where it starts.
	for _, w := range cfg.ServeWarnings() {
		logger.Warn(w)
	}
	logger.Info("warden ready", "config", cfg.Path, "connections", len(cfg.Connections), "rules", len(cfg.Rules), "policy_version", engine.Version(), "store", redactDSN(cfg.Store))
	a.approvals.Start()
	return a, nil
}

// Close stops every part that started, the last started first.
func (a *app) Close() error {
	var errs []error
	for i := len(a.stops) - 1; i >= 0; i-- {
		errs = append(errs, a.stops[i]())
	}
	a.stops = nil
	return errors.Join(errs...)
}

// localPrincipal is the identity of a stdio client.
func (a *app) localPrincipal() (identity.Principal, error) {
	if a.cfg.Identity.Local == "" {
		return identity.Principal{}, fmt.Errorf("%s: identity.local is not set, so a stdio client has no identity", a.cfg.Path)
	}
	return a.users.Principal(a.cfg.Identity.Local, "local"), nil
}
