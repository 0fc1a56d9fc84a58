package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
)

// RunningPod says what a pod that runs on the test cluster's kwok node
// (scripts/kube.sh) does when asked for its logs, an exec or a
// port-forward. kwok serves them on the pod's behalf: logs from a file,
// exec as a local command in WorkDir, a port-forward to a local address.
type RunningPod struct {
	Namespace, Name string
	// Container is the pod's one container (default "app").
	Container string
	// Logs are the container's log lines so far; AppendLog adds more
	// (kubectl attach follows them from its start).
	Logs []string
	// WorkDir, when set, makes exec run local commands there.
	WorkDir string
	// Forward maps the pod's ports to local TCP addresses' ports on 127.0.0.1.
	Forward map[int]int
	logFile string
}

// KwokNode returns the name of the test cluster's node that runs pods
// (kwok), or skips/fails the test.
func KwokNode(t testing.TB) string {
	t.Helper()
	n := os.Getenv("WARDEN_TEST_KWOK_NODE")
	if n == "" {
		missing(t, "kwok (pods that run)", "run `source \"$(scripts/kube.sh start)\"` (it starts kwok too), or `make test`")
	}
	return n
}

// KubeRunningPod creates the pod bound to the kwok node, with its logs,
// exec and port-forward as p says, and waits until it is Running.
func KubeRunningPod(t testing.TB, admin *k8s.Clientset, p *RunningPod) {
	t.Helper()
	node := KwokNode(t)
	if p.Container == "" {
		p.Container = "app"
	}
	ctx := context.Background()
	p.logFile = filepath.Join(t.TempDir(), p.Name+".log")
	if err := os.WriteFile(p.logFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p.AppendLog(t, p.Logs...)
	crs := []struct {
		resource string
		spec     any
	}{
		{"logs", map[string]any{"logs": []any{map[string]any{"containers": []string{p.Container}, "logsFile": p.logFile, "follow": true}}}},
		// kubectl attach follows the same log, from its end.
		{"attaches", map[string]any{"attaches": []any{map[string]any{"containers": []string{p.Container}, "logsFile": p.logFile}}}},
	}
	if p.WorkDir != "" {
		crs = append(crs, struct {
			resource string
			spec     any
		}{"execs", map[string]any{"execs": []any{map[string]any{"containers": []string{p.Container}, "local": map[string]any{"workDir": p.WorkDir}}}}})
	}
	if len(p.Forward) > 0 {
		var fw []any
		for port, to := range p.Forward {
			fw = append(fw, map[string]any{"ports": []int{port}, "target": map[string]any{"port": to, "address": "127.0.0.1"}})
		}
		crs = append(crs, struct {
			resource string
			spec     any
		}{"portforwards", map[string]any{"forwards": fw}})
	}
	kinds := map[string]string{"logs": "Logs", "attaches": "Attach", "execs": "Exec", "portforwards": "PortForward"}
	for _, cr := range crs {
		body, _ := json.Marshal(map[string]any{"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": kinds[cr.resource],
			"metadata": map[string]any{"name": p.Name, "namespace": p.Namespace}, "spec": cr.spec})
		err := admin.Discovery().RESTClient().Post().AbsPath("/apis/kwok.x-k8s.io/v1alpha1/namespaces", p.Namespace, cr.resource).
			SetHeader("Content-Type", "application/json").Body(body).Do(ctx).Error()
		if err != nil {
			t.Fatalf("create kwok %s for %s/%s: %v", kinds[cr.resource], p.Namespace, p.Name, err)
		}
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: p.Container, Image: "registry.example/app:1"}}}}
	if _, err := admin.CoreV1().Pods(p.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := admin.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if err == nil && got.Status.Phase == corev1.PodRunning {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s/%s not Running after 30 s (kwok): %v %v", p.Namespace, p.Name, got.Status.Phase, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// AppendLog adds lines to the container's log, as the container would
// write them (CRI log format, which kwok reads), for `logs -f` to see.
func (p *RunningPod) AppendLog(t testing.TB, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(p.logFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%s stdout F %s\n", time.Now().UTC().Format(time.RFC3339Nano), l)
	}
	if _, err := f.WriteString(b.String()); err != nil {
		t.Fatal(err)
	}
}
