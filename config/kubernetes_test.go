package config

import (
	"strings"
	"testing"
)

func TestKubernetesConnection(t *testing.T) {
	yaml := `connections:
  - name: k
    kind: kubernetes
    server: https://127.0.0.1:16443
    ca_file: ca.crt
    token: {file: token}
    namespaces: [default, shop]
    labels: {env: test}
`
	cfg, err := Parse("/etc/warden/w.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	k := cfg.Connections[0]
	if k.Credentials != "jit" || k.Kube.SessionNamespace != DefaultKubeSessionNamespace {
		t.Errorf("defaults: credentials %q, session_namespace %q", k.Credentials, k.Kube.SessionNamespace)
	}
	if k.Kube.CAFile != "/etc/warden/ca.crt" || k.Kube.Token.File != "/etc/warden/token" {
		t.Errorf("paths not resolved against the file's directory: %q %q", k.Kube.CAFile, k.Kube.Token.File)
	}
}

func TestKubernetesErrors(t *testing.T) {
	conn := func(extra string) string {
		return "connections:\n  - name: k\n    kind: kubernetes\n" + extra
	}
	ok := "    server: https://k:6443\n    ca_file: ca\n    token: {env: T}\n    namespaces: [default]\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"no server", conn("    ca_file: ca\n    token: {env: T}\n    namespaces: [a]\n"), "server (the API server's https URL) is required"},
		{"plain http", conn("    server: http://k:6443\n    ca_file: ca\n    token: {env: T}\n    namespaces: [a]\n"), "connections[0].server: expected an https URL"},
		{"no CA", conn("    server: https://k:6443\n    token: {env: T}\n    namespaces: [a]\n"), "ca_file or ca is required"},
		{"bad PEM", conn("    server: https://k:6443\n    ca: nope\n    token: {env: T}\n    namespaces: [a]\n"), "connections[0].ca: not a PEM certificate"},
		{"no credential", conn("    server: https://k:6443\n    ca_file: ca\n    namespaces: [a]\n"), "kubeconfig or token ({file: ...} or {env: ...}) is required"},
		{"both credentials", conn(ok + "    kubeconfig: kc\n"), "set kubeconfig or token, not both"},
		{"no namespaces", conn("    server: https://k:6443\n    ca_file: ca\n    token: {env: T}\n"), "namespaces (the namespaces rules may grant) are required"},
		{"bad namespace", conn("    server: https://k:6443\n    ca_file: ca\n    token: {env: T}\n    namespaces: [Prod_1]\n"), `"Prod_1" is not a namespace name`},
		{"session namespace granted", conn(ok + "    session_namespace: default\n"), "must not be one rules grant"},
		{"short ttl", conn(ok + "    jit: {ttl: 5m}\n"), "a kubernetes token lives at least 10m0s"},
		{"sql fields", conn(ok + "    database: app\n"), "a kubernetes connection takes server"},
		{"kube fields on ssh", "connections:\n  - {name: s, kind: sqlite, path: x.db, namespaces: [a]}\n", "are for kubernetes connections, not sqlite"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("w.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("expected an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}
