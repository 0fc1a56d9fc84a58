package tools_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/wardenhq/warden/tools"
	toolsbuiltin "github.com/wardenhq/warden/tools/builtin"
	sqltools "github.com/wardenhq/warden/tools/sql"

	_ "modernc.org/sqlite"

	"github.com/wardenhq/warden/audit"
	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/builtin"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/policy"
)

var agent = gateway.Caller{Principal: identity.Principal{Subject: "agent", Groups: []string{"agents"}, Issuer: "local"}, Transport: gateway.TransportStdio, Session: "s1"}

type fixture struct {
	p     *tools.Catalogue
	store *auditsqlite.Store
	db    string
}

// itemsTarget makes a SQLite target in dir with a table items filled by
// insert, and the configuration of a connection t to it with rules (YAML
// list items under rules:). It returns the configuration and the
// database's path.
func itemsTarget(t *testing.T, dir, insert, rules string) (*config.Config, string) {
	t.Helper()
	dbPath := filepath.Join(dir, "t.db")
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range []string{"CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)", insert} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Parse(filepath.Join(dir, "w.yaml"), []byte(fmt.Sprintf(`
connections:
  - {name: t, kind: sqlite, path: %s}
rules:
%s`, dbPath, rules)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg, dbPath
}

// newFixture wires a pipeline over a real SQLite target and a real audit
// store, with the given rules (YAML list items under rules:).
func newFixture(t *testing.T, rules string, wrap func(gateway.Recorder) gateway.Recorder, decider ...gateway.Decider) *fixture {
	t.Helper()
	dir := t.TempDir()
	cfg, dbPath := itemsTarget(t, dir, "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM g WHERE n < 300) INSERT INTO items SELECT n, 'item ' || n FROM g", rules)
	engine, store := compileAndOpen(t, cfg, dir)
	conns, err := builtin.Registry().Open(context.Background(), cfg.Connections, connectors.OpenOptions{Logger: slog.New(slog.DiscardHandler), SSHCA: cfg.SSHCA})
	if err != nil {
		t.Fatal(err)
	}
	var rec gateway.Recorder = store
	if wrap != nil {
		rec = wrap(store)
	}
	var d gateway.Decider = engine
	if len(decider) > 0 {
		d = decider[0]
	}
	p, err := toolsbuiltin.Open(gateway.Options{Connections: conns, Decider: d, Recorder: rec, Limits: cfg.Limits})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Gateway().Close() })
	return &fixture{p: p, store: store, db: dbPath}
}

func (f *fixture) count(t *testing.T) int {
	t.Helper()
	db, err := sql.Open("sqlite", f.db)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM items").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) event(t *testing.T, id string) audit.Event {
	t.Helper()
	if err := f.store.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	ev, err := f.store.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("audit event %q: %v", id, err)
	}
	return ev
}

func runQuery(f *fixture, sql string) (*tools.Result, error) {
	args, _ := json.Marshal(map[string]any{"connection": "t", "sql": sql})
	return f.p.Call(context.Background(), agent, tools.ToolRunQuery, args)
}

func TestDecisions(t *testing.T) {
	tests := []struct {
		name     string
		rules    string
		sql      string
		code     gateway.Code // "" for success
		status   string       // audit status
		decision string
		want     string // in the error message
	}{
		{"default deny", "  []", "SELECT 1", gateway.CodeDenied, "denied", "deny", "no rule allows agent to use run_query"},
		{"allow", "  - {name: r, effect: allow}", "SELECT count(*) FROM items", "", "ok", "allow", ""},
		{"deny wins", "  - {name: r, effect: allow}\n  - {name: d, effect: deny, message: maintenance window}", "SELECT 1", gateway.CodeDenied, "denied", "deny", "maintenance window"},
		{"review without approvals refuses", "  - {name: r, effect: allow}\n  - {name: rv, effect: review}", "SELECT 1", gateway.CodeApprovalRequired, "denied", "review", "requires human approval"},
		{"other group only", "  - {name: r, effect: allow, subjects: {groups: [dba]}}", "SELECT 1", gateway.CodeDenied, "denied", "deny", "Warden denies by default"},
		{"read-only by default", "  - {name: r, effect: allow}", "DELETE FROM items", gateway.CodeDenied, "denied", "deny", "admits only read statements"},
		{"unparseable refused as a syntax error", "  - {name: r, effect: allow}", "SELEC 1", gateway.CodeInvalidArgument, "invalid", "", "syntax error: cannot parse SQL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.rules, nil)
			res, err := runQuery(f, tt.sql)
			if tt.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				qr := res.Structured.(*sqltools.QueryResult)
				if qr.RowCount != 1 || qr.AuditID == "" {
					t.Errorf("result = %+v", qr)
				}
				ev := f.event(t, qr.AuditID)
				if ev.Status != tt.status || ev.Decision != tt.decision || ev.Rows != 1 || ev.Statement != tt.sql || ev.Credential != gateway.StaticCredentialLabel {
					t.Errorf("event = %+v", ev)
				}
				return
			}
			var te *gateway.Error
			if !errors.As(err, &te) || te.Code != tt.code || !strings.Contains(te.Error(), tt.want) {
				t.Fatalf("err = %v, want %s containing %q", err, tt.code, tt.want)
			}
			ev := f.event(t, te.AuditID)
			if ev.Status != tt.status || ev.Decision != tt.decision || ev.Identity != "agent" || ev.Error == "" {
				t.Errorf("event = %+v", ev)
			}
			if f.count(t) != 300 {
				t.Error("a refused call changed data")
			}
		})
	}
}

// TestAuditFailClosed: when the intent cannot be written, nothing runs.
func TestAuditFailClosed(t *testing.T) {
	f := newFixture(t, "  - {name: rw, effect: allow, read_only: false}", nil)
	// The store's file disappears under it (a disk taken away, an operator
	// mistake): the intent cannot be committed.
	if err := os.Remove(f.store.Path()); err != nil {
		t.Fatal(err)
	}
	_, err := runQuery(f, "DELETE FROM items")
	var te *gateway.Error
	if !errors.As(err, &te) || te.Code != gateway.CodeUnavailable || !strings.Contains(te.Message, "audit trail cannot be written") {
		t.Fatalf("err = %v", err)
	}
	if te.AuditID != "" {
		t.Error("a refused call without an intent must not claim an audit event")
	}
	if f.count(t) != 300 {
		t.Fatal("the statement ran although its intent was not recorded")
	}
	// The store closed: same refusal, for every tool.
	f.store.Close()
	if _, err := runQuery(f, "DELETE FROM items"); !errors.As(err, &te) || te.Code != gateway.CodeUnavailable {
		t.Fatalf("closed store: err = %v", err)
	}
	if f.count(t) != 300 {
		t.Fatal("the statement ran with a closed audit store")
	}
	args := json.RawMessage(`{"connection":"t"}`)
	if _, err := f.p.Call(context.Background(), agent, tools.ToolDescribeSchema, args); !errors.As(err, &te) || te.Code != gateway.CodeUnavailable {
		t.Fatalf("describe_schema with a closed store: err = %v", err)
	}
	if _, err := f.p.Call(context.Background(), agent, tools.ToolListConnections, nil); !errors.As(err, &te) || te.Code != gateway.CodeUnavailable {
		t.Fatalf("list_connections with a closed store: err = %v", err)
	}
}

type brokenDecider struct{}

func (brokenDecider) Decide(context.Context, policy.Input) (policy.Decision, error) {
	return policy.Decision{Effect: policy.Allow}, errors.New("cel evaluation exploded")
}
func (brokenDecider) Version() string          { return "x" }
func (brokenDecider) AllowsWrites(string) bool { return true }

// TestPolicyErrorFailsClosed: a decider error is a refusal even if the
// decision it returned says allow.
func TestPolicyErrorFailsClosed(t *testing.T) {
	f := newFixture(t, "  - {name: rw, effect: allow, read_only: false}", nil, brokenDecider{})
	_, err := runQuery(f, "DELETE FROM items")
	var te *gateway.Error
	if !errors.As(err, &te) || te.Code != gateway.CodeInternal || !strings.Contains(te.Message, "fails closed") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(te.Message, "exploded") {
		t.Error("internal error details are for the log, not the agent")
	}
	if f.count(t) != 300 {
		t.Fatal("data changed")
	}
	if ev := f.event(t, te.AuditID); ev.Status != "error" {
		t.Errorf("event = %+v", ev)
	}
}

func TestWritesWhenAllowed(t *testing.T) {
	f := newFixture(t, "  - {name: rw, effect: allow, read_only: false}", nil)
	res, err := runQuery(f, "DELETE FROM items WHERE id > 100")
	if err != nil {
		t.Fatal(err)
	}
	if f.count(t) != 100 {
		t.Errorf("count = %d after an allowed delete", f.count(t))
	}
	if qr := res.Structured.(*sqltools.QueryResult); qr.ReadOnly {
		t.Error("result says read-only")
	}
	for _, tl := range f.p.Specs() {
		if tl.Name == tools.ToolRunQuery && (tl.ReadOnly || !tl.Destructive) {
			t.Errorf("run_query hints must say it can write here: %+v", tl)
		}
	}
}

func TestMaxRows(t *testing.T) {
	f := newFixture(t, "  - {name: r, effect: allow, max_rows: 50}", nil)
	for _, tt := range []struct {
		args      string
		rows      int
		truncated bool
	}{
		{`{"connection":"t","sql":"SELECT * FROM items"}`, 50, true},
		{`{"connection":"t","sql":"SELECT * FROM items","max_rows":10}`, 10, true},
		{`{"connection":"t","sql":"SELECT * FROM items WHERE id <= 7","max_rows":10}`, 7, false},
		{`{"connection":"t","sql":"SELECT * FROM items WHERE id <= 50"}`, 50, false},
	} {
		res, err := f.p.Call(context.Background(), agent, tools.ToolRunQuery, json.RawMessage(tt.args))
		if err != nil {
			t.Fatal(err)
		}
		qr := res.Structured.(*sqltools.QueryResult)
		if qr.RowCount != tt.rows || len(qr.Rows) != tt.rows || qr.Truncated != tt.truncated {
			t.Errorf("%s: rows %d truncated %v", tt.args, qr.RowCount, qr.Truncated)
		}
		if ev := f.event(t, qr.AuditID); ev.Rows != int64(tt.rows) || ev.Truncated != tt.truncated {
			t.Errorf("%s: event rows %d truncated %v", tt.args, ev.Rows, ev.Truncated)
		}
	}
}

func TestListConnections(t *testing.T) {
	f := newFixture(t, "  - {name: r, effect: allow, tools: [run_query], max_rows: 50}", nil)
	res, err := f.p.Call(context.Background(), agent, tools.ToolListConnections, json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	cr := res.Structured.(*tools.ConnectionsResult)
	// No rule names list_connections: the event says the default allowed it.
	if ev := f.event(t, cr.AuditID); ev.Decision != "allow" || ev.Reason != tools.ListConnectionsDefault || ev.Status != "ok" {
		t.Errorf("audit event of list_connections = decision %q, reason %q, status %q", ev.Decision, ev.Reason, ev.Status)
	}
	if len(cr.Connections) != 1 || len(cr.Connections[0].Tools) != 1 || cr.Connections[0].Tools[0].MaxRows != 50 || !cr.Connections[0].Tools[0].ReadOnly {
		t.Errorf("connections = %+v", cr.Connections)
	}
	stranger := gateway.Caller{Principal: identity.Principal{Subject: "eve"}, Transport: gateway.TransportHTTP}
	f2 := newFixture(t, "  - {name: r, effect: allow, subjects: {groups: [agents]}}", nil)
	res, err = f2.p.Call(context.Background(), stranger, tools.ToolListConnections, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cr := res.Structured.(*tools.ConnectionsResult); len(cr.Connections) != 0 || !strings.Contains(res.Text, "No connections") {
		t.Errorf("a stranger sees %+v", cr.Connections)
	}
	f3 := newFixture(t, "  - {name: r, effect: allow}\n  - {name: quiet, effect: deny, tools: [list_connections]}", nil)
	if _, err := f3.p.Call(context.Background(), agent, tools.ToolListConnections, nil); !errors.Is(err, gateway.ErrDenied) {
		t.Errorf("explicit deny of list_connections: %v", err)
	}
	if _, err := f.p.Call(context.Background(), agent, tools.ToolListConnections, json.RawMessage(`{"x":1}`)); err == nil {
		t.Error("list_connections takes no arguments")
	}
}

func TestUnknownTool(t *testing.T) {
	f := newFixture(t, "  - {name: r, effect: allow}", nil)
	_, err := f.p.Call(context.Background(), agent, "drop_everything", nil)
	var te *gateway.Error
	if !errors.As(err, &te) || te.Code != gateway.CodeInvalidArgument || !strings.Contains(te.Message, `unknown tool "drop_everything"`) {
		t.Fatalf("err = %v", err)
	}
	if ev := f.event(t, te.AuditID); ev.Tool != "drop_everything" || ev.Status != "invalid" {
		t.Errorf("event = %+v", ev)
	}
	// The refusal names the tools there are, for a front door to say.
	var ute *tools.UnknownToolError
	if !errors.As(err, &ute) || ute.Tool != "drop_everything" || !slices.Contains(ute.Tools, tools.ToolRunQuery) || !slices.Contains(ute.Tools, tools.ToolListConnections) {
		t.Errorf("cause = %#v", ute)
	}
}

// TestConcurrentCalls: every concurrent call gets its own audit event.
func TestConcurrentCalls(t *testing.T) {
	f := newFixture(t, "  - {name: r, effect: allow}", nil)
	var wg sync.WaitGroup
	ids := make(chan string, 32*10)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				res, err := runQuery(f, "SELECT id FROM items WHERE id < 5")
				if err != nil {
					t.Error(err)
					return
				}
				ids <- res.Structured.(*sqltools.QueryResult).AuditID
			}
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("duplicate audit id %s", id)
		}
		seen[id] = true
	}
	f.store.Sync(context.Background())
	evs, err := f.store.List(context.Background(), audit.Filter{Limit: 1000, Status: "ok"})
	if err != nil || len(evs) != 320 {
		t.Fatalf("events = %d, %v", len(evs), err)
	}
}

// compileAndOpen compiles cfg's policy and opens an audit store in dir,
// closed when the test ends.
func compileAndOpen(t *testing.T, cfg *config.Config, dir string) (*policy.Engine, *auditsqlite.Store) {
	t.Helper()
	engine, err := policy.Compile(cfg, tools.Names(toolsbuiltin.Tools()))
	if err != nil {
		t.Fatal(err)
	}
	store, err := auditsqlite.Open(context.Background(), filepath.Join(dir, "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return engine, store
}

// TestDescribeSchemaShowsOnlyReadableTables: describe_schema lists only
// the tables the deciding rule's tables: scope lets the caller read (or
// write), whatever schema and table filters ask for.
func TestDescribeSchemaShowsOnlyReadableTables(t *testing.T) {
	dir := t.TempDir()
	cfg, dbPath := itemsTarget(t, dir, "CREATE TABLE secrets (id INTEGER PRIMARY KEY, value TEXT)",
		"  - {name: r, effect: allow, tables: {read: [items]}}")
	engine, store := compileAndOpen(t, cfg, dir)
	conns, err := builtin.Registry().Open(context.Background(), cfg.Connections, connectors.OpenOptions{Logger: slog.New(slog.DiscardHandler), SSHCA: cfg.SSHCA})
	if err != nil {
		t.Fatal(err)
	}
	p, err := toolsbuiltin.Open(gateway.Options{Connections: conns, Decider: engine, Recorder: store, Limits: cfg.Limits})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Gateway().Close() })
	f := &fixture{p: p, store: store, db: dbPath}
	for _, args := range []string{`{"connection": "t"}`, `{"connection": "t", "table": "secrets"}`, `{"connection": "t", "schema": "main"}`} {
		res, err := f.p.Call(context.Background(), agent, tools.ToolDescribeSchema, json.RawMessage(args))
		if err != nil {
			t.Fatalf("%s: %v", args, err)
		}
		var names []string
		for _, tb := range res.Structured.(*sqltools.SchemaResult).Tables {
			names = append(names, tb.Schema+"."+tb.Name)
		}
		for _, n := range names {
			if n != "main.items" {
				t.Errorf("%s: describe_schema shows %s, which the rule does not let the caller read (all: %v)", args, n, names)
			}
		}
		if args == `{"connection": "t"}` && len(names) != 1 {
			t.Errorf("%s: tables = %v, want [main.items]", args, names)
		}
	}
}
