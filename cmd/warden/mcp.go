package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wardenhq/warden/mcp"
)

func runMCP(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("mcp", `mcp --config warden.yaml

The client on stdin/stdout acts as identity.local; or, when WARDEN_TOKEN is
set, as the caller named by that access token, validated like an HTTP bearer
token against identity.oidc (a token that does not validate stops Warden; it
never falls back to identity.local). Logs go to stderr.`, stdout)
	cfgPath := configFlag(fs)
	logger := logFlags(fs)
	profile := profileFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// A client that closes Warden's stderr (or stdout) as it leaves must
	// not kill it by SIGPIPE at its next log line, in the middle of the
	// session's revocations: writes to a closed pipe fail instead.
	signal.Ignore(syscall.SIGPIPE)
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
	p, err := a.stdioPrincipal(ctx)
	if err != nil {
		return err
	}
	srv := mcp.New(a.tools, mcpOptions(a, log, sessionIdles{}))
	defer srv.Close()
	log.Info("serving MCP on stdio", "identity", p.Subject, "groups", p.Groups, "issuer", p.Issuer)
	if p.Expires.IsZero() {
		return srv.ServeStdio(ctx, os.Stdin, os.Stdout, p)
	}
	// A principal from WARDEN_TOKEN is good until the token expires.
	tctx, cancel := context.WithDeadline(ctx, p.Expires)
	defer cancel()
	err = srv.ServeStdio(tctx, os.Stdin, os.Stdout, p)
	if errors.Is(tctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		return fmt.Errorf("WARDEN_TOKEN expired at %s: start warden mcp again with a fresh token", p.Expires.Format(time.RFC3339))
	}
	return err
}
