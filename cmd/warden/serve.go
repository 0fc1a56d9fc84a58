package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/wardenhq/warden/mcp"
)

// maxHeaderBytes bounds the headers of an HTTP request (net/http's default
// is 1 MiB); a bearer token is at most identity.MaxTokenBytes.
const maxHeaderBytes = 64 << 10

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", "serve --config warden.yaml [--listen host:port]", stdout)
	cfgPath := configFlag(fs)
	listen := fs.String("listen", "", "address for MCP over HTTP (default: listen.mcp from the config)")
	logger := logFlags(fs)
	profile := profileFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
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
	return serveHTTP(ctx, a, addr, log, func(url string) {
		fmt.Fprintf(stdout, "Warden is serving MCP at %s\n", url)
	})
}

// serveHTTP serves the HTTP front door until ctx ends, then shuts down
// gracefully.
func serveHTTP(ctx context.Context, a *app, addr string, log *slog.Logger, ready func(url string)) error {
	ident, resource, err := a.httpIdentity(ctx)
	if err != nil {
		return err
	}
	mcp.Version = version
	srv := mcp.New(a.tools, log)
	mux := http.NewServeMux()
	srv.Mount(mux, mcp.HTTPOptions{Identifier: ident, Resource: resource})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	stopProxy, err := startPostgresProxy(ctx, a, ident, mux, log)
	if err != nil {
		return err
	}
	defer stopProxy()

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
