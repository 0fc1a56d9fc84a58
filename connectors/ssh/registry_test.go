package ssh_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/builtin"
	"github.com/wardenhq/warden/connectors/sqlite"
	"github.com/wardenhq/warden/internal/testenv"
	"github.com/wardenhq/warden/policy"
)

// TestRegistry: a kind: ssh connection in warden.yaml opens through the
// built-in registry with ssh_ca, mints from a decision and runs a command;
// the classifier is the hook's.
func TestRegistry(t *testing.T) {
	srv := testenv.SSH(t)
	yaml := fmt.Sprintf(`ssh_ca: {private_key_file: %s}
connections:
  - name: host
    kind: ssh
    address: %s
    host_key: %q
    principals: [%s]
rules:
  - {name: r, tools: [list_connections], effect: allow, grants: {principal: %s}}
`, srv.CAKeyFile, srv.Addr, srv.KnownHosts, strings.Join(srv.Users, ", "), srv.Users[1])
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "w.yaml"), []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	given := sqlite.Classifier(config.Connection{})
	conns, err := builtin.Registry().Open(context.Background(), cfg.Connections, connectors.OpenOptions{SSHCA: cfg.SSHCA,
		Classifier: func(c config.Connection) policy.Classifier {
			if c.Kind == config.KindSSH {
				return given
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer connectors.CloseAll(conns)
	c := conns["host"]
	ex, ok := c.(connectors.Exec)
	cr, ok2 := c.(connectors.Credentialer)
	if !ok || !ok2 || !connectors.Has(c, connectors.CapExec) {
		t.Fatalf("%T lacks Exec or Credentialer", c)
	}
	if ex.Classifier() != given {
		t.Error("the classifier is not the hook's")
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	g, err := cr.Grants(policy.Decision{Rule: "r", GrantPrincipal: cfg.Rules[0].Grants.Principal})
	if err != nil {
		t.Fatal(err)
	}
	lease := newLease()
	resp, err := cr.Mint(context.Background(), connectors.MintRequest{Lease: lease, Grants: g, TTL: cfg.Connections[0].JIT.TTL})
	if err != nil {
		t.Fatal(err)
	}
	defer cr.Revoke(context.Background(), connectors.RevokeRequest{Lease: lease})
	if d := time.Until(resp.Expires); d < 59*time.Minute || d > time.Hour {
		t.Errorf("expires in %s, want the default ttl (1h)", d)
	}
	var out bytes.Buffer
	if _, err := ex.Exec(context.Background(), connectors.ExecRequest{Command: "id -un", Credential: resp.Credential, Timeout: timeout, Stdout: &out}); err != nil || strings.TrimSpace(out.String()) != srv.Users[1] {
		t.Errorf("id -un: %q, %v", out.String(), err)
	}

	// Without a hook, an ssh connection gets the kind's classifier (the
	// shell's, policy/cmdclass), and no CA means no connection.
	conns2, err := builtin.Registry().Open(context.Background(), cfg.Connections, connectors.OpenOptions{SSHCA: cfg.SSHCA})
	if err != nil {
		t.Fatal(err)
	}
	defer connectors.CloseAll(conns2)
	cl := conns2["host"].(connectors.Exec).Classifier()
	if cl == nil {
		t.Fatal("an ssh connection has no classifier")
	}
	if f, err := cl.Classify(context.Background(), policy.ClassifyRequest{Statement: "df -h /var"}); err != nil || !f.ReadOnly || f.Canonical == "" {
		t.Errorf("the kind's classifier: %+v, %v", f, err)
	}
	if _, err := builtin.Registry().Open(context.Background(), cfg.Connections, connectors.OpenOptions{}); err == nil || !strings.Contains(err.Error(), "ssh_ca") {
		t.Errorf("opening without a CA: %v", err)
	}
}
