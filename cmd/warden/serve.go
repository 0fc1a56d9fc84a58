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
		"end an MCP session unused for this long; its just-in-time credentials are revoked (env WARDEN_SESSION_IDLE)")
	statelessDefault, statelessErr := envDuration("WARDEN_STATELESS_IDLE", mcp.DefaultStatelessIdle)
	stateless := fs.Duration("stateless-idle", statelessDefault,
		"end a stateless client's Warden session (revision 2026-07-28, no MCP session) unused for this long; its just-in-time credentials are revoked (env WARDEN_STATELESS_IDLE)")
	logger := logFlags(fs)
	profile := profileFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	for _, err := range []error{idleErr, statelessErr} {
		if err != nil {
			return usageError{err.Error()}
		}
	}
	if *idle < time.Second {
		return usageError{fmt.Sprintf("--session-idle %s: expected at least 1s", *idle)}
	}
	if *stateless < time.Second {
		return usageError{fmt.Sprintf("--stateless-idle %s: expected at least 1s", *stateless)}
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
	return serveHTTPWith(ctx, a, addr, log, sessionIdles{session: *idle, stateless: *stateless}, func(url string) {
		fmt.Fprintf(stdout, "Warden is serving MCP at %s\n", url)
	})
}

// mcpOptions are the MCP server's options for app a: sessions end after
// idle (0: the default), a held call run as a task is kept as long as
// its approval request lives, and 15 minutes more to collect its result,
// and a message is at most limits.max_request_bytes.
func mcpOptions(a *app, log *slog.Logger, idle sessionIdles) mcp.Options {
	return mcp.Options{Version: version, Logger: log, SessionIdle: idle.session, StatelessIdle: idle.stateless,
		TaskTTL: a.cfg.Approvals.TTL + 15*time.Minute, MaxRequestBytes: a.cfg.Limits.MaxRequestBytes}
}

// sessionIdles end sessions unused for so long (0: the defaults): MCP
// sessions, and stateless callers' Warden sessions.
type sessionIdles struct{ session, stateless time.Duration }

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
	return serveHTTPWith(ctx, a, addr, log, sessionIdles{}, ready)
}

// serveHTTPWith is serveHTTP with sessions ending after idle (0: the
// default).
func serveHTTPWith(ctx context.Context, a *app, addr string, log *slog.Logger, idle sessionIdles, ready func(url string)) error {
	ident, resource, err := a.httpIdentity(ctx)
	if err != nil {
		return err
	}
	for _, w := range a.cfg.HTTPWarnings() {
		log.Warn(w)
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
	stopMySQL, err := startMySQLProxy(ctx, a, issuers, log)
	if err != nil {
		return err
	}
	defer stopMySQL()
	stopKube, err := startKubeProxy(ctx, a, issuers, log)
	if err != nil {
		return err
	}
	defer stopKube()
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
