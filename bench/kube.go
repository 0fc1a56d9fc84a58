package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

var kubeOnly = flag.Bool("kube", false, "run only the Kubernetes benchmark: kubectl_get of 100 pods over MCP against client-go direct, on the test API server (scripts/kube.sh)")

// runKubeBench lists 100 pods (stored; the test cluster runs none)
// through Warden's kubectl_get over MCP stdio, as a table and as YAML,
// and with client-go directly, as a typed list and as the server's Table.
func runKubeBench(o options) error {
	server, caFile, tokenFile := os.Getenv("WARDEN_TEST_KUBE_SERVER"), os.Getenv("WARDEN_TEST_KUBE_CA_FILE"), os.Getenv("WARDEN_TEST_KUBE_TOKEN_FILE")
	if server == "" || caFile == "" || tokenFile == "" {
		return fmt.Errorf("no test API server: source \"$(scripts/kube.sh start)\"")
	}
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		return err
	}
	rc := &rest.Config{Host: server, BearerToken: strings.TrimSpace(string(tok)), TLSClientConfig: rest.TLSClientConfig{CAFile: caFile}, QPS: -1}
	admin, err := k8s.NewForConfig(rc)
	if err != nil {
		return err
	}
	ctx := context.Background()
	var b [4]byte
	rand.Read(b[:])
	ns := "wbench-" + hex.EncodeToString(b[:])
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	defer admin.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	for i := range 100 {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%03d", i), Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1.2", Env: []corev1.EnvVar{{Name: "MODE", Value: "prod"}}}}}}
		if _, err := admin.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "warden-kube-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "warden.yaml")
	sessions := ns + "-sessions"
	defer admin.CoreV1().Namespaces().Delete(context.Background(), sessions, metav1.DeleteOptions{})
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`store: sqlite://./audit.db
identity: {local: bench, users: [{name: bench, groups: [agents]}]}
connections:
  - {name: k, kind: kubernetes, server: %s, ca_file: %s, token: {file: %s}, namespaces: [%s], session_namespace: %s}
rules:
  - {name: read, subjects: {groups: [agents]}, tools: [kubectl_get], effect: allow}
`, server, caFile, tokenFile, ns, sessions)), 0o644); err != nil {
		return err
	}
	warden := func(name, output string) target {
		return target{name: name, open: func(ctx context.Context, clients int, _ string) ([]caller, func(), error) {
			c, err := client.NewStdioMCPClientWithOptions(o.warden, os.Environ(), []string{"mcp", "--config", cfg, "--log-level", "warn"},
				transport.WithCommandStderrWriter(os.Stderr))
			if err != nil {
				return nil, nil, err
			}
			if err := initialize(ctx, c); err != nil {
				c.Close()
				return nil, nil, err
			}
			call := toolCaller(c, "kubectl_get", map[string]any{"connection": "k", "resource": "pods", "namespace": ns, "output": output})
			return repeat(call, clients), func() { c.Close() }, nil
		}}
	}
	direct := target{name: "client-go typed list", open: func(ctx context.Context, clients int, _ string) ([]caller, func(), error) {
		call := func(ctx context.Context) error {
			l, err := admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err == nil && len(l.Items) != 100 {
				err = fmt.Errorf("%d pods", len(l.Items))
			}
			return err
		}
		return repeat(call, clients), func() {}, nil
	}}
	table := target{name: "client-go Table", open: func(ctx context.Context, clients int, _ string) ([]caller, func(), error) {
		call := func(ctx context.Context) error {
			return admin.CoreV1().RESTClient().Get().Namespace(ns).Resource("pods").
				SetHeader("Accept", "application/json;as=Table;g=meta.k8s.io;v=v1").Do(ctx).Error()
		}
		return repeat(call, clients), func() {}, nil
	}}
	var rs []result
	for _, n := range o.clients {
		for _, t := range []target{direct, table, warden("warden kubectl_get table", "table"), warden("warden kubectl_get yaml", "yaml")} {
			fmt.Fprintf(os.Stderr, "bench: %-28s %2d client(s) ...", t.name, n)
			r := measure(ctx, o, t, "", n)
			r.Query = "100 pods"
			fmt.Fprintf(os.Stderr, " %d calls, median %.3f ms\n", r.Calls, r.MedianMs)
			rs = append(rs, r)
		}
	}
	fmt.Println("== kubectl_get of 100 pods: Warden over MCP stdio vs client-go direct (Warden's own token)")
	fmt.Println("   Warden: discovery (cached), policy, audit intent + outcome, a ServiceAccount per session (minted in warm-up), table rendering or YAML with masking")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "clients\ttarget\tmedian ms\tp99 ms\tcalls/s\tmedian ×typed list\terrors\t")
	base := map[int]float64{}
	for _, r := range rs {
		if r.Target == direct.name {
			base[r.Clients] = r.MedianMs
		}
		ratio := "-"
		if b := base[r.Clients]; b > 0 && r.Target != direct.name {
			ratio = fmt.Sprintf("%.2f", r.MedianMs/b)
		}
		fmt.Fprintf(tw, "%d\t%s\t%.3f\t%.3f\t%.0f\t%s\t%d\t\n", r.Clients, r.Target, r.MedianMs, r.P99Ms, r.PerSecond, ratio, r.Errors)
	}
	tw.Flush()
	return nil
}
