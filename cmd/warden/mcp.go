package main

import (
	"context"
	"io"
	"os"

	"github.com/wardenhq/warden/mcp"
)

func runMCP(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("mcp", "mcp --config warden.yaml", stdout)
	cfgPath := configFlag(fs)
	logger := logFlags(fs)
	profile := profileFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// stdout carries the protocol: logs go to stderr only.
	log, err := logger(stderr)
	if err != nil {
		return err
	}
	stopProfile, err := profile()
	if err != nil {
		return err
	}
	defer stopProfile()
	a, err := openApp(ctx, *cfgPath, log)
	if err != nil {
		return err
	}
	defer a.Close()
	p, err := a.localPrincipal()
	if err != nil {
		return err
	}
	mcp.Version = version
	srv := mcp.New(a.pipeline, log)
	log.Info("serving MCP on stdio", "identity", p.Subject)
	return srv.ServeStdio(ctx, os.Stdin, os.Stdout, p)
}
