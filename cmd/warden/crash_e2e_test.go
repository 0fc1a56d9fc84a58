package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"golang.org/x/mod/sumdb/note"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/audit/auditlog"
	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
	"github.com/wardenhq/warden/internal/demo"
)

// TestKillUnderLoad does what found the outcomes lost: `warden serve`
// killed with SIGKILL, five times, while MCP clients call run_query as
// fast as they can. Afterwards every call a client saw answered has its
// outcome in the store (none running, none interrupted), every call that
// was not answered is closed (interrupted or with its outcome, never
// running), and the audit log, signed, verifies.
func TestKillUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("a load test")
	}
	dir := t.TempDir()
	if _, err := demo.CreateDatabase(context.Background(), filepath.Join(dir, "demo.db")); err != nil {
		t.Fatal(err)
	}
	keygen := exec.Command(wardenBin, "audit", "keygen", "--out", filepath.Join(dir, "audit.key"))
	if out, err := keygen.CombinedOutput(); err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	cfg := `store: sqlite://./audit.db
identity:
  local: agent
  allow_anonymous_loopback: true
  users:
    - {name: agent, groups: [agents]}
audit:
  signing_key_file: audit.key
  checkpoint_interval: 1s
connections:
  - {name: demo, kind: sqlite, path: ./demo.db}
rules:
  - {name: agents-read, subjects: {groups: [agents]}, tools: [run_query], effect: allow}
`
	path := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	const rounds, clients = 5, 32
	answered := map[string]bool{} // audit IDs of the calls clients saw answered
	var unanswered int
	for round := range rounds {
		url, logs, serve := serveWarden(t, "--config", path, "--listen", "127.0.0.1:0")
		var mu sync.Mutex
		var failed atomic.Int64
		var killed atomic.Bool
		var wg sync.WaitGroup
		var total atomic.Int64
		for c := range clients {
			cl, err := client.NewStreamableHttpClient(url)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if err := cl.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			initialize(t, cl)
			wg.Go(func() {
				for i := 0; !killed.Load(); i++ {
					req := mcpgo.CallToolRequest{}
					req.Params.Name = "run_query"
					req.Params.Arguments = map[string]any{"connection": "demo", "sql": fmt.Sprintf("SELECT id, name FROM customers WHERE id = %d", (c*1000+i)%50+1)}
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					res, err := cl.CallTool(ctx, req)
					cancel()
					if err != nil {
						failed.Add(1) // Warden is gone: not answered
						return
					}
					id := auditIDOf(res)
					if res.IsError || id == "" {
						t.Errorf("round %d: an answered call failed or has no audit ID: %v", round, res.Content)
						return
					}
					mu.Lock()
					answered[id] = true
					mu.Unlock()
					total.Add(1)
				}
			})
		}
		// Under load for a while, then killed at whatever it was doing.
		time.Sleep(time.Duration(800+200*round) * time.Millisecond)
		if err := serve.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		serve.Wait()
		killed.Store(true)
		wg.Wait()
		unanswered += int(failed.Load())
		if total.Load() == 0 {
			t.Fatalf("round %d: no call was answered; logs:\n%s", round, logs)
		}
		t.Logf("round %d: %d calls answered, %d in flight when Warden was killed", round, total.Load(), failed.Load())
	}

	key, err := os.ReadFile(filepath.Join(dir, "audit.key"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := auditlog.NewSigner(string(key))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := auditsqlite.OpenWith(ctx, filepath.Join(dir, "audit.db"), auditsqlite.Options{Signer: signer, CheckpointEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lost := 0
	for id := range answered {
		e, err := st.Get(ctx, id)
		if err != nil || e.Status != audit.StatusOK {
			lost++
			if lost <= 5 {
				t.Errorf("answered call %s: %+v, %v; want its outcome, ok", id, e, err)
			}
		}
	}
	var running, interrupted int
	for before := ""; ; {
		page, err := st.List(ctx, audit.Filter{Limit: audit.MaxListLimit, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			switch e.Status {
			case audit.StatusRunning:
				running++
			case audit.StatusInterrupted:
				interrupted++
			}
		}
		if len(page) < audit.MaxListLimit {
			break
		}
		before = page[len(page)-1].ID
	}
	if lost > 0 || running > 0 {
		t.Errorf("of %d answered calls, %d have no durable outcome; %d events still running after %d kills", len(answered), lost, running, rounds)
	}
	if interrupted > unanswered {
		t.Errorf("%d events interrupted, more than the %d calls not answered", interrupted, unanswered)
	}
	rep, err := st.VerifyLog(ctx, auditlog.VerifyOptions{Verifiers: note.VerifierList(signer.Verifier)})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Errorf("the audit log does not verify after %d kills: %+v", rounds, rep.Problems)
	}
	t.Logf("%d answered calls, all with their outcome; %d not answered, %d of them interrupted; log: %d leaves, %d checkpoints, verified in %.2fs",
		len(answered), unanswered, interrupted, rep.Leaves, rep.Checkpoints, rep.Seconds)
}

// auditIDOf is the audit event ID a run_query result names.
func auditIDOf(res *mcpgo.CallToolResult) string {
	for _, ct := range res.Content {
		if tc, ok := ct.(mcpgo.TextContent); ok {
			if i := strings.LastIndex(tc.Text, "audit "); i >= 0 {
				if f := strings.Fields(tc.Text[i+len("audit "):]); len(f) > 0 && audit.IsEventID(f[0]) {
					return f[0]
				}
			}
		}
	}
	return ""
}
