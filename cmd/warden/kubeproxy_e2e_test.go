package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wardenhq/warden/internal/testenv"
)

// TestKubeProxyKubectl: `warden serve` with listen.kubernetes makes and
// keeps its certificate; `warden connect` writes a kubeconfig whose
// credential plugin is `warden kube-credential`; plain kubectl with it
// lists, applies what policy admits and is refused what it does not; the
// session accounts are gone once kubectl is.
func TestKubeProxyKubectl(t *testing.T) {
	kc := testenv.Kube(t)
	if kc.Kubectl == "" {
		t.Skip("WARDEN_TEST_KUBECTL is not set: source \"$(scripts/kube.sh start)\"")
	}
	e, admin, ns, sessions := kubeEnv(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.config, []byte(fmt.Sprintf("listen:\n  kubernetes: 127.0.0.1:%d\n", port)+string(cfg)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_CACHE_HOME", filepath.Join(e.dir, "cache"))
	u, logs, _ := serveWarden(t, "--config", e.config, "--listen", "127.0.0.1:0")
	for _, f := range []string{"kube_proxy.crt", "kube_proxy.key"} {
		if _, err := os.Stat(filepath.Join(e.dir, f)); err != nil {
			t.Fatalf("the proxy's certificate is not kept next to the configuration: %v", err)
		}
	}
	kubeconfig := filepath.Join(e.dir, "k.kubeconfig")
	out, err := exec.Command(wardenBin, "connect", "k", "--server", u, "--kubeconfig", kubeconfig).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "kubectl --kubeconfig "+kubeconfig) {
		t.Fatalf("warden connect: %v\n%s", err, out)
	}
	raw, _ := os.ReadFile(kubeconfig)
	if !strings.Contains(string(raw), "kube-credential") || !strings.Contains(string(raw), "client.authentication.k8s.io/v1") ||
		!strings.Contains(string(raw), fmt.Sprintf("https://127.0.0.1:%d/k8s/k", port)) || strings.Contains(string(raw), "token:") {
		t.Fatalf("kubeconfig:\n%s", raw)
	}
	kubectl := func(stdin string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, kc.Kubectl, append([]string{"--kubeconfig", kubeconfig, "--cache-dir", filepath.Join(e.dir, "kcache"), "-n", ns}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	if _, err := admin.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "seen"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out2, err := kubectl("", "get", "configmaps")
	if err != nil || !strings.Contains(out2, "seen") {
		t.Fatalf("kubectl get: %v\n%s\nlogs:\n%s", err, out2, logs)
	}
	// The plugin's token is cached: a second kubectl asks Warden for none.
	if _, err := os.Stat(filepath.Join(e.dir, "cache", "warden", "kube-credentials.json")); err != nil {
		t.Fatalf("no credential cache: %v", err)
	}
	cred, err := exec.Command(wardenBin, "kube-credential", "--connection", "k", "--server", u).Output()
	if err != nil || !strings.Contains(string(cred), `"kind":"ExecCredential"`) || !strings.Contains(string(cred), `"token":"`) {
		t.Fatalf("kube-credential: %v\n%s", err, cred)
	}
	out2, err = kubectl("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: applied}\ndata: {a: b}\n", "apply", "-f", "-")
	if err != nil || !strings.Contains(out2, "configmap/applied created") {
		t.Fatalf("kubectl apply: %v\n%s", err, out2)
	}
	out2, err = kubectl("", "delete", "configmap", "seen")
	if err == nil || !strings.Contains(out2, "Warden:") {
		t.Fatalf("kubectl delete was not held or refused: %v\n%s", err, out2)
	}
	if _, err := admin.CoreV1().ConfigMaps(ns).Get(context.Background(), "seen", metav1.GetOptions{}); err != nil {
		t.Fatalf("the configmap was deleted: %v", err)
	}
	waitSessionObjects(t, admin, sessions, func(s []string) bool { return len(s) == 0 }, "after kubectl")
	list, err := exec.Command(wardenBin, "audit", "list", "--config", e.config, "--tool", "kubectl_get").CombinedOutput()
	if err != nil || !strings.Contains(string(list), "kubectl_get") {
		t.Fatalf("audit list: %v\n%s", err, list)
	}
	// The first kubectl's connection is a session: replay shows its
	// requests.
	raw, err = exec.Command(wardenBin, "audit", "list", "--config", e.config, "--tool", "kubectl_get", "--json").Output()
	type event struct {
		Session   string `json:"session"`
		Transport string `json:"transport"`
	}
	var evs []event
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var ev event
		if json.Unmarshal([]byte(line), &ev) == nil {
			evs = append(evs, ev)
		}
	}
	if err != nil || len(evs) == 0 || evs[0].Transport != "kubernetes-proxy" {
		t.Fatalf("audit list --json: %v\n%s", err, raw)
	}
	replay, err := exec.Command(wardenBin, "replay", evs[len(evs)-1].Session, "--config", e.config).CombinedOutput()
	if err != nil || !strings.Contains(string(replay), "list configmaps -n "+ns) {
		t.Fatalf("replay: %v\n%s", err, replay)
	}
	// An exec is recorded, and warden replay plays it.
	testenv.KubeRunningPod(t, admin, &testenv.RunningPod{Namespace: ns, Name: "web", WorkDir: e.dir})
	out2, err = kubectl("", "exec", "web", "--", "sh", "-c", "echo recorded output")
	if err != nil || out2 != "recorded output\n" {
		t.Fatalf("kubectl exec: %v\n%s", err, out2)
	}
	raw, err = exec.Command(wardenBin, "audit", "list", "--config", e.config, "--tool", "kubectl_exec", "--json").Output()
	var execEv struct {
		ID string `json:"id"`
	}
	if err != nil || json.Unmarshal([]byte(strings.Split(strings.TrimSpace(string(raw)), "\n")[0]), &execEv) != nil || execEv.ID == "" {
		t.Fatalf("audit list --tool kubectl_exec: %v\n%s", err, raw)
	}
	played, err := exec.Command(wardenBin, "replay", execEv.ID, "--play", "--speed", "100", "--config", e.config).CombinedOutput()
	if err != nil || !strings.Contains(string(played), "recorded output") {
		t.Fatalf("replay --play of the exec: %v\n%s", err, played)
	}
	described, err := exec.Command(wardenBin, "replay", execEv.ID, "--config", e.config).CombinedOutput()
	if err != nil || !strings.Contains(string(described), "sh -c echo recorded output") {
		t.Fatalf("replay of the exec: %v\n%s", err, described)
	}
	if strings.Contains(logs.String(), kc.Token) {
		t.Fatal("the cluster admin token is in Warden's logs")
	}
}
