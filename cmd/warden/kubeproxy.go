package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/proxy"
	kubeproxy "github.com/wardenhq/warden/proxy/kubernetes"
	"github.com/wardenhq/warden/recording"
)

// startKubeProxy starts the Kubernetes API proxy when listen.kubernetes
// is set, and adds the issuer of its tokens for `warden connect` and
// `warden kube-credential` to issuers. The returned function stops it.
func startKubeProxy(ctx context.Context, a *app, issuers map[string]proxy.Issuer, log *slog.Logger) (func(), error) {
	addr := a.cfg.Listen.Kubernetes
	if addr == "" {
		return func() {}, nil
	}
	kc := a.cfg.Proxy.Kubernetes
	plog := log.With("component", "proxy.kubernetes")
	certFile, keyFile := kc.TLS.Cert, kc.TLS.Key
	if certFile == "" {
		certFile, keyFile = kc.CertFile, kc.KeyFile
	}
	var hosts []string
	if h, _, err := net.SplitHostPort(kc.Address); err == nil {
		hosts = append(hosts, h)
	}
	cert, pemCert, created, err := kubeproxy.LoadOrCreateCert(certFile, keyFile, hosts...)
	if err != nil {
		return nil, fmt.Errorf("proxy.kubernetes: %w", err)
	}
	if created {
		plog.Info("made the Kubernetes proxy's self-signed certificate", "cert", certFile, "key", keyFile)
	}
	tokens := proxy.NewTokens(kc.TokenTTL)
	opts := kubeproxy.Options{Gateway: a.gateway, Certificate: cert, Tokens: tokens, Connections: a.cfg.Connections,
		ApprovalWait: kc.ApprovalWait, MaxBodyBytes: kc.MaxBodyBytes, Logger: plog, Record: a.startKubeRecording}
	oidc, err := a.tokenIdentifier()
	if err != nil {
		return nil, err
	}
	if oidc != nil {
		opts.OIDC = oidc
	}
	engine, err := kubeproxy.New(opts)
	if err != nil {
		return nil, err
	}
	srv := proxy.NewServer(engine, proxy.Options{MaxConnections: kc.MaxConnections, Logger: plog})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (listen.kubernetes): %w", addr, err)
	}
	public := kc.Address
	if public == "" || strings.HasSuffix(public, ":0") {
		public = ln.Addr().String()
	}
	issuer := kubeproxy.Issuer(tokens, public, pemCert)
	for _, c := range a.cfg.Connections {
		if c.Kind == config.KindKubernetes {
			issuers[c.Name] = issuer
		}
	}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(pctx, ln); err != nil && !errors.Is(err, net.ErrClosed) {
			log.Error("kubernetes proxy stopped", "err", err)
		}
	}()
	plog.Info("serving the Kubernetes API proxy", "address", ln.Addr().String(), "cert", certFile)
	return func() { cancel(); <-done }, nil
}

// writeKubeconfig writes the kubeconfig for a kubernetes connection's
// proxy (raw is the server's answer) and keeps its token in the
// credential cache, so that kubectl's first call needs no other request.
func writeKubeconfig(raw []byte, serverURL, file string, asJSON bool, stdout, stderr io.Writer) error {
	var info kubeproxy.ConnectInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		return fmt.Errorf("%s: %w", serverURL, err)
	}
	if file == "" {
		file = info.Connection + ".kubeconfig"
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the warden binary for the kubeconfig's credential plugin: %w", err)
	}
	name := "warden-" + info.Connection
	kc := clientcmdapi.NewConfig()
	kc.Clusters[name] = &clientcmdapi.Cluster{Server: info.Server, CertificateAuthorityData: []byte(info.CertificateAuthority)}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{
		APIVersion:      "client.authentication.k8s.io/v1",
		Command:         self,
		Args:            []string{"kube-credential", "--connection", info.Connection, "--server", serverURL},
		InteractiveMode: clientcmdapi.NeverExecInteractiveMode,
	}}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	kc.CurrentContext = name
	if err := clientcmd.WriteToFile(*kc, file); err != nil {
		return fmt.Errorf("write the kubeconfig: %w", err)
	}
	os.Chmod(file, 0o600)
	if cache, err := defaultKubeCredentialCache(); err == nil {
		if err := cache.put(serverURL, info.Connection, info.Password, info.Expires); err != nil {
			fmt.Fprintf(stderr, "warden connect: could not cache the token: %v\n", err)
		}
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]string{"kind": "kubernetes", "connection": info.Connection, "server": info.Server, "kubeconfig": file})
	}
	fmt.Fprintf(stdout, "# Warden Kubernetes proxy: connection %s at %s\n", info.Connection, info.Server)
	fmt.Fprintf(stdout, "# Wrote %s: its credential plugin (warden kube-credential) gets tokens as you.\n", file)
	fmt.Fprintf(stdout, "kubectl --kubeconfig %s get pods\n", file)
	fmt.Fprintln(stderr, "Every request runs as you, under Warden's policy, and is recorded.")
	return nil
}

// runKubeCredential is a client-go exec credential plugin: it prints an
// ExecCredential with a token for the proxy, cached until it expires.
func runKubeCredential(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("kube-credential", `kube-credential --connection NAME [--server URL | --config warden.yaml]

The credential plugin of the kubeconfig warden connect writes for a
kubernetes connection: prints a client.authentication.k8s.io/v1
ExecCredential holding a token for the Kubernetes proxy of the Warden
asked, as the identity of your warden login (or the local identity when
the server allows anonymous loopback clients). The token is kept in the
user cache directory (warden/kube-credentials.json, mode 0600) until a
minute before it expires. kubectl runs it; there is no need to.`, stderr)
	connection := fs.String("connection", "", "the kubernetes connection")
	server := fs.String("server", "", "Warden's MCP URL (env WARDEN_SERVER; default: from the configuration)")
	cfgPath := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *connection == "" {
		return usageError{"--connection is required"}
	}
	chosen, _, err := connectServer(*server, flagSet(fs, "config"), *cfgPath)
	if err != nil {
		return err
	}
	serverURL, err := normalizeServer(chosen)
	if err != nil {
		return err
	}
	cache, cerr := defaultKubeCredentialCache()
	var token string
	var expires time.Time
	if cerr == nil {
		token, expires = cache.get(serverURL, *connection)
	}
	if token == "" {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		raw, err := requestProxyToken(ctx, serverURL, *connection)
		if err != nil {
			return err
		}
		var info kubeproxy.ConnectInfo
		if err := json.Unmarshal(raw, &info); err != nil || info.Kind != "kubernetes" || info.Password == "" {
			return fmt.Errorf("%s: connection %q is not served by a Kubernetes proxy", serverURL, *connection)
		}
		token, expires = info.Password, info.Expires
		if cerr == nil {
			if err := cache.put(serverURL, *connection, token, expires); err != nil {
				fmt.Fprintf(stderr, "warden kube-credential: could not cache the token: %v\n", err)
			}
		}
	}
	out := map[string]any{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
		"status": map[string]any{"token": token, "expirationTimestamp": expires.UTC().Format(time.RFC3339)}}
	return json.NewEncoder(stdout).Encode(out)
}

// kubeCredentialCache keeps the proxy tokens of kube-credential, by
// server and connection: os.UserCacheDir()/warden/kube-credentials.json,
// mode 0600 in a 0700 directory.
type kubeCredentialCache struct{ path string }

type kubeCredential struct {
	Token   string    `json:"token"`
	Expires time.Time `json:"expires_at"`
}

// kubeCredentialMargin: a token this close to its expiry is not used.
const kubeCredentialMargin = time.Minute

func defaultKubeCredentialCache() (*kubeCredentialCache, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return nil, err
	}
	return &kubeCredentialCache{path: filepath.Join(dir, "warden", "kube-credentials.json")}, nil
}

func kubeCredentialKey(server, connection string) string {
	d := sha256.Sum256([]byte(server + "\x00" + connection))
	return hex.EncodeToString(d[:8])
}

func (c *kubeCredentialCache) load() map[string]kubeCredential {
	out := map[string]kubeCredential{}
	fi, err := os.Stat(c.path)
	if err != nil || fi.Mode().Perm()&0o077 != 0 {
		return out // missing, or readable by others: not trusted
	}
	b, err := os.ReadFile(c.path)
	if err == nil {
		json.Unmarshal(b, &out)
	}
	return out
}

func (c *kubeCredentialCache) get(server, connection string) (string, time.Time) {
	e, ok := c.load()[kubeCredentialKey(server, connection)]
	if !ok || time.Until(e.Expires) < kubeCredentialMargin {
		return "", time.Time{}
	}
	return e.Token, e.Expires
}

func (c *kubeCredentialCache) put(server, connection, token string, expires time.Time) error {
	m := c.load()
	now := time.Now()
	for k, e := range m {
		if e.Expires.Before(now) {
			delete(m, k)
		}
	}
	m[kubeCredentialKey(server, connection)] = kubeCredential{Token: token, Expires: expires}
	dir := filepath.Dir(c.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, _ := json.Marshal(m)
	tmp, err := os.CreateTemp(dir, ".kube-credentials-*.json") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), c.path); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// startKubeRecording starts the recording of an exec or attach stream
// through the Kubernetes API proxy, into the audit store (as SSH shells
// are; `warden replay` plays either).
func (a *app) startKubeRecording(ctx context.Context, st kubeproxy.RecordingStart) (kubeproxy.Recording, error) {
	h := recording.Header{Timestamp: st.Time, Command: st.Command}
	return recording.Start(ctx, a.stores.audit, st.ID, h, recording.Options{Logger: a.logger.With("component", "recording")})
}
