package tools_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/tools"
	toolsbuiltin "github.com/wardenhq/warden/tools/builtin"
	sqltools "github.com/wardenhq/warden/tools/sql"

	_ "modernc.org/sqlite"

	"github.com/wardenhq/warden/approvals"
	approvalsqlite "github.com/wardenhq/warden/approvals/sqlite"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/builtin"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/identity"
)

var dba = identity.Principal{Subject: "bob", Groups: []string{"dba"}, Issuer: "local"}

// newApprovalFixture is a pipeline over a SQLite target (writable) whose
// review rule holds deletes for the dba group, with a real approval service.
func newApprovalFixture(t *testing.T) (*fixture, *approvals.Service) {
	t.Helper()
	dir := t.TempDir()
	cfg, dbPath := itemsTarget(t, dir, "INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, 'three')", `
  - {name: read, effect: allow}
  - name: deletes-need-review
    when: "'write' in statement.kinds"
    effect: review
    read_only: false
    statements: [read, write]
    approvers: {groups: [dba]}
`)
	engine, store := compileAndOpen(t, cfg, dir)
	as, err := approvalsqlite.New(context.Background(), store.DB(), nil)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := approvals.New(approvals.Options{Store: as, Recorder: store,
		Wait: 100 * time.Millisecond, MaxWait: 5 * time.Second, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	conns, err := builtin.Registry().Open(context.Background(), cfg.Connections, connectors.OpenOptions{Logger: slog.New(slog.DiscardHandler), SSHCA: cfg.SSHCA})
	if err != nil {
		t.Fatal(err)
	}
	p, err := toolsbuiltin.Open(gateway.Options{Connections: conns, Decider: engine, Recorder: store, Holder: svc, Limits: cfg.Limits})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Gateway().Close() })
	return &fixture{p: p, store: store, db: dbPath}, svc
}

func call(t *testing.T, f *fixture, caller gateway.Caller, tool string, args any) (*tools.Result, error) {
	t.Helper()
	b, _ := json.Marshal(args)
	return f.p.Call(context.Background(), caller, tool, b)
}

func TestHeldCallPendingThenAwaited(t *testing.T) {
	f, svc := newApprovalFixture(t)
	del := map[string]any{"connection": "t", "sql": "DELETE FROM items WHERE id = 1", "justification": "cleanup"}

	_, err := call(t, f, agent, tools.ToolRunQuery, del)
	var pa *gateway.PendingApproval
	if !errors.As(err, &pa) || gateway.AsError(err).Code != gateway.CodeApprovalRequired || pa.Status != gateway.StatusPendingApproval ||
		pa.Approvers.Quorum != 1 || pa.Approvers.Groups[0] != "dba" || pa.ExpiresAt.IsZero() || !strings.Contains(pa.Message, "await_approval") {
		t.Fatalf("held call: %v %+v", err, pa)
	}
	if ev := f.event(t, gateway.AsError(err).AuditID); ev.Decision != "review" || ev.Approval != pa.ApprovalID || ev.Status != "denied" {
		t.Errorf("held call's event: %+v", ev)
	}
	if f.count(t) != 3 {
		t.Fatal("the held delete ran")
	}

	res, err := call(t, f, agent, tools.ToolApprovalStatus, map[string]any{"approval_id": pa.ApprovalID})
	if err != nil || res.Structured.(*tools.ApprovalStatusResult).State != "pending" {
		t.Fatalf("approval_status: %v %+v", err, res)
	}
	other := agent
	other.Principal.Subject = "mallory"
	if _, err := call(t, f, other, tools.ToolApprovalStatus, map[string]any{"approval_id": pa.ApprovalID}); gateway.AsError(err).Code != gateway.CodeNotFound {
		t.Errorf("another identity's status: %v", err)
	}
	_, err = call(t, f, agent, tools.ToolAwaitApproval, map[string]any{"approval_id": pa.ApprovalID, "wait_seconds": 0})
	if !errors.As(err, &pa) {
		t.Fatalf("await while pending: %v", err)
	}
	if _, err := call(t, f, agent, tools.ToolAwaitApproval, map[string]any{"approval_id": pa.ApprovalID, "wait_seconds": 999}); gateway.AsError(err).Code != gateway.CodeInvalidArgument {
		t.Errorf("wait_seconds over max_wait: %v", err)
	}

	if _, err := svc.Decide(context.Background(), dba, pa.ApprovalID, approvals.VerdictApprove, "ok", "api"); err != nil {
		t.Fatal(err)
	}
	res, err = call(t, f, agent, tools.ToolAwaitApproval, map[string]any{"approval_id": pa.ApprovalID})
	if err != nil || res.Structured.(*sqltools.QueryResult).ReadOnly || f.count(t) != 2 {
		t.Fatalf("await after approval: %v %+v", err, res)
	}
	run := f.event(t, res.Structured.(*sqltools.QueryResult).AuditID)
	if run.Approval != pa.ApprovalID || run.Decision != "review" || run.Status != "ok" {
		t.Errorf("the approved call's event: %+v", run)
	}
	if _, err := call(t, f, agent, tools.ToolAwaitApproval, map[string]any{"approval_id": pa.ApprovalID}); err == nil || !strings.Contains(err.Error(), "already used") {
		t.Errorf("replay: %v", err)
	}
	res, _ = call(t, f, agent, tools.ToolApprovalStatus, map[string]any{"approval_id": pa.ApprovalID})
	if st := res.Structured.(*tools.ApprovalStatusResult); st.State != "executed" || st.ExecutionID != run.ID {
		t.Errorf("status after the run: %+v", st)
	}
}

func TestApprovalToolsInCatalogue(t *testing.T) {
	f, _ := newApprovalFixture(t)
	names := map[string]tools.Spec{}
	for _, tl := range f.p.Specs() {
		names[tl.Name] = tl
	}
	if !names[tools.ToolApprovalStatus].ReadOnly || !names[tools.ToolAwaitApproval].Destructive {
		t.Errorf("approval tools: %+v", names)
	}
	plain := newFixture(t, "  - {name: r, effect: allow}", nil)
	for _, tl := range plain.p.Specs() {
		if tl.Name == tools.ToolAwaitApproval {
			t.Error("approval tools offered without an approval workflow")
		}
	}
}
