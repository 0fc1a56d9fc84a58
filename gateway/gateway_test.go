package gateway_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/wardenhq/warden/approvals"
	approvalsqlite "github.com/wardenhq/warden/approvals/sqlite"
	"github.com/wardenhq/warden/audit"
	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/builtin"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/policy"
)

// env is a gateway over a real SQLite target, real rules and a real audit
// store.
type env struct {
	g         *gateway.Gateway
	store     *auditsqlite.Store
	approvals *approvals.Service // newEnvHolding's
}

func newEnv(t *testing.T, rules string) *env {
	t.Helper()
	return newEnvHolding(t, rules, false)
}

// newEnvHolding is newEnv with a real approval service as the hold stage
// when holding is set.
func newEnvHolding(t *testing.T, rules string, holding bool) *env {
	t.Helper()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "t.db")
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)", "INSERT INTO items VALUES (1, 'a'), (2, 'b')"} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	cfg, err := config.Parse(filepath.Join(dir, "w.yaml"), []byte(fmt.Sprintf(`
connections:
  - {name: t, kind: sqlite, path: %s}
rules:
%s`, dbPath, rules)))
	if err != nil {
		t.Fatal(err)
	}
	engine, err := policy.Compile(cfg, []string{"run_query", "describe_schema", "list_connections"})
	if err != nil {
		t.Fatal(err)
	}
	store, err := auditsqlite.Open(context.Background(), filepath.Join(dir, "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	conns, err := builtin.Registry().Open(context.Background(), cfg.Connections, connectors.OpenOptions{Logger: slog.New(slog.DiscardHandler), SSHCA: cfg.SSHCA})
	if err != nil {
		t.Fatal(err)
	}
	o := gateway.Options{Connections: conns, Decider: engine, Recorder: store, Limits: cfg.Limits}
	var svc *approvals.Service
	if holding {
		as, err := approvalsqlite.New(context.Background(), store.DB(), nil)
		if err != nil {
			t.Fatal(err)
		}
		svc, err = approvals.New(approvals.Options{Store: as, Recorder: store, Wait: 10 * time.Millisecond, MaxWait: time.Second, PollInterval: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		o.Holder = svc
	}
	g, err := gateway.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return &env{g: g, store: store, approvals: svc}
}

func (e *env) event(t *testing.T, id string) audit.Event {
	t.Helper()
	if err := e.store.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	ev, err := e.store.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("event %q: %v", id, err)
	}
	return ev
}

func caller(transport string) gateway.Caller {
	return gateway.Caller{Principal: identity.Principal{Subject: "agent", Groups: []string{"agents"}, Issuer: "local"},
		Transport: transport, Session: "s-" + transport}
}

func query(sql string) gateway.Operation {
	return gateway.Operation{Tool: "run_query", Arguments: []byte(`{"sql":"x"}`), Statement: sql, Credential: true}
}

// TestAuthorizeFinish: an allowed operation gets a grant with its
// decision, facts and credential; its intent is running until Finish
// records the outcome; a second Finish changes nothing.
func TestAuthorizeFinish(t *testing.T) {
	e := newEnv(t, "  - {name: r, effect: allow, max_rows: 7}")
	ctx := context.Background()
	gr, err := e.g.Session(caller("stdio"), "t").Authorize(ctx, query("SELECT name FROM items"))
	if err != nil {
		t.Fatal(err)
	}
	if gr.Decision.Rule != "r" || gr.MaxRows != 7 || !gr.Facts.ReadOnly || gr.Credential.Mode != connectors.ModeStatic {
		t.Errorf("grant = %+v", gr)
	}
	if len(gr.Facts.Read) != 1 || gr.Facts.Read[0] != (policy.Resource{Kind: policy.ResourceTable, Namespace: "main", Name: "items", Text: "items"}) {
		t.Errorf("facts read = %+v", gr.Facts.Read)
	}
	if err := gr.Gate(ctx); err != nil {
		t.Fatal(err)
	}
	if ev := e.event(t, gr.AuditID()); ev.Status != audit.StatusRunning || ev.Transport != "stdio" || ev.Session != "s-stdio" {
		t.Errorf("intent = %+v", ev)
	}
	if err := gr.Finish(ctx, gateway.Outcome{Rows: 2}); err != nil {
		t.Fatal(err)
	}
	if err := gr.Finish(ctx, gateway.Outcome{Err: errors.New("late")}); err == nil {
		t.Error("a second Finish with an error reports no error")
	}
	ev := e.event(t, gr.AuditID())
	if ev.Status != audit.StatusOK || ev.Rows != 2 || ev.Error != "" || ev.Credential != gateway.StaticCredentialLabel {
		t.Errorf("outcome = %+v (the first Finish must stand)", ev)
	}
}

// TestFinishWithholdsAnUnrecordedOutcome: when the outcome cannot be made
// durable (the journal is gone), Finish answers with the audit's
// unavailability, not with the result, which must not leave unrecorded.
func TestFinishWithholdsAnUnrecordedOutcome(t *testing.T) {
	for _, out := range []gateway.Outcome{{Rows: 2}, {Err: errors.New("boom")}} {
		e := newEnv(t, "  - {name: r, effect: allow}")
		ctx := context.Background()
		gr, err := e.g.Session(caller("stdio"), "t").Authorize(ctx, query("SELECT name FROM items"))
		if err != nil {
			t.Fatal(err)
		}
		if err := gr.Gate(ctx); err != nil {
			t.Fatal(err)
		}
		segs, _ := filepath.Glob(e.store.Path() + "-intentlog.*")
		for _, s := range segs {
			os.Remove(s)
		}
		// The journal looks for its file at most every 100 ms.
		time.Sleep(150 * time.Millisecond)
		ge := gr.Finish(ctx, out)
		if ge == nil || ge.Code != gateway.CodeUnavailable || ge.AuditID != gr.AuditID() || !strings.Contains(ge.Message, "result is withheld") {
			t.Fatalf("Finish(%+v) with the journal gone = %#v, want %s", out, ge, gateway.CodeUnavailable)
		}
		if ev := e.event(t, gr.AuditID()); ev.Status != audit.StatusRunning {
			t.Errorf("event = %+v, want the intent, running", ev)
		}
	}
}

// TestAuthorizeRefusals: what cannot run is refused, recorded, and says
// why; an error from the classifier keeps its cause.
func TestAuthorizeRefusals(t *testing.T) {
	e := newEnv(t, "  - {name: r, effect: allow}\n  - {name: no-proxy, effect: deny, when: \"transport == 'postgres-proxy'\", message: not through the proxy}")
	ctx := context.Background()
	cases := []struct {
		name, connection, transport, sql string
		code                             gateway.Code
		status                           string
		contains                         string
		hint                             string
	}{
		{"unknown connection", "nope", "stdio", "SELECT 1", gateway.CodeNotFound, audit.StatusInvalid, `no connection named "nope"`, "list_connections"},
		{"write under a read-only rule", "t", "stdio", "DELETE FROM items", gateway.CodeDenied, audit.StatusDenied, "admits only read statements", "list_connections"},
		{"two statements: the hint says how to proceed", "t", "stdio", "SELECT 1; SELECT 2", gateway.CodeDenied, audit.StatusDenied, "holds 2 statements", "Send one statement per call"},
		{"unparseable", "t", "stdio", "SELEKT 1", gateway.CodeInvalidArgument, audit.StatusInvalid, "syntax error: cannot parse SQL", "Fix the statement's syntax"},
		{"the transport is policy's", "t", "postgres-proxy", "SELECT 1", gateway.CodeDenied, audit.StatusDenied, "not through the proxy", "list_connections"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.g.Session(caller(tc.transport), tc.connection).Authorize(ctx, query(tc.sql))
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.Code != tc.code || !strings.Contains(ge.Message, tc.contains) {
				t.Fatalf("err = %v, want %s containing %q", err, tc.code, tc.contains)
			}
			if !strings.Contains(ge.Hint, tc.hint) {
				t.Errorf("hint = %q, want one containing %q", ge.Hint, tc.hint)
			}
			if tc.name == "unparseable" && !errors.Is(err, policy.ErrNotUnderstood) {
				t.Error("the classifier's refusal is the cause")
			}
			if ev := e.event(t, ge.AuditID); ev.Status != tc.status || ev.Transport != tc.transport {
				t.Errorf("event = %+v", ev)
			}
		})
	}
}

// TestAuthorizeWithFacts: facts a front door classified already decide;
// the statement is not classified again.
func TestAuthorizeWithFacts(t *testing.T) {
	e := newEnv(t, "  - {name: r, effect: allow}")
	written := []policy.Resource{{Kind: policy.ResourceTable, Namespace: "main", Name: "items", Text: "items"}}
	op := query("SELECT 1")
	op.Facts = &policy.Facts{Parts: []policy.Part{{Kind: policy.KindWrite, Kinds: []string{policy.KindWrite}, Tag: "DELETE", Written: written}},
		Kinds: []string{policy.KindWrite}, Written: written}
	_, err := e.g.Session(caller("stdio"), "t").Authorize(context.Background(), op)
	if !errors.Is(err, gateway.ErrDenied) {
		t.Fatalf("err = %v: the given facts (a DELETE) must decide, not the text", err)
	}
}

// TestClassify: the checks a proxy's statements get before any decision.
func TestClassify(t *testing.T) {
	e := newEnv(t, "  - {name: r, effect: allow}")
	s := e.g.Session(caller("postgres-proxy"), "t")
	ctx := context.Background()
	f, err := s.Classify(ctx, gateway.Operation{Tool: "run_query", Statement: "SELECT 1; SELECT name FROM items"})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Parts) != 2 || f.Parts[1].Offset != 10 || f.Parts[1].Length != len("SELECT name FROM items") {
		t.Errorf("parts = %+v", f.Parts)
	}
	for stmt, want := range map[string]string{
		strings.Repeat("x", config.DefaultMaxSQLBytes+1): "over this Warden's limit",
		"SELECT '\xff'":     "not valid UTF-8",
		"SELECT FROM WHERE": "cannot parse SQL",
	} {
		_, err := s.Classify(ctx, gateway.Operation{Tool: "run_query", Statement: stmt})
		ge := gateway.AsError(err)
		if err == nil || !strings.Contains(ge.Message, want) || ge.AuditID == "" {
			t.Errorf("%.20q: err = %v, want %q, recorded", stmt, err, want)
		}
	}
}

// TestOpenControlEnd: an opened session records its connection, carries
// a front door's own operations (Control) under a gate and records its
// end once.
func TestOpenControlEnd(t *testing.T) {
	e := newEnv(t, "  - {name: r, effect: allow}")
	ctx := context.Background()
	if _, _, err := e.g.Open(ctx, caller("postgres-proxy"), "nope", "run_query"); gateway.AsError(err).Code != gateway.CodeNotFound {
		t.Errorf("open of an unknown connection: %v", err)
	}
	s, adm, err := e.g.Open(ctx, caller("postgres-proxy"), "t", "run_query")
	if err != nil {
		t.Fatal(err)
	}
	if adm.Decision.Rule != "r" || adm.Credential.Mode != connectors.ModeStatic {
		t.Errorf("admission = %+v", adm)
	}
	gr := s.Control(ctx, gateway.Operation{Tool: "run_query", Statement: "BEGIN"}, "transaction control")
	if err := gr.Gate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := gr.Finish(ctx, gateway.Outcome{}); err != nil {
		t.Fatal(err)
	}
	if ev := e.event(t, gr.AuditID()); ev.Status != audit.StatusOK || ev.Decision != "allow" || ev.Reason != "transaction control" {
		t.Errorf("control event = %+v", ev)
	}
	s.End(ctx, "bye")
	s.End(ctx, "again")
	if err := e.store.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	evs, err := e.store.List(ctx, audit.Filter{Session: "s-postgres-proxy", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, ev := range evs {
		count[ev.Tool+":"+ev.Status]++
		if ev.Tool == gateway.ToolProxyDisconnect && ev.Error != "bye" {
			t.Errorf("disconnection = %+v", ev)
		}
	}
	if count[gateway.ToolProxyConnect+":ok"] != 1 || count[gateway.ToolProxyDisconnect+":ok"] != 1 {
		t.Errorf("session events = %v (one connect, one disconnect)", count)
	}
}

// TestOpenDenied: a caller no rule admits to the connection is refused at
// Open, and the refusal is recorded.
func TestOpenDenied(t *testing.T) {
	e := newEnv(t, "  - {name: r, effect: allow, subjects: {groups: [dba]}}")
	_, _, err := e.g.Open(context.Background(), caller("postgres-proxy"), "t", "run_query")
	ge := gateway.AsError(err)
	if ge.Code != gateway.CodeDenied || ge.AuditID == "" {
		t.Fatalf("err = %v", err)
	}
	if ev := e.event(t, ge.AuditID); ev.Tool != gateway.ToolProxyConnect || ev.Status != audit.StatusDenied {
		t.Errorf("event = %+v", ev)
	}
}

// TestNeedsAndFailed: an operation that needs a capability its connection
// lacks is refused before its statement is read; an operation that ran
// but failed (a command's non-zero exit) is recorded as failed while its
// result stands.
func TestNeedsAndFailed(t *testing.T) {
	e := newEnv(t, "  - {name: r, effect: allow}")
	ctx := context.Background()
	op := query("rm -rf /")
	op.Needs = connectors.CapExec
	_, err := e.g.Session(caller("stdio"), "t").Authorize(ctx, op)
	ge := gateway.AsError(err)
	if ge.Code != gateway.CodeInvalidArgument || !strings.Contains(ge.Message, "no exec capability") {
		t.Fatalf("err = %v", err)
	}
	if ev := e.event(t, ge.AuditID); ev.Status != audit.StatusInvalid || ev.Decision != "" {
		t.Errorf("event = %+v (refused before policy)", ev)
	}
	op = query("SELECT 1")
	op.Needs = connectors.CapSQL
	gr, err := e.g.Session(caller("stdio"), "t").Authorize(ctx, op)
	if err != nil {
		t.Fatal(err)
	}
	if err := gr.Finish(ctx, gateway.Outcome{Failed: "the command exited with status 3"}); err != nil {
		t.Fatalf("Finish of a failed run: %v", err)
	}
	if ev := e.event(t, gr.AuditID()); ev.Status != audit.StatusFailed || ev.Error != "the command exited with status 3" {
		t.Errorf("event = %+v", ev)
	}
}

// TestPreviewAndRedacted: a held operation's Preview is shown to the
// approver after its statement (or why it could not run), the approval
// keeps the arguments as sent, and the audit trail keeps the redacted ones.
func TestPreviewAndRedacted(t *testing.T) {
	e := newEnvHolding(t, "  - {name: r, effect: review, approvers: {groups: [dba]}}", true)
	g, svc := e.g, e.approvals
	for _, tc := range []struct {
		name    string
		preview func(context.Context, connectors.Credential) (string, error)
		want    string
	}{
		{"preview", func(context.Context, connectors.Credential) (string, error) { return "the diff", nil }, "SELECT 1\n\nthe diff"},
		{"failed preview", func(context.Context, connectors.Credential) (string, error) { return "", errors.New("dry-run refused") }, "SELECT 1\n\n(no preview: dry-run refused)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := query("SELECT 1")
			op.Arguments = []byte(`{"sql":"SELECT 1","secret":"s3cr3t","case":"` + tc.name + `"}`)
			op.Redacted = []byte(`{"sql":"SELECT 1","secret":"***","case":"` + tc.name + `"}`)
			op.Preview = tc.preview
			_, err := g.Session(caller("stdio"), "t").Authorize(context.Background(), op)
			var pa *gateway.PendingApproval
			if !errors.As(err, &pa) {
				t.Fatalf("held: %v", err)
			}
			auditID := gateway.AsError(err).AuditID
			a, err := svc.Get(context.Background(), "agent", pa.ApprovalID)
			if err != nil {
				t.Fatal(err)
			}
			if a.Statement != tc.want || !strings.Contains(string(a.Arguments), "s3cr3t") {
				t.Errorf("the approver sees %q, args %s", a.Statement, a.Arguments)
			}
			if ev := e.event(t, auditID); strings.Contains(string(ev.Arguments), "s3cr3t") || !strings.Contains(string(ev.Arguments), "***") {
				t.Errorf("the audit event keeps %s", ev.Arguments)
			}
		})
	}
}
