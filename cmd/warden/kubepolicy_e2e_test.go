package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardenhq/warden/internal/testenv"
)

// TestPolicyKubeOffline: policy explain and policy test decide
// kubectl_apply manifests with no cluster (the connection's server is a
// port nothing listens on): kinds resolve through the built-in discovery,
// and the output says so.
func TestPolicyKubeOffline(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.KubeOtherCA(t, dir)
	write := func(name, text string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("token", "not-a-token\n")
	cfg := write("warden.yaml", `
store: sqlite://./audit.db
identity:
  local: agent
  users: [{name: agent, groups: [agents]}]
connections:
  - name: k
    kind: kubernetes
    server: https://127.0.0.1:1
    ca_file: `+ca+`
    token: {file: ./token}
    namespaces: [team-a, team-b]
rules:
  - name: agents-apply
    subjects: {groups: [agents]}
    tools: [kubectl_apply]
    effect: allow
    read_only: false
    statements: [create, update]
    kubernetes: {resources: [configmaps, deployments.apps]}
`)
	cm := write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n")
	// The second document hides a privileged pod in a Deployment.
	deploy := write("deploy.yaml", `apiVersion: v1
kind: ConfigMap
metadata: {name: c2, namespace: team-b}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: team-b}
spec:
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}}
    spec:
      hostNetwork: true
      containers: [{name: c, image: busybox}]
`)
	crd := write("widget.json", `{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}`)

	type explained struct {
		Decision      string `json:"decision"`
		Rule          string `json:"rule"`
		Reason        string `json:"reason"`
		Discovery     string `json:"discovery"`
		ClassifyError string `json:"classify_error"`
		Statements    []struct {
			Tag           string   `json:"tag"`
			Kinds         []string `json:"kinds"`
			TablesWritten []string `json:"tables_written"`
			Risks         []string `json:"risks"`
		} `json:"statements"`
	}
	explain := func(extra ...string) explained {
		t.Helper()
		args := append([]string{"policy", "explain", "--config", cfg, "--as", "agent", "--connection", "k", "--json"}, extra...)
		out, err := exec.Command(wardenBin, args...).Output()
		var ex explained
		if err != nil || json.Unmarshal(out, &ex) != nil {
			t.Fatalf("explain %v: %v\n%s", extra, err, out)
		}
		if !strings.Contains(ex.Discovery, "built-in Kubernetes v1.37.2 discovery") {
			t.Errorf("explain %v: discovery %q", extra, ex.Discovery)
		}
		return ex
	}

	ex := explain("--manifest", cm)
	if ex.Decision != "allow" || ex.Rule != "agents-apply" || len(ex.Statements) != 1 || ex.Statements[0].Tag != "ConfigMap" ||
		strings.Join(ex.Statements[0].Kinds, ",") != "create,update" || strings.Join(ex.Statements[0].TablesWritten, ",") != "team-a/configmaps/settings" {
		t.Errorf("explain a ConfigMap (to the first namespace the connection lists) = %+v", ex)
	}
	ex = explain("--manifest", cm, "--namespace", "team-b")
	if ex.Decision != "allow" || len(ex.Statements) != 1 || strings.Join(ex.Statements[0].TablesWritten, ",") != "team-b/configmaps/settings" {
		t.Errorf("explain --namespace team-b = %+v", ex)
	}
	ex = explain("--manifest", deploy)
	if ex.Decision != "deny" || len(ex.Statements) != 2 || ex.Statements[1].Tag != "Deployment" ||
		strings.Join(ex.Statements[1].Risks, ",") != "host-network" || !strings.Contains(ex.Reason, "host-network") {
		t.Errorf("explain a Deployment with hostNetwork = %+v", ex)
	}
	ex = explain("--manifest", crd)
	if ex.Decision != "deny" || ex.Rule != "" || !strings.Contains(ex.ClassifyError, `no API group "example.com"`) || len(ex.Statements) != 0 {
		t.Errorf("explain a custom resource the built-in discovery lacks = %+v", ex)
	}

	out, err := exec.Command(wardenBin, "policy", "explain", "--config", cfg, "--as", "agent", "--connection", "k", "--manifest", deploy).Output()
	text := string(out)
	if err != nil || !strings.Contains(text, "decision: DENY") || !strings.Contains(text, "resolved with the built-in Kubernetes v1.37.2 discovery") ||
		!strings.Contains(text, "risks:     host-network") || !strings.Contains(text, "team-b/deployments.apps/d") {
		t.Errorf("explain text: %v\n%s", err, text)
	}

	for _, bad := range [][]string{
		{"--manifest", cm, "--sql", "SELECT 1"},
		{"--namespace", "team-b", "--sql", "SELECT 1"},
		{"--manifest", filepath.Join(dir, "missing.yaml")},
	} {
		cmd := exec.Command(wardenBin, append([]string{"policy", "explain", "--config", cfg, "--as", "agent", "--connection", "k"}, bad...)...)
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code == 0 {
			t.Errorf("explain %v: exit 0\n%s", bad, out)
		}
	}

	tests := write("tests.yaml", `tests:
  - {name: a configmap, as: agent, connection: k, manifest_file: cm.yaml, expect: allow, rule: agents-apply}
  - {name: host network, as: agent, connection: k, manifest_file: deploy.yaml, expect: deny, reason_contains: host-network}
  - {name: a custom resource, as: agent, connection: k, manifest_file: widget.json, expect: deny, rule: "-"}
  - name: inline, in team-b
    as: agent
    connection: k
    namespace: team-b
    manifest: |
      apiVersion: v1
      kind: Secret
      metadata: {name: s}
    expect: deny
    reason_contains: team-b/secrets/s
`)
	out, err = exec.Command(wardenBin, "policy", "test", "--config", cfg, tests).Output()
	if err != nil || !strings.Contains(string(out), "4 passed, 0 failed") || !strings.Contains(string(out), "kinds resolved with the built-in Kubernetes v1.37.2 discovery") {
		t.Errorf("policy test: %v\n%s", err, out)
	}
	out, err = exec.Command(wardenBin, "policy", "test", "--config", cfg, "--json", tests).Output()
	var res struct {
		Files []struct {
			Results []struct {
				Name      string `json:"name"`
				Pass      bool   `json:"pass"`
				Discovery string `json:"discovery"`
			} `json:"results"`
		} `json:"files"`
		Passed int `json:"passed"`
	}
	if err != nil || json.Unmarshal(out, &res) != nil || res.Passed != 4 || len(res.Files) != 1 || len(res.Files[0].Results) != 4 {
		t.Fatalf("policy test --json: %v\n%s", err, out)
	}
	for _, r := range res.Files[0].Results {
		if !r.Pass || !strings.Contains(r.Discovery, "built-in Kubernetes v1.37.2") {
			t.Errorf("policy test --json: %+v", r)
		}
	}
	missing := write("missing-tests.yaml", "tests:\n  - {name: m, as: agent, connection: k, manifest_file: nope.yaml, expect: deny}\n")
	cmd := exec.Command(wardenBin, "policy", "test", "--config", cfg, missing)
	out, _ = cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() == 0 || !strings.Contains(string(out), "manifest_file") {
		t.Errorf("policy test of a missing manifest_file: exit %d\n%s", cmd.ProcessState.ExitCode(), out)
	}
}
