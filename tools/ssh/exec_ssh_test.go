package ssh_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

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
	sshtools "github.com/wardenhq/warden/tools/ssh"
)

// TestExecSSH: exec_ssh through the whole pipeline against a real sshd:
// a read runs as the session's certificate for the rule's principal and
// its output is masked; a write and what the classifier cannot see are
// refused before anything reaches the host; a non-zero exit is a result,
// recorded as failed.
func TestExecSSH(t *testing.T) {
	srv := testenv.SSH(t)
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "w.yaml"), []byte(fmt.Sprintf(`ssh_ca: {private_key_file: %s}
connections:
  - name: host
    kind: ssh
    address: %s
    host_key: %q
    principals: [%s]
masking:
  profiles:
    pii: {detectors: [email]}
rules:
  - {name: agents-read-host, subjects: {groups: [agents]}, tools: [exec_ssh], effect: allow, masking: pii, grants: {principal: %s}}
`, srv.CAKeyFile, srv.Addr, srv.KnownHosts, strings.Join(srv.Users, ", "), srv.Users[0])))
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
	logger := slog.New(slog.DiscardHandler)
	conns, err := builtin.Registry().Open(context.Background(), cfg.Connections, connectors.OpenOptions{Logger: logger, SSHCA: cfg.SSHCA})
	if err != nil {
		t.Fatal(err)
	}
	creds := credentials.New(store, conns, cfg.Connections, logger)
	if err := creds.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	cat, err := toolsbuiltin.Open(gateway.Options{Connections: conns, Decider: engine, Minter: creds, Masker: masker, Recorder: store, Limits: cfg.Limits})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Gateway().Close() })
	agent := gateway.Caller{Principal: identity.Principal{Subject: "agent", Groups: []string{"agents"}, Issuer: "local"}, Transport: "stdio", Session: "s1"}
	call := func(command string) (*sshtools.ExecResult, error) {
		args, _ := json.Marshal(map[string]any{"connection": "host", "command": command})
		res, err := cat.Call(context.Background(), agent, sshtools.ToolExecSSH, args)
		if err != nil {
			return nil, err
		}
		return res.Structured.(*sshtools.ExecResult), nil
	}

	r, err := call("echo contact alice.smith@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if r.ExitStatus != 0 || strings.Contains(r.Stdout, "alice.smith@example.com") || !strings.Contains(r.Stdout, "contact") || r.Masked["detector:email"] != 1 {
		t.Errorf("read: %+v", r)
	}
	// Masked output is capped like any: the first MaxOutputBytes
	// returned, the rest counted.
	if r, err := call("seq 1 400000"); err != nil || !r.StdoutTruncated || len(r.Stdout) != sshtools.MaxOutputBytes || r.StdoutBytes != 2688895 {
		t.Errorf("seq 1 400000: %d bytes returned of %d, truncated %v, %v", len(r.Stdout), r.StdoutBytes, r.StdoutTruncated, err)
	}
	if r, err := call("whoami"); err != nil || strings.TrimSpace(r.Stdout) != srv.Users[0] {
		t.Errorf("whoami: %+v, %v (want the rule's principal %s)", r, err, srv.Users[0])
	}
	if !strings.HasPrefix(r.Command, "echo ") || !strings.Contains(r.Command, "'") {
		t.Errorf("the command that ran is not the re-quoted one: %q", r.Command)
	}
	// A pipeline and a list are one command line, not several statements:
	// the rule, which does not say multi_statement, runs them.
	if r, err := call("ps aux | grep -c sshd && echo one two | wc -w"); err != nil || r.ExitStatus != 0 || !strings.HasSuffix(strings.TrimSpace(r.Stdout), "\n2") {
		t.Errorf("pipeline: %+v, %v", r, err)
	}
	for _, refused := range []string{"rm -rf /tmp/x", "echo x > /tmp/warden-exec-test", "eval ls", "sh -c 'id'", "$(echo rm) x"} {
		if _, err := call(refused); err == nil {
			t.Errorf("%q ran", refused)
		}
	}
	r, err = call("ls /no/such/dir")
	if err != nil {
		t.Fatalf("a failing command is a result: %v", err)
	}
	if r.ExitStatus == 0 || r.Stderr == "" {
		t.Errorf("failing command: %+v", r)
	}
	if err := store.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ev, err := store.Get(context.Background(), r.AuditID); err != nil || ev.Status != "failed" || !strings.Contains(ev.Error, "exited with status") || ev.Credential == gateway.StaticCredentialLabel {
		t.Errorf("event of the failing command = %+v, %v", ev, err)
	}
}
