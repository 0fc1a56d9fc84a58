package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"

	"github.com/wardenhq/warden/internal/testenv"
)

// kubeEnv is a configuration governing the test cluster: a namespace of
// the test's own, readable by agents, and a session namespace of its own
// (so that the test counts only its own session accounts).
func kubeEnv(t *testing.T) (env, *k8s.Clientset, string, string) {
	t.Helper()
	kc := testenv.Kube(t)
	admin := testenv.KubeAdmin(t, kc)
	ns := testenv.KubeNamespace(t, admin)
	var b [4]byte
	rand.Read(b[:])
	sessions := "warden-e2e-" + hex.EncodeToString(b[:])
	t.Cleanup(func() { admin.CoreV1().Namespaces().Delete(context.Background(), sessions, metav1.DeleteOptions{}) })
	dir := t.TempDir()
	cfg := fmt.Sprintf(`
store: sqlite://./audit.db
identity:
  local: agent
  allow_anonymous_loopback: true
  users: [{name: agent, groups: [agents]}]
connections:
  - name: k
    kind: kubernetes
    server: %s
    ca_file: %s
    token: {file: %s}
    namespaces: [%s]
    session_namespace: %s
    jit: {ttl: 10m, idle_timeout: 5m}
rules:
  - {name: agents-read, subjects: {groups: [agents]}, tools: [kubectl_get, kubectl_logs], effect: allow}
  - name: agents-apply
    subjects: {groups: [agents]}
    tools: [kubectl_apply]
    effect: allow
    read_only: false
    statements: [create, update]
    kubernetes: {resources: [configmaps]}
  - name: agents-delete
    subjects: {groups: [agents]}
    tools: [kubectl_delete]
    effect: review
    read_only: false
    statements: [delete]
  - name: agents-exec
    subjects: {groups: [agents]}
    tools: [kubectl_exec]
    effect: allow
    read_only: false
    kubernetes: {resources: [pods/exec], allow_risks: [exec]}
`, kc.Server, kc.CAFile, kc.TokenFile, ns, sessions)
	path := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return env{dir: dir, config: path, password: kc.Token}, admin, ns, sessions
}

// sessionObjects lists what Warden minted in the session namespace and
// the cluster (ServiceAccounts and ClusterRoles it labels).
func sessionObjects(t *testing.T, admin *k8s.Clientset, sessions string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	sas, err := admin.CoreV1().ServiceAccounts(sessions).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=warden"})
	if err != nil {
		t.Fatal(err)
	}
	for _, sa := range sas.Items {
		out = append(out, "serviceaccount/"+sa.Name)
		// Its owner, the ClusterRole of the same name.
		if _, err := admin.RbacV1().ClusterRoles().Get(ctx, sa.Name, metav1.GetOptions{}); err == nil {
			out = append(out, "clusterrole/"+sa.Name)
		}
	}
	return out
}

func waitSessionObjects(t *testing.T, admin *k8s.Clientset, sessions string, want func([]string) bool, what string) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := sessionObjects(t, admin, sessions)
		if want(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("session objects %s: %v", what, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestKubeMCP: the Kubernetes tools over MCP (stdio) against the real
// API server: a table, a masked Secret, an apply with its diff, a delete
// no rule admits refused with nothing changed; the session's accounts
// exist while it lives and are gone once stdin closes; the admin token
// reaches no log and no file.
func TestKubeMCP(t *testing.T) {
	e, admin, ns, sessions := kubeEnv(t)
	ctx := context.Background()
	for _, n := range []string{"web-1", "web-2"} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: n}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
		if _, err := admin.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "api"}, StringData: map[string]string{"key": "sk-live-abcdef"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c, logs, wait := startStdioKeepStderr(t, e)
	res, text, s := call(t, c, "kubectl_get", map[string]any{"connection": "k", "resource": "po", "namespace": ns})
	if res.IsError || s["items"] != 2.0 || !strings.Contains(text, "web-2") || !strings.Contains(text, "STATUS") {
		t.Fatalf("kubectl_get po: %s %v", text, s)
	}
	res, text, _ = call(t, c, "kubectl_get", map[string]any{"connection": "k", "resource": "secret", "namespace": ns, "name": "api", "output": "yaml"})
	if res.IsError || strings.Contains(text, "sk-live") || strings.Contains(text, "c2stbGl2ZS") || !strings.Contains(text, "key: '***'") {
		t.Fatalf("kubectl_get secret: %s", text)
	}
	res, text, s = call(t, c, "kubectl_apply", map[string]any{"connection": "k", "namespace": ns,
		"manifest": `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"level": "debug"}}`})
	if res.IsError || !strings.Contains(s["diff"].(string), "+  level: debug") {
		t.Fatalf("kubectl_apply: %s", text)
	}
	if cm, err := admin.CoreV1().ConfigMaps(ns).Get(ctx, "settings", metav1.GetOptions{}); err != nil || cm.Data["level"] != "debug" {
		t.Fatalf("the applied ConfigMap: %v", err)
	}
	// A delete is held for review: refused for now, nothing changed.
	res, text, _ = call(t, c, "kubectl_delete", map[string]any{"connection": "k", "resource": "pods", "namespace": ns, "name": "web-1"})
	t.Logf("kubectl_delete: %s", text)
	if !res.IsError || !strings.Contains(text, "approv") {
		t.Fatalf("kubectl_delete ran: %s", text)
	}
	if _, err := admin.CoreV1().Pods(ns).Get(ctx, "web-1", metav1.GetOptions{}); err != nil {
		t.Fatalf("the refused delete deleted: %v", err)
	}
	during := waitSessionObjects(t, admin, sessions, func(o []string) bool { return len(o) >= 2 }, "during the session")
	t.Logf("during the session: %v", during)
	c.Close()
	wait()
	waitSessionObjects(t, admin, sessions, func(o []string) bool { return len(o) == 0 }, "after stdin closed")
	for _, o := range during {
		if name, ok := strings.CutPrefix(o, "serviceaccount/"); ok {
			testenv.KubeGone(t, admin, sessions, []string{ns}, name)
		}
	}
	// The leases are marked revoked right after their objects are deleted.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, err := exec.Command(wardenBin, "leases", "list", "--config", e.config, "--json").Output()
		if err == nil && strings.Count(string(out), `"state":"revoked"`) == 3 && !strings.Contains(string(out), `"state":"active"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("leases list: %v %s\nlogs:\n%s", err, out, logs)
		}
	}
	checkNoSecret(t, e, logs.String())
}

// startStdioKeepStderr is startStdio for a session whose end the test
// watches: the client closes only Warden's stdin, never the pipe of its
// stderr (mcp-go's stdio client closes both, and a Go program whose
// stderr pipe is closed dies of SIGPIPE at its next log line, here in
// the middle of its revocations). wait waits for Warden to exit.
func startStdioKeepStderr(t *testing.T, e env) (*client.Client, *syncBuffer, func()) {
	t.Helper()
	logs := &syncBuffer{}
	cmd := exec.Command(wardenBin, "mcp", "--config", e.config)
	cmd.Stderr = logs
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	c := client.NewClient(transport.NewIO(stdout, stdin, nil))
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	initialize(t, c)
	return c, logs, func() {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("warden mcp exited: %v\n%s", err, logs)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("warden mcp did not exit after stdin closed:\n%s", logs)
		}
	}
}

// TestKubeStdioClientClosesStderr: a client that closes Warden's stdin
// and stderr together (mcp-go's stdio client does) still gets every
// credential of the session revoked.
func TestKubeStdioClientClosesStderr(t *testing.T) {
	e, admin, ns, sessions := kubeEnv(t)
	c, _ := startStdio(t, e)
	for _, r := range []string{"pods", "configmaps", "serviceaccounts", "services"} {
		if res, text, _ := call(t, c, "kubectl_get", map[string]any{"connection": "k", "resource": r, "namespace": ns}); res.IsError {
			t.Fatalf("kubectl_get %s: %s", r, text)
		}
	}
	during := waitSessionObjects(t, admin, sessions, func(o []string) bool { return len(o) == 8 }, "during the session")
	c.Close()
	waitSessionObjects(t, admin, sessions, func(o []string) bool { return len(o) == 0 }, "after the client closed")
	for _, o := range during {
		if name, ok := strings.CutPrefix(o, "serviceaccount/"); ok {
			testenv.KubeGone(t, admin, sessions, []string{ns}, name)
		}
	}
	waitLeasesRevoked(t, e, 4)
}

// waitLeasesRevoked waits until the store has n leases, every one revoked.
func waitLeasesRevoked(t *testing.T, e env, n int) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, err := exec.Command(wardenBin, "leases", "list", "--config", e.config, "--json").Output()
		if err == nil && strings.Count(string(out), `"state":"revoked"`) == n && !strings.Contains(string(out), `"state":"active"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("leases list: %v %s", err, out)
		}
	}
}

// TestKubeKilledWarden: kill -9 Warden mid-session; the next Warden to
// start deletes the orphaned ServiceAccount and its Roles.
func TestKubeKilledWarden(t *testing.T) {
	e, admin, ns, sessions := kubeEnv(t)
	cmd := exec.Command(wardenBin, "serve", "--config", e.config, "--listen", "127.0.0.1:0")
	stdout, _ := cmd.StdoutPipe()
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	sc := bufio.NewScanner(stdout)
	var url string
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "Warden is serving MCP at "); ok {
			url = u
			break
		}
	}
	body := func(method string, id int, params any) string {
		b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
		return string(b)
	}
	post := func(session, payload string) (string, string) {
		req, _ := httpNewRequest("POST", url, payload)
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
		}
		resp, err := httpDo(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.Header.Get("Mcp-Session-Id"), b.String()
	}
	session, _ := post("", body("initialize", 1, map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "k", "version": "1"}}))
	post(session, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	_, out := post(session, body("tools/call", 2, map[string]any{"name": "kubectl_get", "arguments": map[string]any{"connection": "k", "resource": "serviceaccounts", "namespace": ns}}))
	if !strings.Contains(out, "default") {
		t.Fatalf("kubectl_get through the killed-to-be Warden: %s", out)
	}
	before := waitSessionObjects(t, admin, sessions, func(o []string) bool { return len(o) == 2 }, "during the session")
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if o := sessionObjects(t, admin, sessions); len(o) != 2 {
		t.Fatalf("session objects right after kill -9: %v (before: %v)", o, before)
	}
	start := time.Now()
	c, _ := startStdio(t, e)
	waitSessionObjects(t, admin, sessions, func(o []string) bool { return len(o) == 0 }, "after restart")
	t.Logf("orphaned ServiceAccount and Roles removed %v after restart", time.Since(start).Round(time.Millisecond))
	name := strings.TrimPrefix(before[0], "serviceaccount/")
	testenv.KubeGone(t, admin, sessions, []string{ns}, name)
	c.Close()
}
