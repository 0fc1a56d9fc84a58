package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/wardenhq/warden/internal/demo"
)

// warden runs the binary and returns its stdout, stderr and exit status.
func warden(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(wardenBin, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// TestAuditVerifyCommands: keygen makes a key the configuration signs
// with; calls through `warden mcp` verify; an export verifies with the
// public key alone; a statement edited in the file fails verify (status
// 1, the event named, in text and JSON), and so does an edited export.
func TestAuditVerifyCommands(t *testing.T) {
	dir := t.TempDir()
	if _, err := demo.CreateDatabase(context.Background(), filepath.Join(dir, "demo.db")); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "audit.key")
	out, _, code := warden(t, "audit", "keygen", "--out", key, "--json")
	var keys map[string]string
	if code != 0 || json.Unmarshal([]byte(out), &keys) != nil || !strings.HasPrefix(keys["verifier_key"], "warden-audit+") {
		t.Fatalf("keygen: %d %s", code, out)
	}
	if _, _, code := warden(t, "audit", "keygen", "--out", key); code == 0 {
		t.Error("keygen overwrote a key")
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	path := filepath.Join(dir, "warden.yaml")
	cfg := "store: sqlite://./audit.db\nidentity: {local: agent}\naudit: {signing_key_file: audit.key}\n" +
		"connections:\n  - {name: demo, kind: sqlite, path: ./demo.db}\nrules:\n  - {name: all, tools: [run_query], effect: allow}\n"
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	c, err := client.NewStdioMCPClient(wardenBin, os.Environ(), "mcp", "--config", path)
	if err != nil {
		t.Fatal(err)
	}
	initialize(t, c)
	var ids []string
	for _, q := range []string{"SELECT id FROM customers WHERE id = 1", "SELECT name FROM customers WHERE id = 2", "SELECT count(*) FROM orders"} {
		req := mcpgo.CallToolRequest{}
		req.Params.Name = "run_query"
		req.Params.Arguments = map[string]any{"connection": "demo", "sql": q}
		res, _, _ := callRequest(t, c, req, 30*time.Second)
		ids = append(ids, auditIDOf(res))
	}
	c.Close()

	out, stderr, code := warden(t, "audit", "verify", "--config", path)
	if code != 0 || !strings.Contains(out, "signatures: checked") || !strings.HasSuffix(out, "OK\n") {
		t.Fatalf("verify: %d\n%s%s", code, out, stderr)
	}
	exp := filepath.Join(dir, "export.jsonl")
	if out, stderr, code := warden(t, "audit", "export", "--config", path, "--since", "1h", "--out", exp); code != 0 || !strings.Contains(out, "Wrote 3 events") {
		t.Fatalf("export: %d\n%s%s", code, out, stderr)
	}
	if out, stderr, code := warden(t, "audit", "verify", "--export", exp, "--key", key+".pub"); code != 0 || !strings.Contains(out, "3 events") {
		t.Fatalf("verify --export: %d\n%s%s", code, out, stderr)
	}
	if _, _, code := warden(t, "audit", "verify", "--export", exp); code != 2 {
		t.Errorf("verify --export without --key: status %d, want 2", code)
	}

	// Someone edits a statement in the file.
	db, err := sql.Open("sqlite", filepath.Join(dir, "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.Exec(`UPDATE event_runs SET body = json_set(body, '$[1][3]', 'SELECT * FROM secrets')`)
	if n, _ := res.RowsAffected(); err != nil || n == 0 {
		res, err = db.Exec(`UPDATE events SET statement = 'SELECT * FROM secrets' WHERE id = ?`, ids[1])
	}
	if n, _ := res.RowsAffected(); err != nil || n == 0 {
		t.Fatalf("edit: %v", err)
	}
	db.Close()
	out, _, code = warden(t, "audit", "verify", "--config", path)
	if code != 1 || !strings.Contains(out, "FAILED: 1 problem") || !strings.Contains(out, ids[1]) {
		t.Errorf("verify after an edit: status %d\n%s", code, out)
	}
	out, _, code = warden(t, "audit", "verify", "--config", path, "--json")
	var rep struct {
		OK       bool `json:"ok"`
		Problems []struct{ Kind, Key string }
	}
	if code != 1 || json.Unmarshal([]byte(out), &rep) != nil || rep.OK || len(rep.Problems) != 1 || rep.Problems[0].Kind != "changed" || rep.Problems[0].Key != ids[1] {
		t.Errorf("verify --json after an edit: status %d\n%s", code, out)
	}

	b, _ := os.ReadFile(exp)
	if err := os.WriteFile(exp, []byte(strings.Replace(string(b), "count(*)", "count(1)", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, _, code := warden(t, "audit", "verify", "--export", exp, "--key", keys["verifier_key"]); code != 1 || !strings.Contains(out, ids[2]) {
		t.Errorf("verify of an edited export: status %d\n%s", code, out)
	}
}
