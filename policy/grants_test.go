package policy

import (
	"context"
	"testing"
)

// TestSSHGrantsInDecision: a rule's grants.principal and grants.pty reach
// the decision, for the mint stage; rules without them leave them empty.
func TestSSHGrantsInDecision(t *testing.T) {
	e := compile(t, `ssh_ca: {private_key_env: CA}
connections:
  - {name: web, kind: ssh, address: "web:22", host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEqDZKVnszCr/IBEUscq0Lx2BelRyO11SdAvEaYkynym", principals: [deploy, ops]}
rules:
  - {name: ops, subjects: {identities: [o]}, tools: [list_connections], effect: allow, grants: {principal: ops, pty: true}}
  - {name: plain, subjects: {identities: [p]}, tools: [list_connections], effect: allow}
`)
	web := Connection{Name: "web", Kind: "ssh"}
	d, err := e.Decide(context.Background(), Input{Subject: "o", Connection: web, Tool: "list_connections"})
	if err != nil || d.Rule != "ops" || d.GrantPrincipal != "ops" || !d.GrantPTY {
		t.Errorf("ops: %+v, %v", d, err)
	}
	d, err = e.Decide(context.Background(), Input{Subject: "p", Connection: web, Tool: "list_connections"})
	if err != nil || d.Rule != "plain" || d.GrantPrincipal != "" || d.GrantPTY {
		t.Errorf("plain: %+v, %v", d, err)
	}
}
