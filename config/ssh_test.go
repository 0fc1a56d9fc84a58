package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	testHostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEqDZKVnszCr/IBEUscq0Lx2BelRyO11SdAvEaYkynym"
	testHostCA  = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDv1tFo0ywZ8oWdagKq1f3mx8lUkrBAFpsHaFmTHTl2W"
)

func TestSSHConnection(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ca"), []byte("unused here"), 0o600)
	yaml := `ssh_ca: {private_key_file: ca}
connections:
  - name: web
    kind: ssh
    address: web.internal:22
    host_key: "[web.internal]:22 ` + testHostKey + `"
    principals: [deploy, ops]
    labels: {env: prod}
    jit: {ttl: 10m}
  - name: db-host
    kind: ssh
    address: 10.0.0.5:2222
    host_ca: "@cert-authority *.internal ` + testHostCA + `"
    principals: [postgres]
rules:
  - name: deploy
    connections: {names: [web]}
    tools: [exec_ssh]
    effect: allow
    grants: {principal: deploy, pty: true}
  - name: dba
    connections: {labels: {}}
    tools: [exec_ssh]
    effect: allow
    grants: {principal: postgres}
`
	cfg, err := Parse(filepath.Join(dir, "w.yaml"), []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	web, _ := cfg.Connection("web")
	if web.Credentials != "jit" || web.JIT.TTL.Minutes() != 10 || len(web.Principals) != 2 {
		t.Errorf("web = %+v", web)
	}
	if cfg.SSHCA.PrivateKeyFile != filepath.Join(dir, "ca") {
		t.Errorf("ssh_ca.private_key_file = %q, want it resolved against the file's directory", cfg.SSHCA.PrivateKeyFile)
	}
	if g := cfg.Rules[0].Grants; g.Principal != "deploy" || !g.PTY {
		t.Errorf("grants = %+v", g)
	}
	if w := cfg.Warnings(); len(w) != 0 {
		t.Errorf("warnings %v", w)
	}
	os.Chmod(filepath.Join(dir, "ca"), 0o644)
	if w := cfg.Warnings(); len(w) != 1 || !strings.Contains(w[0], "readable by other users") {
		t.Errorf("a world-readable CA key: warnings %v", w)
	}
}

func TestSSHErrors(t *testing.T) {
	conn := func(extra string) string {
		return "ssh_ca: {private_key_env: CA}\nconnections:\n  - name: h\n    kind: ssh\n    address: h:22\n" + extra
	}
	ok := "    host_key: " + testHostKey + "\n    principals: [deploy]\n"
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"no CA", "connections:\n  - {name: h, kind: ssh, address: 'h:22', host_key: " + testHostKey + ", principals: [a]}\n",
			[]string{"w.yaml:2:5: connections[0]: an ssh connection needs ssh_ca (private_key_file or private_key_env)"}},
		{"both CA sources", "ssh_ca: {private_key_env: A, private_key_file: f}\n", []string{"w.yaml:1:9: ssh_ca: set private_key_file or private_key_env, not both"}},
		{"static", conn(ok + "    credentials: static\n"), []string{"w.yaml:8:18: connections[0].credentials: an ssh connection has only jit credentials"}},
		{"no host key", conn("    principals: [a]\n"), []string{"connections[0]: host_key or host_ca is required", "never trusts a host key on first use"}},
		{"both pins", conn(ok + "    host_ca: " + testHostCA + "\n"), []string{"w.yaml:8:14: connections[0]: set host_key or host_ca, not both"}},
		{"bad host key", conn("    host_key: ssh-ed25519 AAAAnotakey\n    principals: [a]\n"), []string{"w.yaml:6:15: connections[0].host_key: not a public key"}},
		{"revoked line", conn("    host_key: \"@revoked * " + testHostKey + "\"\n    principals: [a]\n"), []string{"connections[0].host_key: a @revoked line pins no key"}},
		{"ca line as host key", conn("    host_key: \"@cert-authority * " + testHostKey + "\"\n    principals: [a]\n"), []string{"put it in host_ca"}},
		{"no principals", conn("    host_key: " + testHostKey + "\n"), []string{"principals (the remote users rules may grant) are required"}},
		{"bad principal", conn("    host_key: " + testHostKey + "\n    principals: [\"root,admin\", a, a]\n"), []string{"w.yaml:7:18: connections[0].principals: \"root,admin\" is not a user name", "w.yaml:7:35: connections[0].principals: \"a\" is listed twice"}},
		{"no address", "ssh_ca: {private_key_env: CA}\nconnections:\n  - {name: h, kind: ssh, host_key: " + testHostKey + ", principals: [a]}\n", []string{"address (host:port) is required for an ssh connection"}},
		{"sql fields", conn(ok + "    database: app\n"), []string{"an ssh connection takes address, host_key or host_ca, principals"}},
		{"ssh fields on postgres", "connections:\n  - {name: p, kind: postgres, address: 'h:5432', database: d, admin: {user: u, password_env: P}, principals: [a]}\n", []string{"host_key, host_ca and principals are for ssh connections"}},
		{"principal not the connection's", conn(ok + "rules:\n  - {name: r, connections: {names: [h]}, effect: allow, grants: {principal: root}}\n"),
			[]string{`w.yaml:9:77: rules[0].grants.principal: "root" is not one of connection "h"'s principals (deploy)`}},
		{"principal on no ssh connection", conn(ok + "rules:\n  - {name: r, connections: {labels: {env: prod}}, effect: allow, grants: {principal: deploy}}\n"),
			[]string{`rules[0].grants.principal: "deploy" is not a principal of any ssh connection the rule applies to`}},
		{"principal on a sql connection", "connections:\n  - {name: d, kind: sqlite, path: x.db}\nrules:\n  - {name: r, connections: {names: [d]}, effect: allow, grants: {principal: deploy}}\n",
			[]string{`rules[0].grants.principal: connection "d" is not an ssh connection`}},
		{"deny with grants", conn(ok + "rules:\n  - {name: r, effect: deny, grants: {pty: true}}\n"), []string{"a deny rule takes no constraints"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("w.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("expected an error")
			}
			msg := err.Error()
			at := 0
			for _, w := range tt.want {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("error %q\ndoes not contain (after offset %d) %q", msg, at, w)
				}
				at += i
			}
		})
	}
}

func TestSSHSourceAddress(t *testing.T) {
	base := "ssh_ca: {private_key_file: /dev/null}\nconnections:\n  - {name: h, kind: ssh, address: 127.0.0.1:22, host_key: \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEqDZKVnszCr/IBEUscMIq5H3nDNTFRPUg3XRnUq5M3o\", principals: [u], source_address: [%s]}\n"
	for _, c := range []struct {
		value string
		ok    bool
	}{{"10.0.0.5", true}, {"10.0.0.0/24", true}, {"2001:db8::1", true}, {"10.0.0.300", false}, {"host.example", false}} {
		_, err := Parse("w.yaml", []byte(fmt.Sprintf(base, c.value)))
		if (err == nil) != c.ok || (err != nil && !strings.Contains(err.Error(), "source_address")) {
			t.Errorf("source_address %s: %v", c.value, err)
		}
	}
}
