package kube_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/wardenhq/warden/approvals"
	approvalsqlite "github.com/wardenhq/warden/approvals/sqlite"
	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/builtin"
	"github.com/wardenhq/warden/credentials"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/internal/testenv"
	"github.com/wardenhq/warden/masking"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/tools"
	toolsbuiltin "github.com/wardenhq/warden/tools/builtin"
	kubetools "github.com/wardenhq/warden/tools/kube"
)

const sessionNS = "warden-sessions-tools"

type fixture struct {
	cat   *tools.Catalogue
	admin *k8s.Clientset
	ns    []string
	svc   *approvals.Service
	store *auditsqlite.Store
}

var (
	agent = gateway.Caller{Principal: identity.Principal{Subject: "agent", Groups: []string{"agents"}, Issuer: "local"}, Transport: "stdio", Session: "s1"}
	dba   = identity.Principal{Subject: "bob", Groups: []string{"dba"}, Issuer: "local"}
)

// newFixture: a pipeline over the test cluster with two namespaces of
// its own: ns[0] readable and writable under review, ns[1] readable only.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	kc := testenv.Kube(t)
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
  - name: apply-dev
    subjects: {groups: [agents]}
    tools: [kubectl_apply]
    effect: allow
    read_only: false
    statements: [create, update]
    kubernetes: {namespaces: [%[4]s], resources: [configmaps, secrets], allow_risks: [secret]}
  - name: apply-review
    subjects: {groups: [agents]}
    tools: [kubectl_apply]
    effect: review
    read_only: false
    statements: [create, update]
    kubernetes: {namespaces: [%[4]s], resources: [deployments.apps]}
    approvers: {groups: [dba]}
  - name: delete-review
    subjects: {groups: [agents]}
    tools: [kubectl_delete]
    effect: review
    read_only: false
    statements: [delete]
    kubernetes: {namespaces: [%[4]s]}
    approvers: {groups: [dba]}
`, kc.Server, kc.CAFile, kc.TokenFile, ns[0], ns[1], sessionNS)))
	if err != nil {
		t.Fatal(err)
	}
	engine, err := policy.Compile(cfg, tools.Names(toolsbuiltin.Tools()))
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
	conns, err := builtin.Registry().Open(context.Background(), cfg.Connections, connectors.OpenOptions{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	creds := credentials.New(store, conns, cfg.Connections, logger)
	if err := creds.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	cat, err := toolsbuiltin.Open(gateway.Options{Connections: conns, Decider: engine, Minter: creds, Masker: masker, Recorder: store, Holder: svc, Limits: cfg.Limits})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Gateway().Close() })
	return &fixture{cat: cat, admin: admin, ns: ns, svc: svc, store: store}
}

func (f *fixture) call(t *testing.T, tool string, args map[string]any) (*tools.Result, error) {
	t.Helper()
	if !strings.HasPrefix(tool, "kubectl_") {
		b, _ := json.Marshal(args)
		return f.cat.Call(context.Background(), agent, tool, b)
	}
	args["connection"] = "k"
	b, _ := json.Marshal(args)
	return f.cat.Call(context.Background(), agent, tool, b)
}

func (f *fixture) pod(t *testing.T, ns, name string, labels map[string]string) {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}}}
	if _, err := f.admin.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// sessionAccounts lists the ServiceAccounts minted for sessions.
func (f *fixture) sessionAccounts(t *testing.T) []string {
	t.Helper()
	l, err := f.admin.CoreV1().ServiceAccounts(sessionNS).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=warden"})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	var out []string
	for _, sa := range l.Items {
		out = append(out, sa.Name)
	}
	return out
}

func TestGet(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for i := range 3 {
		f.pod(t, f.ns[0], fmt.Sprintf("web-%d", i), map[string]string{"app": "web"})
	}
	f.pod(t, f.ns[0], "db", map[string]string{"app": "db"})
	if _, err := f.admin.CoreV1().Secrets(f.ns[0]).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds"},
		StringData: map[string]string{"password": "hunter2-very-secret", "owner": "ops@example.com"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// list_connections offers the cluster's tools on it.
	if res, err := f.call(t, tools.ToolListConnections, map[string]any{}); err != nil || !strings.Contains(res.Text, "kubectl_get: allow, read-only") || !strings.Contains(res.Text, "k (kubernetes)") {
		t.Errorf("list_connections: %v\n%s", err, res.Text)
	}
	// A table as kubectl prints it, from the server's Table, through a short name.
	res, err := f.call(t, kubetools.ToolGet, map[string]any{"resource": "po", "namespace": f.ns[0], "label_selector": "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Structured.(*kubetools.GetResult)
	if r.Resource != "pods" || r.Items != 3 || strings.Join(r.Columns, " ") != "NAME READY STATUS RESTARTS AGE" ||
		!strings.HasPrefix(r.Output, "NAME ") || !strings.Contains(r.Output, "web-2") || strings.Contains(r.Output, "db ") || r.Rows[0][2] != "Pending" {
		t.Errorf("get po -l app=web:\n%s\n%+v", r.Output, r)
	}
	// One object as YAML.
	res, err = f.call(t, kubetools.ToolGet, map[string]any{"resource": "Pod", "namespace": f.ns[0], "name": "db", "output": "yaml"})
	if err != nil {
		t.Fatal(err)
	}
	y := res.Structured.(*kubetools.GetResult).Output
	if !strings.Contains(y, "name: db") || !strings.Contains(y, "image: registry.example/app:1") || strings.Contains(y, "managedFields") {
		t.Errorf("get pod db -o yaml:\n%s", y)
	}
	// A Secret's values are masked, in one object and in a list; the
	// detectors of the rule's profile mask the rest of the text.
	for _, args := range []map[string]any{{"resource": "secret", "name": "creds"}, {"resource": "secrets"}} {
		args["namespace"], args["output"] = f.ns[0], "yaml"
		res, err := f.call(t, kubetools.ToolGet, args)
		if err != nil {
			t.Fatal(err)
		}
		r := res.Structured.(*kubetools.GetResult)
		for _, leak := range []string{"hunter2", "aHVudGVyMi", "ops@example.com", "b3BzQGV4YW1wbGUuY29t"} {
			if strings.Contains(r.Output, leak) || strings.Contains(res.Text, leak) {
				t.Errorf("get %v: %q leaked:\n%s", args, leak, r.Output)
			}
		}
		if !strings.Contains(r.Output, "password: '***'") || r.Masked["secret"] < 2 {
			t.Errorf("get %v: values not masked:\n%s %v", args, r.Output, r.Masked)
		}
	}
	// The secret table has no values to mask.
	if res, err := f.call(t, kubetools.ToolGet, map[string]any{"resource": "secrets", "namespace": f.ns[0]}); err != nil || !strings.Contains(res.Text, "creds") {
		t.Errorf("get secrets: %v %v", res, err)
	}
	// Cluster-scoped, with a limit.
	if res, err := f.call(t, kubetools.ToolGet, map[string]any{"resource": "ns", "limit": 1}); err != nil || res.Structured.(*kubetools.GetResult).Items != 1 || res.Structured.(*kubetools.GetResult).Continue == "" {
		t.Errorf("get ns --limit 1: %+v %v", res, err)
	}
	// Refusals: unknown resource, a namespace the connection does not
	// list (no credential is minted for it), bad arguments.
	for _, bad := range []map[string]any{
		{"resource": "nosuchresource"},
		{"resource": "pods", "namespace": "kube-system"},
		{"resource": "pods", "output": "json"},
		{"resource": "pods", "name": "a/b"},
		{"resource": "pods", "name": "x", "limit": 3},
	} {
		if res, err := f.call(t, kubetools.ToolGet, bad); err == nil {
			t.Errorf("get %v: %v", bad, res.Text)
		}
	}
	// Not found is the server's answer.
	if _, err := f.call(t, kubetools.ToolGet, map[string]any{"resource": "pods", "namespace": f.ns[0], "name": "nope"}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("get a missing pod: %v", err)
	}
	// Every call ran as a ServiceAccount of its own scope; none is left
	// once the session ends.
	if sas := f.sessionAccounts(t); len(sas) < 3 {
		t.Errorf("session accounts during the session: %v", sas)
	}
	f.cat.EndSession(ctx, agent.Session)
	if sas := f.sessionAccounts(t); len(sas) != 0 {
		t.Errorf("session accounts after the session: %v", sas)
	}
}

// TestLogsRunning reads the log of a pod that runs (on the kwok node):
// lines come back masked by the rule's detectors, tail_lines is the
// server's, and a log past the cap is cut and flagged.
func TestLogsRunning(t *testing.T) {
	f := newFixture(t)
	p := &testenv.RunningPod{Namespace: f.ns[0], Name: "api", Logs: []string{"started", "login by alice@example.com", "ready"}}
	testenv.KubeRunningPod(t, f.admin, p)
	res, err := f.call(t, kubetools.ToolLogs, map[string]any{"namespace": f.ns[0], "pod": "api"})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Structured.(*kubetools.LogsResult)
	if strings.Contains(r.Logs, "alice@example.com") || !strings.Contains(r.Logs, "started\n") || !strings.Contains(r.Logs, "ready\n") ||
		!strings.Contains(r.Logs, "login by ") || r.Masked["detector:email"] != 1 || r.Truncated {
		t.Fatalf("logs of a running pod: %+v", r)
	}
	res, err = f.call(t, kubetools.ToolLogs, map[string]any{"namespace": f.ns[0], "pod": "api", "tail_lines": 1})
	if err != nil || res.Structured.(*kubetools.LogsResult).Logs != "ready\n" {
		t.Fatalf("tail_lines 1: %+v %v", res, err)
	}
	// Past the cap: the first MaxOutputBytes bytes, flagged.
	line := strings.Repeat("x", 1000)
	var many []string
	for range kubetools.MaxOutputBytes/1000 + 10 {
		many = append(many, line)
	}
	p.AppendLog(t, many...)
	// (Masking shortens the email's line by a byte, so the cap is judged
	// on what the server sent.)
	res, err = f.call(t, kubetools.ToolLogs, map[string]any{"namespace": f.ns[0], "pod": "api"})
	if err != nil {
		t.Fatal(err)
	}
	r = res.Structured.(*kubetools.LogsResult)
	if !r.Truncated || len(r.Logs) > kubetools.MaxOutputBytes || !strings.Contains(res.Text, "logs truncated") {
		t.Fatalf("a log past the cap: truncated=%v len=%d bytes=%d", r.Truncated, len(r.Logs), r.Bytes)
	}
}

// TestLogs: the refusals, and a pod that is not scheduled (no node, so
// no log).
func TestLogs(t *testing.T) {
	f := newFixture(t)
	f.pod(t, f.ns[0], "web", nil)
	// No node: the server has no log to give, and says so with an empty one.
	res, err := f.call(t, kubetools.ToolLogs, map[string]any{"namespace": f.ns[0], "pod": "web", "tail_lines": 10})
	if err != nil || res.Structured.(*kubetools.LogsResult).Logs != "" || res.Structured.(*kubetools.LogsResult).Truncated {
		t.Fatalf("logs of a pod that is not scheduled: %+v %v", res, err)
	}
	// A container the pod does not have: the server's refusal, recorded.
	_, err = f.call(t, kubetools.ToolLogs, map[string]any{"namespace": f.ns[0], "pod": "web", "container": "sidecar"})
	var ge *gateway.Error
	if !errors.As(err, &ge) || ge.AuditID == "" || !strings.Contains(ge.Message, "sidecar") {
		t.Fatalf("logs of a container the pod does not have: %v", err)
	}
	if _, err := f.call(t, kubetools.ToolLogs, map[string]any{"namespace": f.ns[0], "pod": "nope"}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("logs of a missing pod: %v", err)
	}
	for _, bad := range []map[string]any{{"pod": "web"}, {"namespace": f.ns[0]}, {"namespace": f.ns[0], "pod": "web", "since_seconds": 0}} {
		if _, err := f.call(t, kubetools.ToolLogs, bad); gateway.AsError(err).Code != gateway.CodeInvalidArgument {
			t.Errorf("logs %v: %v", bad, err)
		}
	}
}

// TestDelete: a delete is held for review, then runs once approved; one
// no rule admits is refused; either way nothing changes before.
func TestDelete(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.pod(t, f.ns[0], "web", nil)
	f.pod(t, f.ns[1], "web", nil)
	exists := func(ns string) bool {
		_, err := f.admin.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil
	}
	// ns[1]: no rule admits a delete there.
	_, err := f.call(t, kubetools.ToolDelete, map[string]any{"resource": "pods", "namespace": f.ns[1], "name": "web"})
	if gateway.AsError(err).Code != gateway.CodeDenied || !exists(f.ns[1]) {
		t.Fatalf("refused delete: %v, pod exists %v", err, exists(f.ns[1]))
	}
	// ns[0]: held.
	args := map[string]any{"resource": "po", "namespace": f.ns[0], "name": "web", "justification": "stuck"}
	_, err = f.call(t, kubetools.ToolDelete, args)
	var pa *gateway.PendingApproval
	if !errors.As(err, &pa) || !exists(f.ns[0]) {
		t.Fatalf("held delete: %v, pod exists %v", err, exists(f.ns[0]))
	}
	a, err := f.svc.Get(ctx, "agent", pa.ApprovalID)
	if err != nil || !strings.Contains(a.Statement, "delete pods web -n "+f.ns[0]) {
		t.Fatalf("what the approver sees: %+v %v", a, err)
	}
	if _, err := f.svc.Decide(ctx, dba, pa.ApprovalID, approvals.VerdictApprove, "ok", "api"); err != nil {
		t.Fatal(err)
	}
	res, err := f.call(t, tools.ToolAwaitApproval, map[string]any{"approval_id": pa.ApprovalID})
	if err != nil || !res.Structured.(*kubetools.DeleteResult).Deleted {
		t.Fatalf("approved delete: %v %+v", err, res)
	}
	for deadline := time.Now().Add(10 * time.Second); exists(f.ns[0]); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the approved delete did not delete the pod")
		}
	}
}

// TestApply: server-side apply with a dry-run diff, as a ServiceAccount
// that may get and patch only the manifest's objects.
func TestApply(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ns := f.ns[0]
	apply := func(manifest string) (*kubetools.ApplyResult, error) {
		res, err := f.call(t, kubetools.ToolApply, map[string]any{"manifest": manifest, "namespace": ns})
		if err != nil {
			return nil, err
		}
		return res.Structured.(*kubetools.ApplyResult), nil
	}
	cm := func(v string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {mode: " + v + "}\n"
	}
	r, err := apply(cm("blue"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Objects) != 1 || r.Objects[0].Action != "created" || !strings.Contains(r.Diff, "+  mode: blue") || strings.Contains(r.Diff, "managedFields") {
		t.Fatalf("create: %+v\n%s", r, r.Diff)
	}
	got, err := f.admin.CoreV1().ConfigMaps(ns).Get(ctx, "app", metav1.GetOptions{})
	if err != nil || got.Data["mode"] != "blue" || got.ManagedFields[0].Manager != kubetools.FieldManager {
		t.Fatalf("the created object: %+v %v", got, err)
	}
	if r, err := apply(cm("blue")); err != nil || r.Objects[0].Action != "unchanged" {
		t.Errorf("the same again: %+v %v", r, err)
	}
	r, err = apply(cm("green"))
	if err != nil || r.Objects[0].Action != "configured" || !strings.Contains(r.Diff, "-  mode: blue") || !strings.Contains(r.Diff, "+  mode: green") ||
		strings.Contains(r.Diff, "resourceVersion") || strings.Contains(r.Diff, "uid:") {
		t.Fatalf("update: %+v %v\n%s", r, err, r.Diff)
	}

	// A Secret: applied with its value, diffed with none.
	r, err = apply("apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: s3cr3t-value}\n")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.Diff, "s3cr3t") || strings.Contains(r.Diff, "czNjcjN0") || !strings.Contains(r.Diff, "***") {
		t.Errorf("secret diff:\n%s", r.Diff)
	}
	if s, err := f.admin.CoreV1().Secrets(ns).Get(ctx, "db", metav1.GetOptions{}); err != nil || string(s.Data["password"]) != "s3cr3t-value" {
		t.Errorf("the applied secret: %v", err)
	}
	// The audit trail keeps neither the value nor its base64.
	if err := f.store.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	ev, err := f.store.Get(ctx, r.AuditID)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{string(ev.Arguments), ev.Statement} {
		if strings.Contains(field, "s3cr3t") || strings.Contains(field, "czNjcjN0") || !strings.Contains(field, "***") {
			t.Errorf("the audit event of a Secret's apply: %s", field)
		}
	}

	// The Secret as kubectl_get shows it, applied back: refused, as is
	// the base64 form of the mask; the value stays.
	for _, m := range []string{"stringData: {password: '***'}", "data: {password: Kioq}", "data: {password: '***'}"} {
		_, err := apply("apiVersion: v1\nkind: Secret\nmetadata: {name: db}\n" + m + "\n")
		if err == nil || !strings.Contains(err.Error(), "Warden's mask") || !strings.Contains(err.Error(), "password") {
			t.Errorf("%s: want refused as Warden's mask, got %v", m, err)
		}
	}
	if s, err := f.admin.CoreV1().Secrets(ns).Get(ctx, "db", metav1.GetOptions{}); err != nil || string(s.Data["password"]) != "s3cr3t-value" {
		t.Errorf("the secret after the masked applies: %v %q", err, s.Data["password"])
	}

	// A dry-run the server refuses (an immutable ConfigMap's data):
	// nothing is applied, and the error says so.
	yes := true
	if _, err := f.admin.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "frozen"}, Immutable: &yes, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: frozen}\nimmutable: true\ndata: {k: changed}\n")
	if err == nil || !strings.Contains(err.Error(), "dry-run failed") {
		t.Errorf("a refused dry-run: %v", err)
	}
	if c, _ := f.admin.CoreV1().ConfigMaps(ns).Get(ctx, "frozen", metav1.GetOptions{}); c.Data["k"] != "v" {
		t.Error("the refused apply changed the object")
	}

	// Refused before anything is sent: a privileged pod, a second
	// document in a namespace no rule admits, a kind no rule admits.
	for name, m := range map[string]string{
		"privileged pod":      "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: x, securityContext: {privileged: true}}]\n",
		"hidden second doc":   cm("red") + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: other, namespace: " + f.ns[1] + "}\n",
		"rbac":                "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r}\nrules: [{apiGroups: ['*'], resources: ['*'], verbs: ['*']}]\n",
		"not a manifest":      "this: [is, not",
		"unknown kind":        "apiVersion: v1\nkind: NoSuchKind\nmetadata: {name: x}\n",
		"generateName only":   "apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: x-}\n",
		"cluster-scoped kind": "apiVersion: v1\nkind: Namespace\nmetadata: {name: wt-evil}\n",
	} {
		if r, err := apply(m); err == nil {
			t.Errorf("%s: applied %+v", name, r)
		}
	}
	if c, _ := f.admin.CoreV1().ConfigMaps(ns).Get(ctx, "app", metav1.GetOptions{}); c.Data["mode"] != "green" {
		t.Error("a refused multi-document manifest applied its first object")
	}
	if _, err := f.admin.CoreV1().ConfigMaps(f.ns[1]).Get(ctx, "other", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Error("the hidden document was applied")
	}
	if _, err := f.admin.CoreV1().Namespaces().Get(ctx, "wt-evil", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Error("the namespace was created")
	}
}

// TestApplyReview: a change held for review shows the approver the
// server's dry-run diff; nothing is applied until it is approved, and
// then exactly that manifest.
func TestApplyReview(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ns := f.ns[0]
	manifest := `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      automountServiceAccountToken: false
      containers: [{name: web, image: "registry.example/web:1.2"}]
`
	args := map[string]any{"manifest": manifest, "namespace": ns, "justification": "release 1.2"}
	_, err := f.call(t, kubetools.ToolApply, args)
	var pa *gateway.PendingApproval
	if !errors.As(err, &pa) {
		t.Fatalf("held apply: %v", err)
	}
	if err := f.store.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if ev, err := f.store.Get(ctx, gateway.AsError(err).AuditID); err != nil || ev.Decision != "review" || ev.Credential == "" || ev.Credential == gateway.StaticCredentialLabel {
		t.Errorf("the held apply's event does not name the preview's credential: %+v %v", ev, err)
	}
	if _, err := f.admin.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the held apply created the deployment: %v", err)
	}
	a, err := f.svc.Get(ctx, "agent", pa.ApprovalID)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"server-side dry-run diff", "+  replicas: 2", "registry.example/web:1.2", "/dev/null (deployments.apps " + ns + "/web does not exist)"} {
		if !strings.Contains(a.Statement, want) {
			t.Errorf("the approver's view lacks %q:\n%s", want, a.Statement)
		}
	}
	// The approval binds the exact manifest: another one is a new request.
	args2 := map[string]any{"manifest": strings.Replace(manifest, "replicas: 2", "replicas: 20", 1), "namespace": ns}
	if _, err := f.svc.Decide(ctx, dba, pa.ApprovalID, approvals.VerdictApprove, "ok", "api"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.call(t, kubetools.ToolApply, args2); !errors.As(err, new(*gateway.PendingApproval)) {
		t.Errorf("a changed manifest ran on the approval of another: %v", err)
	}
	res, err := f.call(t, tools.ToolAwaitApproval, map[string]any{"approval_id": pa.ApprovalID})
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Structured.(*kubetools.ApplyResult); r.Objects[0].Action != "created" {
		t.Errorf("approved apply: %+v", r)
	}
	d, err := f.admin.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil || *d.Spec.Replicas != 2 {
		t.Fatalf("the approved deployment: %+v %v", d, err)
	}
}

// TestGetSecretPolicy: a rule's kubernetes: reveal_secrets shows Secret
// values to its callers (everyone else sees ***), and its
// mask_configmap_keys masks the ConfigMap keys it names (namespace/name/
// key globs), the other keys and other callers' reads untouched.
func TestGetSecretPolicy(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.admin.CoreV1().Secrets(f.ns[0]).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds"},
		StringData: map[string]string{"password": "hunter2-very-secret"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.CoreV1().ConfigMaps(f.ns[0]).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app"},
		Data: map[string]string{"password": "cm-pass-123", "mode": "production"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ops := gateway.Caller{Principal: identity.Principal{Subject: "olga", Groups: []string{"ops"}, Issuer: "local"}, Transport: "stdio", Session: "s2"}
	get := func(c gateway.Caller, resource, name string) string {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"connection": "k", "resource": resource, "namespace": f.ns[0], "name": name, "output": "yaml"})
		res, err := f.cat.Call(ctx, c, kubetools.ToolGet, b)
		if err != nil {
			t.Fatalf("%s get %s: %v", c.Principal.Subject, resource, err)
		}
		return res.Structured.(*kubetools.GetResult).Output
	}
	secret := base64.StdEncoding.EncodeToString([]byte("hunter2-very-secret"))
	if out := get(agent, "secret", "creds"); strings.Contains(out, secret) || !strings.Contains(out, "password: '***'") {
		t.Errorf("agent sees the Secret:\n%s", out)
	}
	if out := get(ops, "secret", "creds"); !strings.Contains(out, secret) {
		t.Errorf("ops, whose rule reveals Secrets, does not see the value:\n%s", out)
	}
	if out := get(agent, "configmap", "app"); !strings.Contains(out, "cm-pass-123") {
		t.Errorf("agent's rule names no ConfigMap key, yet:\n%s", out)
	}
	if out := get(ops, "configmap", "app"); strings.Contains(out, "cm-pass-123") || !strings.Contains(out, "password: '***'") || !strings.Contains(out, "production") {
		t.Errorf("ops's rule masks app/password only:\n%s", out)
	}
}
