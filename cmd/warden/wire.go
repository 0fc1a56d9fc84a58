package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/wardenhq/warden/approvals"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors/builtin"
	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/masking"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/tools"
)

// app is a wired Warden: configuration, store and pipeline.
type app struct {
	cfg      *config.Config
	stores   *stores
	pipeline *tools.Pipeline
	users    identity.Directory
	logger   *slog.Logger

	// approvals is the approval workflow (the hold stage); webhooks tell
	// people of its requests.
	approvals *approvals.Service
	webhooks  *approvals.Webhooks
}

// loadConfig loads and checks configuration and policy together.
func loadConfig(path string) (*config.Config, *policy.Engine, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	engine, err := policy.Compile(cfg, tools.Names())
	if err != nil {
		return nil, nil, err
	}
	return cfg, engine, nil
}

func openApp(ctx context.Context, path string, logger *slog.Logger) (*app, error) {
	cfg, engine, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	masker, err := masking.New(cfg)
	if err != nil {
		return nil, err
	}
	st, err := openStores(ctx, cfg.Store, logger)
	if err != nil {
		return nil, err
	}
	store := st.audit
	conns, err := builtin.Registry().Open(ctx, cfg.Connections, logger)
	if err != nil {
		st.Close()
		return nil, err
	}
	creds := tools.NewCredentials(store, conns, cfg.Connections, logger.With("component", "credentials"))
	if err := creds.Start(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("start the credential reaper: %w", err)
	}
	holder, hooks, err := newApprovals(cfg, st, logger)
	if err != nil {
		creds.Close(context.Background())
		st.Close()
		return nil, err
	}
	p, err := tools.New(tools.Options{
		Connections: conns,
		Decider:     engine,
		Holder:      holder,
		Minter:      creds,
		Masker:      masker,
		Recorder:    store,
		Limits:      cfg.Limits,
		Logger:      logger.With("component", "pipeline"),
	})
	if err != nil {
		creds.Close(context.Background())
		st.Close()
		return nil, err
	}
	users := identity.Directory{}
	for _, u := range cfg.Identity.Users {
		users[u.Name] = u.Groups
	}
	for _, w := range cfg.Warnings() {
		logger.Warn(w)
	}
	logger.Info("warden ready", "config", cfg.Path, "connections", len(cfg.Connections), "rules", len(cfg.Rules), "policy_version", engine.Version(), "store", redactDSN(cfg.Store))
	holder.Start()
	return &app{cfg: cfg, stores: st, pipeline: p, users: users, logger: logger, approvals: holder, webhooks: hooks}, nil
}

func (a *app) Close() error {
	a.approvals.Close()
	if a.webhooks != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		a.webhooks.Close(ctx)
		cancel()
	}
	err := a.pipeline.Close()
	if serr := a.stores.Close(); serr != nil && err == nil {
		err = serr
	}
	return err
}

// localPrincipal is the identity of a stdio client.
func (a *app) localPrincipal() (identity.Principal, error) {
	if a.cfg.Identity.Local == "" {
		return identity.Principal{}, fmt.Errorf("%s: identity.local is not set, so a stdio client has no identity", a.cfg.Path)
	}
	return a.users.Principal(a.cfg.Identity.Local, "local"), nil
}
