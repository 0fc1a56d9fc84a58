package main

import (
	"context"
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
	sshproxy "github.com/wardenhq/warden/proxy/ssh"
	"github.com/wardenhq/warden/recording"
)

// startSSHProxy starts the SSH proxy when listen.ssh is set, and adds the
// issuer of its tokens for `warden connect` to issuers. The returned
// function stops it.
func startSSHProxy(ctx context.Context, a *app, issuers map[string]proxy.Issuer, log *slog.Logger) (func(), error) {
	addr := a.cfg.Listen.SSH
	if addr == "" {
		return func() {}, nil
	}
	sc := a.cfg.Proxy.SSH
	hostKey, created, err := sshproxy.LoadHostKey(sc.HostKeyFile)
	if err != nil {
		return nil, fmt.Errorf("proxy.ssh.host_key_file: %w", err)
	}
	plog := log.With("component", "proxy.ssh")
	if created {
		plog.Info("made the SSH proxy's host key", "file", sc.HostKeyFile)
	}
	tokens := proxy.NewTokens(sc.TokenTTL)
	opts := sshproxy.Options{Gateway: a.gateway, HostKey: hostKey, Tokens: tokens, Connections: a.cfg.Connections,
		Env: sc.Env, ApprovalWait: sc.ApprovalWait, Logger: plog, Record: a.startRecording}
	oidc, err := a.tokenIdentifier()
	if err != nil {
		return nil, err
	}
	if oidc != nil {
		opts.OIDC = oidc
	}
	engine, err := sshproxy.New(opts)
	if err != nil {
		return nil, err
	}
	srv := proxy.NewServer(engine, proxy.Options{MaxConnections: sc.MaxConnections, Logger: plog})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (listen.ssh): %w", addr, err)
	}
	public := sc.Address
	if public == "" || strings.HasSuffix(public, ":0") {
		public = ln.Addr().String()
	}
	issuer := sshproxy.Issuer(tokens, public, hostKey.PublicKey())
	for _, c := range a.cfg.Connections {
		if c.Kind == config.KindSSH {
			issuers[c.Name] = issuer
		}
	}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(pctx, ln); err != nil && !errors.Is(err, net.ErrClosed) {
			log.Error("ssh proxy stopped", "err", err)
		}
	}()
	plog.Info("serving the SSH proxy", "address", ln.Addr().String(), "host_key", sshproxy.KnownHostsLine(public, hostKey.PublicKey()))
	return func() { cancel(); <-done }, nil
}

// printSSHConnect prints how to log in to the SSH proxy with the token in
// raw (the server's answer).
func printSSHConnect(raw []byte, asJSON bool, stdout, stderr io.Writer) error {
	var info sshproxy.ConnectInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	fmt.Fprintf(stdout, "# Warden SSH proxy: connection %s, token valid for logging in until %s\n", info.Connection, info.Expires.Local().Format(time.RFC3339))
	fmt.Fprintf(stdout, "# Pin the proxy's host key once (ssh refuses a changed one):\n")
	fmt.Fprintf(stdout, "grep -qxF '%s' ~/.ssh/known_hosts 2>/dev/null || echo '%s' >> ~/.ssh/known_hosts\n", info.KnownHosts, info.KnownHosts)
	fmt.Fprintf(stdout, "%s\n", info.Command)
	fmt.Fprintf(stdout, "# At the password prompt, give the token:\n%s\n", info.Password)
	fmt.Fprintln(stderr, "The token is a password: do not share it. Every command runs as you, under Warden's policy, and is recorded.")
	return nil
}

// startRecording starts the recording of one SSH proxy channel in the
// audit store, under its operation's audit event.
func (a *app) startRecording(ctx context.Context, st sshproxy.RecordingStart) (sshproxy.Recording, error) {
	h := recording.Header{Width: st.Width, Height: st.Height, Timestamp: st.Time, Command: st.Command}
	if st.Term != "" {
		h.Env = map[string]string{"TERM": st.Term}
	}
	return recording.Start(ctx, a.stores.audit, st.ID, h, recording.Options{Logger: a.logger.With("component", "recording")})
}
