package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/proxy"
	myproxy "github.com/wardenhq/warden/proxy/mysql"
)

// startMySQLProxy starts the MySQL proxy when listen.mysql is set, and adds
// the issuer of its tokens for `warden connect` to issuers. The returned
// function stops it.
func startMySQLProxy(ctx context.Context, a *app, issuers map[string]proxy.Issuer, log *slog.Logger) (func(), error) {
	addr := a.cfg.Listen.MySQL
	if addr == "" {
		return func() {}, nil
	}
	mc := a.cfg.Proxy.MySQL
	var tlsCfg *tls.Config
	if mc.TLS.Cert != "" {
		var err error
		if tlsCfg, err = proxy.LoadTLS(mc.TLS.Cert, mc.TLS.Key); err != nil {
			return nil, fmt.Errorf("proxy.mysql.tls: %w", err)
		}
	}
	tokens := proxy.NewTokens(mc.TokenTTL)
	plog := log.With("component", "proxy.mysql")
	opts := myproxy.Options{Gateway: a.gateway, Connections: a.cfg.Connections, Tokens: tokens, TLS: tlsCfg,
		AllowPlaintext: mc.AllowPlaintext, ApprovalWait: mc.ApprovalWait, Logger: plog}
	oidc, err := a.tokenIdentifier()
	if err != nil {
		return nil, err
	}
	if oidc != nil {
		opts.OIDC = oidc
	}
	engine, err := myproxy.New(opts)
	if err != nil {
		return nil, err
	}
	srv := proxy.NewServer(engine, proxy.Options{MaxConnections: mc.MaxConnections, Logger: plog})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		engine.Close()
		return nil, fmt.Errorf("listen on %s (listen.mysql): %w", addr, err)
	}
	public := mc.Address
	if public == "" || strings.HasSuffix(public, ":0") {
		public = ln.Addr().String()
	}
	databases := map[string]string{}
	for _, c := range a.cfg.Connections {
		if c.Kind == config.KindMySQL {
			databases[c.Name] = c.Database
		}
	}
	issuer := myproxy.Issuer(tokens, public, tlsCfg != nil, databases)
	for name := range databases {
		issuers[name] = issuer
	}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(pctx, ln); err != nil && !errors.Is(err, net.ErrClosed) {
			log.Error("mysql proxy stopped", "err", err)
		}
	}()
	plog.Info("serving the MySQL proxy", "address", ln.Addr().String(), "tls", tlsCfg != nil)
	return func() { cancel(); <-done; engine.Close() }, nil
}

// printMySQLConnect prints how to log in to the MySQL proxy with the
// token in raw (the server's answer).
func printMySQLConnect(raw []byte, asJSON bool, stdout, stderr io.Writer) error {
	var info myproxy.ConnectInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	fmt.Fprintf(stdout, "# Warden MySQL proxy: connection %s, token valid for logging in until %s\n", info.Connection, info.Expires.Local().Format(time.RFC3339))
	fmt.Fprintf(stdout, "MYSQL_PWD=%s %s\n", info.Password, info.MySQL)
	fmt.Fprintf(stdout, "# or, with MariaDB's client:\nMYSQL_PWD=%s %s\n", info.Password, info.MariaDB)
	fmt.Fprintf(stdout, "# DSN (go-sql-driver):\n%s\n", info.DSN)
	fmt.Fprintln(stderr, "The token is a password: do not share it. Every statement runs as you, under Warden's policy, and is recorded.")
	return nil
}
