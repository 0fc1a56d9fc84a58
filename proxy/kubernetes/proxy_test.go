package kubernetes_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/wardenhq/warden/approvals"
	approvalsqlite "github.com/wardenhq/warden/approvals/sqlite"
	"github.com/wardenhq/warden/audit"
	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/builtin"
	"github.com/wardenhq/warden/credentials"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/internal/testenv"
	"github.com/wardenhq/warden/internal/testoidc"
	"github.com/wardenhq/warden/masking"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/proxy"
	kubeproxy "github.com/wardenhq/warden/proxy/kubernetes"
	"github.com/wardenhq/warden/recording"
	"github.com/wardenhq/warden/tools"
	toolsbuiltin "github.com/wardenhq/warden/tools/builtin"
)

const sessionNS = "warden-sessions-proxy"

var agent = identity.Principal{Subject: "agent", Groups: []string{"agents"}, Issuer: "local"}

type fixture struct {
	kc      testenv.KubeCluster
	admin   *k8s.Clientset
	ns      []string
	store   *auditsqlite.Store
	svc     *approvals.Service
	tokens  *proxy.Tokens
	addr    string
	pemCert []byte
	dir     string
}

// newFixture: the pipeline over the test cluster and the proxy on a
// loopback port. ns[0]: read, and configmaps written; ns[1]: read only.
func newFixture(t *testing.T, oidc ...kubeproxy.TokenVerifier) *fixture {
	return newFixtureTB(t, oidc...)
}

func newFixtureTB(t testing.TB, oidc ...kubeproxy.TokenVerifier) *fixture {
	t.Helper()
	kc := testenv.Kube(t)
	if kc.Kubectl == "" {
		t.Skip("WARDEN_TEST_KUBECTL is not set: source \"$(scripts/kube.sh start)\"")
	}
	admin := testenv.KubeAdmin(t, kc)
	ns := []string{testenv.KubeNamespace(t, admin), testenv.KubeNamespace(t, admin)}
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "w.yaml"), []byte(fmt.Sprintf(`
connections:
  - name: k
    kind: kubernetes
    server: %s
    ca_file: %s
    token: {file: %s}
    namespaces: [%s, %s]
    session_namespace: %s
masking:
  profiles:
    pii: {detectors: [email]}
rules:
  - {name: read, subjects: {groups: [agents]}, tools: [kubectl_get, kubectl_logs], effect: allow, statements: [read], masking: pii}
  - name: read-ops
    subjects: {groups: [ops]}
    tools: [kubectl_get]
    effect: allow
    statements: [read]
    kubernetes: {reveal_secrets: true, mask_configmap_keys: ["*/app/password"]}
  - name: apply-config
    subjects: {groups: [agents]}
    tools: [kubectl_apply]
    effect: allow
    read_only: false
    statements: [create, update, patch]
    kubernetes: {namespaces: [%[4]s], resources: [configmaps]}
  - name: apply-ops
    subjects: {groups: [ops]}
    tools: [kubectl_apply]
    effect: allow
    read_only: false
    statements: [create, update, patch]
    kubernetes: {namespaces: [%[4]s], resources: [secrets, configmaps], allow_risks: [secret], mask_configmap_keys: ["*/app/password"]}
  - name: exec-dev
    subjects: {groups: [agents]}
    tools: [kubectl_exec]
    effect: allow
    read_only: false
    kubernetes: {namespaces: [%[4]s], resources: [pods/exec, pods/attach], allow_risks: [exec]}
  - name: forward-dev
    subjects: {groups: [agents]}
    tools: [kubectl_port_forward]
    effect: allow
    read_only: false
    kubernetes: {namespaces: [%[4]s], resources: [pods/portforward], allow_risks: [exec]}
  - name: delete-review
    subjects: {groups: [agents]}
    tools: [kubectl_delete]
    effect: review
    read_only: false
    statements: [delete]
    kubernetes: {namespaces: [%[5]s], resources: [configmaps]}
    approvers: {groups: [dba]}
`, kc.Server, kc.CAFile, kc.TokenFile, ns[0], ns[1], sessionNS)))
	if err != nil {
		t.Fatal(err)
	}
	engine, err := policy.Compile(cfg, append(tools.Names(toolsbuiltin.Tools()), kubeproxy.Tools()...))
	if err != nil {
		t.Fatal(err)
	}
	masker, err := masking.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	store, err := auditsqlite.Open(context.Background(), filepath.Join(dir, "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	as, err := approvalsqlite.New(context.Background(), store.DB(), nil)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := approvals.New(approvals.Options{Store: as, Recorder: store, Wait: 100 * time.Millisecond, MaxWait: 5 * time.Second, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("WARDEN_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	conns, err := builtin.Registry().Open(context.Background(), cfg.Connections, connectors.OpenOptions{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	creds := credentials.New(store, conns, cfg.Connections, logger)
	if err := creds.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.Options{Connections: conns, Decider: engine, Minter: creds, Masker: masker, Recorder: store, Holder: svc, Limits: cfg.Limits, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	cert, pemCert, created, err := kubeproxy.LoadOrCreateCert(filepath.Join(dir, "kp.crt"), filepath.Join(dir, "kp.key"))
	if err != nil || !created {
		t.Fatalf("certificate: %v (created %v)", err, created)
	}
	tokens := proxy.NewTokens(15 * time.Minute)
	opts := kubeproxy.Options{Gateway: g, Certificate: cert, Tokens: tokens, Connections: cfg.Connections, Logger: logger,
		Record: func(ctx context.Context, st kubeproxy.RecordingStart) (kubeproxy.Recording, error) {
			return recording.Start(ctx, store, st.ID, recording.Header{Timestamp: st.Time, Command: st.Command}, recording.Options{})
		}}
	if len(oidc) > 0 {
		opts.OIDC = oidc[0]
	}
	e, err := kubeproxy.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		proxy.NewServer(e, proxy.Options{Logger: logger}).Serve(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		g.Close()
	})
	return &fixture{kc: kc, admin: admin, ns: ns, store: store, svc: svc, tokens: tokens, addr: ln.Addr().String(), pemCert: pemCert, dir: dir}
}

// kubeconfig writes a kubeconfig for the proxy with a bearer token (the
// plain token; `warden connect` writes an exec plugin instead).
func (f *fixture) kubeconfig(t *testing.T, token string) string {
	t.Helper()
	file := filepath.Join(f.dir, fmt.Sprintf("kc-%d", time.Now().UnixNano()))
	body := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: warden
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: me
  user:
    token: %s
contexts:
- name: warden
  context: {cluster: warden, user: me, namespace: %s}
current-context: warden
`, kubeproxy.ServerURL(f.addr, "k"), base64.StdEncoding.EncodeToString(f.pemCert), token, f.ns[0])
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func (f *fixture) token(t *testing.T) string {
	t.Helper()
	is, err := f.tokens.Issue(agent, "k")
	if err != nil {
		t.Fatal(err)
	}
	return is.Password
}

// kubectl runs kubectl with kubeconfig and returns its output and error.
func (f *fixture) kubectl(t *testing.T, kubeconfig string, stdin string, args ...string) (string, error) {
	t.Helper()
	return f.kubectlEnv(t, nil, kubeconfig, stdin, args...)
}

// kubectlSPDY is kubectl told to speak SPDY/3.1 for exec and attach, as
// kubectl before 1.30 does and later ones do when WebSocket fails.
var kubectlSPDY = []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false"}

// kubectlEnv runs kubectl with env added to its environment.
func (f *fixture) kubectlEnv(t *testing.T, env []string, kubeconfig string, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, f.kc.Kubectl, append([]string{"--kubeconfig", kubeconfig, "--cache-dir", filepath.Join(f.dir, "cache")}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (f *fixture) events(t *testing.T, tool string) []audit.Event {
	t.Helper()
	evs, err := f.store.List(context.Background(), audit.Filter{Tool: tool, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// noSessionAccounts waits until no session account is left.
func (f *fixture) noSessionAccounts(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := f.admin.CoreV1().ServiceAccounts(sessionNS).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=warden"})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		if err == nil && len(l.Items) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d session accounts left after 30s", len(l.Items))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestKubectlGet(t *testing.T) {
	f := newFixture(t)
	kc := f.kubeconfig(t, f.token(t))
	ctx := context.Background()
	if _, err := f.admin.CoreV1().ConfigMaps(f.ns[0]).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "seen"}, Data: map[string]string{"a": "b"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err := f.kubectl(t, kc, "", "get", "configmaps")
	if err != nil || !strings.Contains(out, "seen") {
		t.Fatalf("kubectl get configmaps: %v\n%s", err, out)
	}
	out, err = f.kubectl(t, kc, "", "get", "cm", "seen", "-o", "jsonpath={.data.a}")
	if err != nil || out != "b" {
		t.Fatalf("kubectl get cm seen: %v\n%s", err, out)
	}
	out, err = f.kubectl(t, kc, "", "get", "pods", "-n", f.ns[1])
	if err != nil || !strings.Contains(out, "No resources found") {
		t.Fatalf("kubectl get pods -n ns1: %v\n%s", err, out)
	}
	f.noSessionAccounts(t)
	evs := f.events(t, "kubectl_get")
	if len(evs) < 3 {
		t.Fatalf("%d kubectl_get events", len(evs))
	}
	for _, ev := range evs {
		if ev.Transport != "kubernetes-proxy" || ev.Identity != "agent" || ev.Status != audit.StatusOK || ev.Credential == "" {
			t.Fatalf("event: %+v", ev)
		}
	}
}

// TestKubectlWatch: five concurrent `kubectl get -w` on one proxy each
// see a change made while they run, as it happens, while an interactive
// exec on the same proxy answers each line it is sent.
func TestKubectlWatch(t *testing.T) {
	f := newFixture(t)
	kc := f.kubeconfig(t, f.token(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type watcher struct {
		cmd *exec.Cmd
		out *syncBuffer
	}
	var ws []watcher
	for i := 0; i < 5; i++ {
		cmd := exec.CommandContext(ctx, f.kc.Kubectl, "--kubeconfig", kc, "--cache-dir", filepath.Join(f.dir, "cache"),
			"get", "configmaps", "-w", "-o", "name")
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ws = append(ws, watcher{cmd, out})
	}
	defer func() {
		for _, w := range ws {
			w.cmd.Process.Kill()
			w.cmd.Wait()
		}
	}()
	// Each watch has its list (kube-root-ca.crt) before the change.
	waitAll := func(want string) {
		deadline := time.Now().Add(30 * time.Second)
		for _, w := range ws {
			for !strings.Contains(w.out.String(), want) {
				if time.Now().After(deadline) {
					t.Fatalf("a watch did not see %s: %s", want, w.out.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	waitAll("configmap/kube-root-ca.crt")
	// And an exec that stays open while the watches run: each line it
	// is sent comes back while they see their changes.
	p := &testenv.RunningPod{Namespace: f.ns[0], Name: "sh", WorkDir: t.TempDir()}
	testenv.KubeRunningPod(t, f.admin, p)
	ex := exec.CommandContext(ctx, f.kc.Kubectl, "--kubeconfig", kc, "--cache-dir", filepath.Join(f.dir, "cache"),
		"exec", "-i", "sh", "--", "sh", "-c", "while read l; do echo \"got $l\"; done")
	exIn, _ := ex.StdinPipe()
	exOut := &syncBuffer{}
	ex.Stdout, ex.Stderr = exOut, exOut
	if err := ex.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { ex.Process.Kill(); ex.Wait() }()
	for i := 0; i < 3; i++ {
		fmt.Fprintf(exIn, "line %d\n", i)
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(exOut.String(), fmt.Sprintf("got line %d\n", i)); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the exec beside the watches did not answer line %d: %q", i, exOut.String())
			}
		}
		name := fmt.Sprintf("w%d", i)
		if _, err := f.admin.CoreV1().ConfigMaps(f.ns[0]).Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitAll("configmap/" + name)
	}
	for _, w := range ws {
		w.cmd.Process.Kill()
		w.cmd.Wait()
	}
	ws = nil
	ex.Process.Kill()
	ex.Wait()
	f.noSessionAccounts(t)
	evs := f.events(t, "kubectl_get")
	if len(evs) < 5 {
		t.Fatalf("%d watch events", len(evs))
	}
	// A watch the client stopped ends its operation (not left running,
	// nor a failure: the client chose to stop).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var running []string
		for _, ev := range f.events(t, "kubectl_get") {
			if ev.Status != "ok" {
				running = append(running, ev.Status+" "+ev.Statement)
			}
		}
		if len(running) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("watches whose client stopped, not ended ok: %v", running)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestKubectlWrites: apply of what policy admits works (client-side and
// server-side); a privileged pod, a write in a read-only namespace, a
// delete, an Impersonate header and a token Warden did not issue are
// refused with a Status kubectl prints, and change nothing.
func TestKubectlWrites(t *testing.T) {
	f := newFixture(t)
	kc := f.kubeconfig(t, f.token(t))
	ctx := context.Background()
	cm := `apiVersion: v1
kind: ConfigMap
metadata: {name: app}
data: {mode: one}
`
	out, err := f.kubectl(t, kc, cm, "apply", "-f", "-")
	if err != nil || !strings.Contains(out, "configmap/app created") {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	// Again, changed: kubectl's client-side apply sends a strategic merge patch.
	out, err = f.kubectl(t, kc, strings.Replace(cm, "one", "two", 1), "apply", "-f", "-")
	if err != nil || !strings.Contains(out, "configmap/app configured") {
		t.Fatalf("apply again: %v\n%s", err, out)
	}
	out, err = f.kubectl(t, kc, strings.Replace(cm, "one", "three", 1), "apply", "--server-side", "--force-conflicts", "-f", "-")
	if err != nil || !strings.Contains(out, "serverside-applied") {
		t.Fatalf("server-side apply: %v\n%s", err, out)
	}
	got, err := f.admin.CoreV1().ConfigMaps(f.ns[0]).Get(ctx, "app", metav1.GetOptions{})
	if err != nil || got.Data["mode"] != "three" {
		t.Fatalf("configmap after applies: %v %v", err, got.Data)
	}
	out, err = f.kubectl(t, kc, "", "label", "configmap", "app", "team=blue")
	if err != nil || !strings.Contains(out, "labeled") {
		t.Fatalf("label (merge patch): %v\n%s", err, out)
	}
	out, err = f.kubectl(t, kc, "", "patch", "configmap", "app", "--type", "json", "-p", `[{"op":"replace","path":"/data/mode","value":"four"}]`)
	if err != nil || !strings.Contains(out, "patched") {
		t.Fatalf("json patch: %v\n%s", err, out)
	}

	refused := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"privileged pod", `apiVersion: v1
kind: Pod
metadata: {name: root}
spec:
  containers: [{name: c, image: busybox, securityContext: {privileged: true}}]
`, []string{"apply", "-f", "-"}, "Forbidden"},
		{"configmap in the read-only namespace", cm, []string{"apply", "-n", f.ns[1], "-f", "-"}, "Forbidden"},
		{"delete", "", []string{"delete", "configmap", "app"}, "refused"},
		{"json patch move", "", []string{"patch", "configmap", "app", "--type", "json", "-p", `[{"op":"move","from":"/data/mode","path":"/data/x"}]`}, "move copies a value"},
		{"patch that renames", "", []string{"patch", "configmap", "app", "--type", "merge", "-p", `{"metadata":{"name":"other"}}`}, "metadata.name"},
		{"impersonation", "", []string{"get", "configmaps", "--as", "system:admin"}, "Impersonate-User header is refused"},
		{"impersonated group", "", []string{"get", "configmaps", "--as", "x", "--as-group", "system:masters"}, "header is refused"},
		{"all namespaces", "", []string{"get", "configmaps", "-A"}, "every namespace is not carried"},
		{"secrets", "", []string{"create", "secret", "generic", "s", "--from-literal", "k=v"}, "does not admit Secret"},
	}
	for _, c := range refused {
		out, err := f.kubectl(t, kc, c.stdin, c.args...)
		if err == nil || !strings.Contains(out, "Warden: ") || !strings.Contains(out, c.want) {
			t.Errorf("%s: want a refusal with %q, got %v\n%s", c.name, c.want, err, out)
		}
	}
	if _, err := f.admin.CoreV1().Pods(f.ns[0]).Get(ctx, "root", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the privileged pod exists: %v", err)
	}
	if _, err := f.admin.CoreV1().ConfigMaps(f.ns[1]).Get(ctx, "app", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the configmap in %s exists: %v", f.ns[1], err)
	}
	if _, err := f.admin.CoreV1().Secrets(f.ns[0]).Get(ctx, "s", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the secret exists: %v", err)
	}
	got, err = f.admin.CoreV1().ConfigMaps(f.ns[0]).Get(ctx, "app", metav1.GetOptions{})
	if err != nil || got.Data["mode"] != "four" || got.Data["x"] != "" {
		t.Fatalf("configmap after refusals: %v %v", err, got.Data)
	}

	// Tokens: the cluster's own admin token, a made-up one, none.
	for name, tok := range map[string]string{"the cluster admin's token": f.kc.Token, "a made-up token": "abc", "an expired-looking JWT": "a.b.c"} {
		out, err := f.kubectl(t, f.kubeconfig(t, tok), "", "get", "configmaps")
		if err == nil || !strings.Contains(out, "Unauthorized") && !strings.Contains(out, "must be logged in") {
			t.Errorf("%s: want 401, got %v\n%s", name, err, out)
		}
	}
	f.noSessionAccounts(t)
	// The delete was its connection's first request: the session was
	// refused at connect, with the rule's reason.
	denied := 0
	for _, ev := range append(f.events(t, "kubectl_delete"), f.events(t, gateway.ToolProxyConnect)...) {
		if ev.Status == audit.StatusDenied && (ev.Tool == "kubectl_delete" || strings.Contains(ev.Error, "kubectl_delete")) {
			denied++
		}
	}
	if denied != 1 {
		dumpEvents(t, f)
		t.Errorf("%d denied deletes recorded", denied)
	}
}

func dumpEvents(t *testing.T, f *fixture) {
	evs, _ := f.store.List(context.Background(), audit.Filter{Limit: 1000})
	for _, ev := range evs {
		t.Logf("%s %s %s %s %q %s", ev.Tool, ev.Status, ev.Decision, ev.Rule, ev.Statement, ev.Error)
	}
}

// TestKubectlSecretMasked: a Secret's values never come back through the
// proxy, read, listed or watched; its keys do.
func TestKubectlSecretMasked(t *testing.T) {
	f := newFixture(t)
	kc := f.kubeconfig(t, f.token(t))
	const value = "hunter2-very-secret"
	if _, err := f.admin.CoreV1().Secrets(f.ns[0]).Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		StringData: map[string]string{"password": value}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"get", "secret", "db", "-o", "yaml"},
		{"get", "secrets", "-o", "json"},
		{"get", "secret", "db", "-o", "jsonpath={.data.password}"},
		{"describe", "secret", "db"},
	} {
		out, err := f.kubectl(t, kc, "", args...)
		b64 := base64.StdEncoding.EncodeToString([]byte(value))
		if err != nil || strings.Contains(out, value) || strings.Contains(out, b64) {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		if args[0] == "get" && !strings.Contains(out, "Kioq") {
			t.Fatalf("%v: no masked value:\n%s", args, out)
		}
	}
	out, err := f.kubectl(t, kc, "", "get", "secrets")
	if err != nil || !strings.Contains(out, "db") {
		t.Fatalf("get secrets: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, f.kc.Kubectl, "--kubeconfig", kc, "--cache-dir", filepath.Join(f.dir, "cache"), "get", "secrets", "-w", "-o", "json")
	buf := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	for !strings.Contains(buf.String(), `"db"`) {
		if ctx.Err() != nil {
			t.Fatalf("watch: %s", buf.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := f.admin.CoreV1().Secrets(f.ns[0]).Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db2"},
		StringData: map[string]string{"password": value}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(buf.String(), `"db2"`) {
		if ctx.Err() != nil {
			t.Fatalf("watch: %s", buf.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s := buf.String(); strings.Contains(s, value) || strings.Contains(s, base64.StdEncoding.EncodeToString([]byte(value))) {
		t.Fatalf("the watch shows the value:\n%s", s)
	}
}

// TestKubectlMaskPolicy: the deciding rule's kubernetes: reveal_secrets
// and mask_configmap_keys, through the proxy, for what kubectl asks
// (a Table for `get`, JSON for -o yaml) and the other formats a client
// may ask: a Table's rows carry each object's metadata, whose
// last-applied copy holds the values, so it is masked too; a format
// Warden cannot mask (protobuf) is refused unless nothing is to be
// masked.
func TestKubectlMaskPolicy(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ns := f.ns[0]
	const value, cmValue = "hunter2-very-secret", "cm-pass-123"
	b64 := base64.StdEncoding.EncodeToString([]byte(value))
	// As kubectl apply (client-side) leaves them: the whole object in the
	// last-applied annotation.
	applied := func(v any) map[string]string {
		b, _ := json.Marshal(v)
		return map[string]string{"kubectl.kubernetes.io/last-applied-configuration": string(b)}
	}
	sec := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
		StringData: map[string]string{"password": value}}
	sec.Annotations = applied(sec)
	cm := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns},
		Data: map[string]string{"password": cmValue, "mode": "production"}}
	cm.Annotations = applied(cm)
	if _, err := f.admin.CoreV1().Secrets(ns).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ops := identity.Principal{Subject: "olga", Groups: []string{"ops"}, Issuer: "local"}
	is, err := f.tokens.Issue(ops, "k")
	if err != nil {
		t.Fatal(err)
	}
	agentTok, opsTok := f.token(t), is.Password
	agentKC, opsKC := f.kubeconfig(t, agentTok), f.kubeconfig(t, opsTok)

	// kubectl, as people run it.
	leaks := func(out string, values ...string) bool {
		for _, v := range values {
			if strings.Contains(out, v) {
				return true
			}
		}
		return false
	}
	for _, c := range []struct {
		kc     string
		args   []string
		want   []string
		hidden []string
	}{
		{agentKC, []string{"get", "secrets"}, []string{"db", "Opaque", "1"}, []string{value, b64}},
		{agentKC, []string{"get", "secrets", "-o", "wide", "--show-labels"}, []string{"db", "Opaque"}, []string{value, b64}},
		{agentKC, []string{"get", "secret", "db", "-o", "yaml"}, []string{"password: Kioq", "last-applied-configuration: '***'"}, []string{value, b64}},
		{opsKC, []string{"get", "secret", "db", "-o", "yaml"}, []string{"password: " + b64}, nil},
		{opsKC, []string{"get", "secrets"}, []string{"db", "Opaque"}, nil},
		{agentKC, []string{"get", "configmap", "app", "-o", "yaml"}, []string{cmValue, "production"}, nil},
		{opsKC, []string{"get", "configmap", "app", "-o", "yaml"}, []string{"password: '***'", "production", "last-applied-configuration: '***'"}, []string{cmValue}},
		{opsKC, []string{"get", "configmaps", "-o", "wide"}, []string{"app"}, []string{cmValue}},
		{opsKC, []string{"get", "configmaps", "-o", "json"}, []string{`"production"`}, []string{cmValue}},
	} {
		out, err := f.kubectl(t, c.kc, "", c.args...)
		if err != nil || leaks(out, c.hidden...) {
			t.Errorf("%v: %v\n%s", c.args, err, out)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: no %q in\n%s", c.args, w, out)
			}
		}
	}

	// A masked read written back is refused, and changes nothing: the
	// Secret as the agent read it (values Kioq, last-applied ***), the
	// ConfigMap as ops read it (password ***), whatever the verb. The
	// real values, or a write that leaves the values out, go through.
	agentYAML, err := f.kubectl(t, agentKC, "", "get", "secret", "db", "-o", "yaml")
	if err != nil {
		t.Fatal(err)
	}
	opsYAML, err := f.kubectl(t, opsKC, "", "get", "configmap", "app", "-o", "yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		stdin string
		args  []string
		field string
	}{
		{agentYAML, []string{"replace", "-f", "-"}, "data.password"},
		{agentYAML, []string{"apply", "--server-side", "--force-conflicts", "-f", "-"}, "data.password"},
		{"", []string{"patch", "secret", "db", "-p", `{"data":{"password":"Kioq"}}`}, "data.password"},
		{"", []string{"patch", "secret", "db", "--type", "json", "-p", `[{"op":"replace","path":"/stringData","value":{"password":"***"}}]`}, "stringData.password"},
		{opsYAML, []string{"apply", "--server-side", "--force-conflicts", "-f", "-"}, "data.password"},
		{opsYAML, []string{"replace", "-f", "-"}, "data.password"},
	} {
		out, err := f.kubectl(t, opsKC, c.stdin, c.args...)
		if err == nil || !strings.Contains(out, "Warden's mask") || !strings.Contains(out, c.field) {
			t.Errorf("%v: want the masked write refused naming %s, got %v\n%s", c.args, c.field, err, out)
		}
	}
	clientSide := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, namespace: " + ns + "}\ndata: {password: new-pass, mode: production}\n"
	// Client-side apply computes its patch from the last-applied copy,
	// which it reads masked: kubectl stops before it writes anything.
	if out, err := f.kubectl(t, opsKC, clientSide, "apply", "-f", "-"); err == nil || !strings.Contains(out, "original:\n***\n") {
		t.Errorf("client-side apply after a masked read: want kubectl's refusal to patch from ***, got %v\n%s", err, out)
	}
	if out, err := f.kubectl(t, opsKC, "", "label", "secret", "db", "checked=yes"); err != nil {
		t.Errorf("a label on the Secret: %v\n%s", err, out)
	}
	if out, err := f.kubectl(t, opsKC, "", "patch", "configmap", "app", "-p", `{"data":{"region":"eu"}}`); err != nil {
		t.Errorf("a ConfigMap key that is not masked: %v\n%s", err, out)
	}
	if s, err := f.admin.CoreV1().Secrets(ns).Get(ctx, "db", metav1.GetOptions{}); err != nil || string(s.Data["password"]) != value || s.Labels["checked"] != "yes" {
		t.Fatalf("the Secret after the refused writes: %v %q %v", err, s.Data["password"], s.Labels)
	}
	if c, err := f.admin.CoreV1().ConfigMaps(ns).Get(ctx, "app", metav1.GetOptions{}); err != nil || c.Data["password"] != cmValue || c.Data["region"] != "eu" {
		t.Fatalf("the ConfigMap after the refused writes: %v %v", err, c.Data)
	}

	// What kubectl receives: the Table (its rows' metadata, or with
	// includeObject=Object the whole objects), PartialObjectMetadata, a
	// Table watch; and a format Warden cannot mask.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(f.pemCert)
	// A connection is one identity's: one client per token.
	clients := map[string]*http.Client{}
	for _, tok := range []string{agentTok, opsTok} {
		clients[tok] = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 20 * time.Second}
	}
	base := kubeproxy.ServerURL(f.addr, "k") + "/api/v1/namespaces/" + ns
	get := func(token, path, accept string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := clients[token].Do(req)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		defer resp.Body.Close()
		var b []byte
		if strings.Contains(path, "watch=true") {
			// The first event.
			b, _ = bufio.NewReader(resp.Body).ReadBytes('\n')
		} else {
			b, _ = io.ReadAll(resp.Body)
		}
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	const table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
	const meta = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"
	for _, c := range []struct {
		token, path, accept string
		want                []string
		hidden              []string
	}{
		{agentTok, "/secrets", table, []string{`"kind":"Table"`, `"db"`, `last-applied-configuration":"***"`}, []string{value, b64}},
		{agentTok, "/secrets?includeObject=Object", table, []string{`"kind":"Table"`, `"password":"Kioq"`}, []string{value, b64}},
		{agentTok, "/secrets", meta, []string{`"PartialObjectMetadataList"`, `last-applied-configuration":"***"`}, []string{value, b64}},
		{agentTok, "/secrets?watch=true", table, []string{`"type":"ADDED"`, `"kind":"Table"`}, []string{value, b64}},
		{agentTok, "/secrets?watch=true&includeObject=Object", table, []string{`"type":"ADDED"`, `"password":"Kioq"`}, []string{value, b64}},
		{opsTok, "/configmaps", table, []string{`"kind":"Table"`, `"app"`, `last-applied-configuration":"***"`}, []string{cmValue}},
		{opsTok, "/configmaps/app", "", []string{`"password":"***"`, `"production"`}, []string{cmValue}},
		{opsTok, "/secrets/db", "application/vnd.kubernetes.protobuf", []string{}, nil},
	} {
		code, ct, body := get(c.token, c.path, c.accept)
		if code != 200 || leaks(body, c.hidden...) {
			t.Errorf("%s (%s): %d %s", c.path, c.accept, code, body)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s (%s): no %s in %s", c.path, c.accept, w, body)
			}
		}
		if c.accept == "application/vnd.kubernetes.protobuf" && ct != c.accept {
			t.Errorf("ops's rule reveals Secrets, so protobuf is carried; got %q", ct)
		}
	}
	for _, accept := range []string{"application/vnd.kubernetes.protobuf", "application/yaml", "application/json;as=Table;v=v2;g=meta.k8s.io"} {
		code, _, body := get(agentTok, "/secrets/db", accept)
		var st metav1.Status
		json.Unmarshal([]byte(body), &st)
		if code != http.StatusNotAcceptable || st.Kind != "Status" || !strings.Contains(st.Message, "only in JSON") || leaks(body, value, b64) {
			t.Errorf("Accept %s: %d %s", accept, code, body)
		}
	}
	code, _, body := get(opsTok, "/configmaps/app", "application/vnd.kubernetes.protobuf")
	if code != http.StatusNotAcceptable || leaks(body, cmValue) {
		t.Errorf("ops's configmap as protobuf: %d %s", code, body)
	}

	// Recorded: what was masked, and the refusals as failed operations.
	var masked, failed int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		masked, failed = 0, 0
		for _, ev := range f.events(t, "kubectl_get") {
			masked += int(ev.Masked["secret"])
			if ev.Status == "failed" && strings.Contains(ev.Error, "only in JSON") {
				failed++
			}
		}
		if masked > 0 && failed == 4 || time.Now().After(deadline) {
			break
		}
	}
	if masked == 0 || failed != 4 {
		dumpEvents(t, f)
		t.Errorf("audit: %d masked, %d refused formats (want 4)", masked, failed)
	}
}

// TestHostileRequests: requests kubectl would not send, each refused
// with a Status before anything reaches the API server, and nothing
// changed.
func TestHostileRequests(t *testing.T) {
	f := newFixture(t)
	token := f.token(t)
	if _, err := f.admin.CoreV1().ConfigMaps(f.ns[0]).Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(f.pemCert)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 20 * time.Second}
	base := kubeproxy.ServerURL(f.addr, "k")
	cm := "/api/v1/namespaces/" + f.ns[0] + "/configmaps"
	cases := []struct {
		name, method, path, ctype, body string
		code                            int
		want                            string
	}{
		{"unknown strategic directive", "PATCH", cm + "/c", "application/strategic-merge-patch+json", `{"$weird":1,"data":{"k":"x"}}`, 400, "directive"},
		{"bad $patch", "PATCH", cm + "/c", "application/strategic-merge-patch+json", `{"data":{"$patch":"sideways"}}`, 400, "$patch must be"},
		{"duplicate keys", "PATCH", cm + "/c", "application/merge-patch+json", `{"data":{"k":"x"},"data":{"k":"y"}}`, 400, "duplicate"},
		{"json patch copy", "PATCH", cm + "/c", "application/json-patch+json", `[{"op":"copy","from":"/data/k","path":"/data/z"}]`, 403, "copy"},
		{"json patch on kind", "PATCH", cm + "/c", "application/json-patch+json", `[{"op":"replace","path":"/kind","value":"Secret"}]`, 400, "may not change"},
		{"protobuf patch", "PATCH", cm + "/c", "application/vnd.kubernetes.protobuf", "\x6b\x38\x73\x00", 400, "not one Warden classifies"},
		{"kind mismatch", "POST", cm, "application/json", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"stringData":{"a":"b"}}`, 400, "the body is a secrets"},
		{"name mismatch", "PUT", cm + "/c", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"other"}}`, 400, "names"},
		{"two objects", "POST", cm, "application/yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n", 400, "2 objects"},
		{"not clean path", "GET", "/api/v1/namespaces/" + f.ns[0] + "/configmaps/../secrets", "", "", 400, "clean form"},
		{"metrics", "GET", "/metrics", "", "", 403, "not an API resource request"},
		{"pod proxy", "GET", "/api/v1/namespaces/" + f.ns[0] + "/pods/p/proxy", "", "", 403, "proxy subresource"},
		{"namespace outside the connection", "GET", "/api/v1/namespaces/kube-system/configmaps", "", "", 403, "kube-system"},
		{"unknown resource", "GET", "/apis/nope.example.com/v1/namespaces/" + f.ns[0] + "/things", "", "", 400, "no such resource"},
		{"status subresource write", "PUT", cm + "/c/status", "application/json", `{}`, 403, "status subresource"},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+token)
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var st metav1.Status
		json.Unmarshal(b, &st)
		if resp.StatusCode != c.code || st.Kind != "Status" || !strings.Contains(st.Message, c.want) {
			t.Errorf("%s: %d %s; want %d with %q", c.name, resp.StatusCode, b, c.code, c.want)
		}
	}
	got, err := f.admin.CoreV1().ConfigMaps(f.ns[0]).Get(context.Background(), "c", metav1.GetOptions{})
	if err != nil || got.Data["k"] != "v" || len(got.Data) != 1 {
		t.Fatalf("the configmap changed: %v %v", err, got.Data)
	}
	if _, err := f.admin.CoreV1().Secrets(f.ns[0]).Get(context.Background(), "s", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the secret exists: %v", err)
	}
}

// TestKubectlDeleteReview: a delete a rule holds for review is refused
// while held, with the request's id; once a person approves it, the same
// kubectl command runs it, once.
func TestKubectlDeleteReview(t *testing.T) {
	f := newFixture(t)
	kc := f.kubeconfig(t, f.token(t))
	ctx := context.Background()
	if _, err := f.admin.CoreV1().ConfigMaps(f.ns[1]).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "old"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err := f.kubectl(t, kc, "", "delete", "configmap", "old", "-n", f.ns[1])
	m := regexp.MustCompile(`request (\S+) needs`).FindStringSubmatch(out)
	if err == nil || m == nil {
		t.Fatalf("delete not held: %v\n%s", err, out)
	}
	if _, err := f.admin.CoreV1().ConfigMaps(f.ns[1]).Get(ctx, "old", metav1.GetOptions{}); err != nil {
		t.Fatalf("deleted while held: %v", err)
	}
	dba := identity.Principal{Subject: "bob", Groups: []string{"dba"}, Issuer: "local"}
	if _, err := f.svc.Decide(ctx, dba, m[1], approvals.VerdictApprove, "ok", "api"); err != nil {
		t.Fatal(err)
	}
	out, err = f.kubectl(t, kc, "", "delete", "configmap", "old", "-n", f.ns[1])
	if err != nil || !strings.Contains(out, "deleted") {
		t.Fatalf("approved delete: %v\n%s", err, out)
	}
	if _, err := f.admin.CoreV1().ConfigMaps(f.ns[1]).Get(ctx, "old", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("not deleted: %v", err)
	}
	f.noSessionAccounts(t)
}

// TestKubectlExecDecided: kubectl exec is decided as kubectl_exec. In the
// namespace a rule admits it, the upgrade reaches the API server as the
// session account (which, without a kubelet, answers that the pod has no
// node: the request passed Warden, the token and RBAC); elsewhere Warden
// refuses it before the API server.
func TestKubectlExecDecided(t *testing.T) {
	f := newFixture(t)
	kc := f.kubeconfig(t, f.token(t))
	ctx := context.Background()
	for _, ns := range f.ns {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
		if _, err := f.admin.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Over WebSocket, and over SPDY (kubectl's fallback): each reaches
	// the API server, which says the pod has no node.
	for _, env := range [][]string{nil, kubectlSPDY} {
		out, err := f.kubectlEnv(t, env, kc, "", "exec", "p", "-n", f.ns[0], "--", "true")
		if err == nil || !strings.Contains(out, "does not have a host assigned") {
			t.Fatalf("exec in %s (%v): want the API server's answer, got %v\n%q", f.ns[0], env, err, out)
		}
	}
	out, err := f.kubectl(t, kc, "", "exec", "p", "-n", f.ns[1], "--", "true")
	if err == nil || !strings.Contains(out, "Warden:") {
		t.Fatalf("exec in %s: want Warden's refusal, got %v\n%s", f.ns[1], err, out)
	}
	evs := f.events(t, "kubectl_exec")
	var ok, denied int
	for _, ev := range evs {
		switch {
		case ev.Rule == "exec-dev" && ev.Credential != "":
			ok++
		case ev.Status == "denied":
			denied++
		}
	}
	if ok == 0 || denied == 0 {
		dumpEvents(t, f)
		t.Fatalf("exec events: %d allowed, %d denied", ok, denied)
	}
	f.noSessionAccounts(t)
}

// TestKubectlOIDC: an OIDC access token is a bearer token the proxy
// accepts: kubectl runs as its subject and groups.
func TestKubectlOIDC(t *testing.T) {
	const resource = "https://warden.test/mcp"
	idp := testoidc.Start(t, testoidc.Options{Audience: []string{resource},
		Clients: []testoidc.Client{{ID: "ci-bot", Secret: "ci-bot-secret", Groups: []string{"agents"}}}})
	verifier, err := identity.NewOIDC(identity.OIDCOptions{Issuers: []config.OIDCIssuer{{Name: "test", Issuer: idp.Issuer,
		Audience: resource, SubjectClaim: "sub", GroupsClaim: "groups"}}})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, verifier)
	out, err := f.kubectl(t, f.kubeconfig(t, idp.ClientCredentials(t, "ci-bot", "ci-bot-secret")), "", "get", "configmaps")
	if err != nil || !strings.Contains(out, "kube-root-ca.crt") {
		t.Fatalf("kubectl with an OIDC token: %v\n%s", err, out)
	}
	evs := f.events(t, "kubectl_get")
	if len(evs) == 0 || evs[0].Identity != "ci-bot" {
		t.Fatalf("events: %+v", evs)
	}
}
