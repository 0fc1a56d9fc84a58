package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/wardenhq/warden/mcp"
	"github.com/wardenhq/warden/proxy"
)

// maxHeaderBytes bounds the headers of an HTTP request (net/http's default
// is 1 MiB); a bearer token is at most identity.MaxTokenBytes.
const maxHeaderBytes = 64 << 10

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", "serve --config warden.yaml [--listen host:port]", stdout)
	cfgPath := configFlag(fs)
	listen := fs.String("listen", "", "address for MCP over HTTP (default: listen.mcp from the config)")
	idleDefault, idleErr := envDuration("WARDEN_SESSION_IDLE", mcp.DefaultSessionIdle)
	idle := fs.Duration("session-idle", idleDefault,
		"end an MCP session, or a stateless client's Warden session, unused for this long; its just-in-time credentials are revoked (env WARDEN_SESSION_IDLE)")
	logger := logFlags(fs)
	profile := profileFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if idleErr != nil {
		return usageError{idleErr.Error()}
	}
	if *idle < time.Second {
		return usageError{fmt.Sprintf("--session-idle %s: expected at least 1s", *idle)}
	}
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
	addr := a.cfg.Listen.MCP
	if *listen != "" {
		addr = *listen
	}
	return serveHTTPWith(ctx, a, addr, log, *idle, func(url string) {
		fmt.Fprintf(stdout, "Warden is serving MCP at %s\n", url)
	})
}

// mcpOptions are the MCP server's options for app a: sessions end after
// idle (0: the default), a held call run as a task is kept as long as
// its approval request lives, and 15 minutes more to collect its result,
// and a message is at most limits.max_request_bytes.
func mcpOptions(a *app, log *slog.Logger, idle time.Duration) mcp.Options {
	return mcp.Options{Version: version, Logger: log, SessionIdle: idle, TaskTTL: a.cfg.Approvals.TTL + 15*time.Minute,
		MaxRequestBytes: a.cfg.Limits.MaxRequestBytes}
}

// envDuration is the duration in the environment variable k, or def when
// it is not set.
func envDuration(k string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(k)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return def, fmt.Errorf("%s=%q: expected a duration such as 30m", k, v)
	}
	return d, nil
}

// serveHTTP serves the HTTP front door with the default session idle
// timeout until ctx ends, then shuts down gracefully.
func serveHTTP(ctx context.Context, a *app, addr string, log *slog.Logger, ready func(url string)) error {
	return serveHTTPWith(ctx, a, addr, log, 0, ready)
}

// serveHTTPWith is serveHTTP with sessions ending after idle (0: the
// default).
func serveHTTPWith(ctx context.Context, a *app, addr string, log *slog.Logger, idle time.Duration, ready func(url string)) error {
	ident, resource, err := a.httpIdentity(ctx)
	if err != nil {
		return err
	}
	srv := mcp.New(a.tools, mcpOptions(a, log, idle))
	// After the HTTP server has stopped: the sessions' calls have
	// returned, and their credentials are revoked now.
	defer srv.Close()
	mux := http.NewServeMux()
	srv.Mount(mux, mcp.HTTPOptions{Identifier: ident, Resource: resource})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	issuers := map[string]proxy.Issuer{}
	stopProxy, err := startPostgresProxy(ctx, a, issuers, log)
	if err != nil {
		return err
	}
	defer stopProxy()
	stopSSH, err := startSSHProxy(ctx, a, issuers, log)
	if err != nil {
		return err
	}
	defer stopSSH()
	mux.Handle(proxy.TokenPath, proxy.TokenHandler(ident, issuers))

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	// Headers are small in MCP; a request with more is refused (431)
	// before anything reads its Authorization header.
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: maxHeaderBytes}
	if err := a.mountApprovals(mux, ident, ln.Addr().String()); err != nil {
		ln.Close()
		return err
	}
	url := "http://" + ln.Addr().String() + "/mcp"
	log.Info("serving MCP over HTTP", "url", url)
	if ready != nil {
		ready(url)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
