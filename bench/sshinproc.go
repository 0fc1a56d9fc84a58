package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/builtin"
	"github.com/wardenhq/warden/credentials"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/masking"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/tools"
	toolsbuiltin "github.com/wardenhq/warden/tools/builtin"
	sshtools "github.com/wardenhq/warden/tools/ssh"
)

// wardenExecInProcessTarget calls exec_ssh through Warden's pipeline in
// this process, with the configuration warden serve has (classification,
// policy, audit to SQLite, a certificate per session, every detector),
// but no MCP transport: what it costs above the direct client is the
// governance alone. The clients share one session, so one certificate.
func wardenExecInProcessTarget(h *sshHost, dir string) target {
	return target{name: "warden exec_ssh in process", open: func(ctx context.Context, clients int, command string) ([]caller, func(), error) {
		d, err := os.MkdirTemp(dir, "inproc")
		if err != nil {
			return nil, nil, err
		}
		path := filepath.Join(d, "warden.yaml")
		cfg, err := config.Parse(path, []byte(wardenSSHConfig(h, "", filepath.Join(d, "audit.db"))))
		if err != nil {
			return nil, nil, err
		}
		logger := slog.New(slog.DiscardHandler)
		engine, err := policy.Compile(cfg, tools.Names(toolsbuiltin.Tools()))
		if err != nil {
			return nil, nil, err
		}
		masker, err := masking.New(cfg)
		if err != nil {
			return nil, nil, err
		}
		store, err := auditsqlite.Open(ctx, filepath.Join(d, "audit.db"), nil)
		if err != nil {
			return nil, nil, err
		}
		conns, err := builtin.Registry().Open(ctx, cfg.Connections, connectors.OpenOptions{Logger: logger, SSHCA: cfg.SSHCA})
		if err != nil {
			store.Close()
			return nil, nil, err
		}
		creds := credentials.New(store, conns, cfg.Connections, logger)
		if err := creds.Start(ctx); err != nil {
			store.Close()
			return nil, nil, err
		}
		cat, err := toolsbuiltin.Open(gateway.Options{Connections: conns, Decider: engine, Minter: creds, Masker: masker, Recorder: store, Limits: cfg.Limits})
		if err != nil {
			store.Close()
			return nil, nil, err
		}
		caller := gateway.Caller{Principal: identity.Principal{Subject: "bench", Groups: []string{"bench"}, Issuer: "local"},
			Transport: gateway.TransportStdio, Session: "bench-inproc"}
		args, _ := json.Marshal(map[string]any{"connection": "host", "command": command})
		call := func(ctx context.Context) error {
			res, err := cat.Call(ctx, caller, sshtools.ToolExecSSH, args)
			if err != nil {
				return err
			}
			if r := res.Structured.(*sshtools.ExecResult); r.ExitStatus != 0 {
				return fmt.Errorf("exit status %d", r.ExitStatus)
			}
			return nil
		}
		return repeat(call, clients), func() {
			cat.Gateway().Close()
			store.Close()
		}, nil
	}}
}
