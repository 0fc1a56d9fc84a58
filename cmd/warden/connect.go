package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/proxy"
	pgproxy "github.com/wardenhq/warden/proxy/postgres"
)

// runConnect asks a running Warden for a short-lived login token for one
// of its proxies and prints how to connect with it (PostgreSQL, MySQL,
// SSH), or writes a kubeconfig (Kubernetes).
func runConnect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("connect", `connect CONNECTION [--server URL | --config warden.yaml] [--json] [--kubeconfig FILE]

Asks a running Warden for a short-lived token to log in to one of its
proxies as you (the identity of your warden login, or the local identity
when the server allows anonymous loopback clients), for the connection
CONNECTION, and prints how to connect: a ready psql command and DSN for a
postgres connection, mysql and mariadb commands and a go-sql-driver DSN
for a mysql one, an ssh command for an ssh one. The token is good for
logging in until it expires; a session it opened lives on after.

For a kubernetes connection it writes a kubeconfig instead (--kubeconfig,
default CONNECTION.kubeconfig, mode 0600): the proxy's URL, its
certificate, and a credential plugin that runs warden kube-credential, so
that kubectl --kubeconfig FILE works as you, through Warden's policy.

The Warden asked is, first found: --server; the one the --config file
describes; WARDEN_SERVER; the one WARDEN_CONFIG or ./warden.yaml (when it
exists) describes; `+defaultServer+`. A configuration describes the
Warden at its identity.resource, or at http://HOST:PORT/mcp of its
listen.mcp. The one asked is printed on stderr.`, stdout)
	server := fs.String("server", "", "Warden's MCP URL (env WARDEN_SERVER; default: from the configuration)")
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print the connection details as JSON")
	kubeconfig := fs.String("kubeconfig", "", "for a kubernetes connection: the kubeconfig file to write (default CONNECTION.kubeconfig)")
	connection, err := parsePositional(fs, args)
	if err != nil {
		return err
	}
	if connection == "" {
		return usageError{"expected one argument: the connection name"}
	}
	chosen, from, err := connectServer(*server, flagSet(fs, "config"), *cfgPath)
	if err != nil {
		return err
	}
	serverURL, err := normalizeServer(chosen)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "warden connect: asking the Warden at %s (%s)\n", serverURL, from)
	raw, err := requestProxyToken(ctx, serverURL, connection)
	if err != nil {
		return err
	}
	var kind struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(raw, &kind); err != nil {
		return fmt.Errorf("%s: %w", serverURL, err)
	}
	switch kind.Kind {
	case "ssh":
		return printSSHConnect(raw, *asJSON, stdout, stderr)
	case "mysql":
		return printMySQLConnect(raw, *asJSON, stdout, stderr)
	case "kubernetes":
		return writeKubeconfig(raw, serverURL, *kubeconfig, *asJSON, stdout, stderr)
	}
	var info pgproxy.ConnectInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		return fmt.Errorf("%s: %w", serverURL, err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	fmt.Fprintf(stdout, "# Warden PostgreSQL proxy: connection %s, token valid for logging in until %s\n", info.Connection, info.Expires.Local().Format(time.RFC3339))
	fmt.Fprintf(stdout, "PGPASSWORD=%s psql \"host=%s port=%s dbname=%s user=%s sslmode=%s\"\n",
		info.Password, info.Host, info.Port, info.Database, info.User, info.SSLMode)
	fmt.Fprintf(stdout, "# DSN:\n%s\n", info.DSN)
	fmt.Fprintln(stderr, "The token is a password: do not share it. Every statement runs as you, under Warden's policy, and is recorded.")
	return nil
}

// requestProxyToken asks the Warden at serverURL (its MCP URL) for a
// proxy token for connection, as the caller of the cached warden login
// (or anonymously), and returns the proxy's answer.
func requestProxyToken(ctx context.Context, serverURL, connection string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var bearer string
	if cache, err := defaultTokenCache(); err == nil {
		if l, err := cache.fresh(ctx, serverURL); err == nil {
			bearer = l.AccessToken
		}
	}
	u, _ := url.Parse(serverURL)
	u.Path = strings.TrimSuffix(u.Path, "/mcp") + proxy.TokenPath
	body, _ := json.Marshal(map[string]string{"connection": connection})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := loginHTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask %s for a token: %w", u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(raw, &e)
		if e.Error == "" {
			e.Error = resp.Status
		}
		if resp.StatusCode == http.StatusUnauthorized && bearer == "" {
			e.Error += " (log in first: warden login --server " + serverURL + ")"
		}
		return nil, fmt.Errorf("%s: %s", u, e.Error)
	}
	return raw, nil
}

// defaultServer is the Warden connect asks when nothing names one: serve's
// default listen address.
const defaultServer = "http://" + config.DefaultListen + "/mcp"

// connectServer picks the Warden to ask and says where it came from: the
// --server flag; the configuration named by --config; WARDEN_SERVER; the
// default configuration file (WARDEN_CONFIG, or warden.yaml), when it
// exists; else defaultServer.
func connectServer(server string, configGiven bool, cfgPath string) (url, from string, err error) {
	if server != "" {
		return server, "--server", nil
	}
	if !configGiven {
		if env := os.Getenv("WARDEN_SERVER"); env != "" {
			return env, "WARDEN_SERVER", nil
		}
		if _, err := os.Stat(cfgPath); errors.Is(err, os.ErrNotExist) && os.Getenv("WARDEN_CONFIG") == "" {
			return defaultServer, "the default; no " + cfgPath + " here", nil
		}
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return "", "", err
	}
	if cfg.Identity.Resource != "" {
		return cfg.Identity.Resource, "identity.resource in " + cfgPath, nil
	}
	return listenURL(cfg.Listen.MCP), "listen.mcp in " + cfgPath, nil
}

// listenURL is the MCP URL of a Warden listening on addr, as a client on
// the same host reaches it: a wildcard host is this host's loopback.
func listenURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr + "/mcp"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port) + "/mcp"
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// startPostgresProxy starts the PostgreSQL proxy when listen.postgres is
// set, and adds the issuer of its tokens for `warden connect` to issuers.
// The returned function stops it.
func startPostgresProxy(ctx context.Context, a *app, issuers map[string]proxy.Issuer, log *slog.Logger) (func(), error) {
	addr := a.cfg.Listen.Postgres
	if addr == "" {
		return func() {}, nil
	}
	pc := a.cfg.Proxy.Postgres
	var tlsCfg *tls.Config
	if pc.TLS.Cert != "" {
		var err error
		if tlsCfg, err = proxy.LoadTLS(pc.TLS.Cert, pc.TLS.Key); err != nil {
			return nil, fmt.Errorf("proxy.postgres.tls: %w", err)
		}
	}
	tokens := proxy.NewTokens(pc.TokenTTL)
	auth := pgproxy.Authenticator{Tokens: tokens}
	oidc, err := a.tokenIdentifier()
	if err != nil {
		return nil, err
	}
	if oidc != nil {
		auth.OIDC = oidc
	}
	plog := log.With("component", "proxy.postgres")
	engine, err := pgproxy.New(pgproxy.Options{Gateway: a.gateway, Connections: a.cfg.Connections, Auth: auth, TLS: tlsCfg,
		AllowPlaintext: pc.AllowPlaintext, ApprovalWait: pc.ApprovalWait, MaxMessageBytes: pc.MaxMessageBytes, Logger: plog})
	if err != nil {
		return nil, err
	}
	srv := proxy.NewServer(engine, proxy.Options{MaxConnections: pc.MaxConnections, Logger: plog})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (listen.postgres): %w", addr, err)
	}
	public := pc.Address
	if public == "" || strings.HasSuffix(public, ":0") {
		public = ln.Addr().String()
	}
	issuer := pgproxy.Issuer(tokens, public, tlsCfg != nil)
	for _, c := range a.cfg.Connections {
		if c.Kind == config.KindPostgres {
			issuers[c.Name] = issuer
		}
	}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(pctx, ln); err != nil && !errors.Is(err, net.ErrClosed) {
			log.Error("postgres proxy stopped", "err", err)
		}
	}()
	log.Info("serving the PostgreSQL proxy", "address", ln.Addr().String(), "tls", tlsCfg != nil)
	return func() { cancel(); <-done }, nil
}

// parsePositional parses flags written before or after one positional
// argument, and returns it ("" when there is none).
func parsePositional(fs *flag.FlagSet, args []string) (string, error) {
	var pos string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		pos, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	switch {
	case pos == "" && fs.NArg() == 1:
		pos = fs.Arg(0)
	case fs.NArg() > 0:
		return "", usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(fs.NArg()-1))}
	}
	return pos, nil
}
