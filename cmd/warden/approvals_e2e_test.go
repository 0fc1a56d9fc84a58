package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/wardenhq/warden/approvals"
	"github.com/wardenhq/warden/internal/testenv"
	"github.com/wardenhq/warden/internal/testoidc"
)

// approvalEnv is Warden over a real PostgreSQL database, trusting a real
// OpenID provider whose people approve from the CLI and the web page, with
// a local webhook receiver.
type approvalEnv struct {
	dir, config, listen, resource string
	idp                           *testoidc.Provider
	pg                            testenv.Postgres
	db                            string
	hook                          *hookReceiver
	homes                         map[string]string // person -> HOME with their warden login
}

const hookSecret = "webhook-signing-secret"

func newApprovalEnv(t *testing.T, approvalsYAML string) *approvalEnv {
	t.Helper()
	pg := testenv.PG(t)
	db := pg.CreateDatabase(t, pgSetup, pgRows)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	resource := "http://" + listen + "/mcp"
	idp := testoidc.Start(t, testoidc.Options{
		Audience: []string{resource},
		Users: []testoidc.User{
			{Username: "bob", Password: "bob-pw", Groups: []string{"dba"}},
			{Username: "carol", Password: "carol-pw", Groups: []string{"agents", "dba"}},
			{Username: "dave", Password: "dave-pw", Groups: []string{"viewers"}},
		},
		Clients: []testoidc.Client{
			{ID: "warden-cli"},
			{ID: "ci-bot", Secret: "ci-bot-secret", Groups: []string{"agents"}},
		},
	})
	hook := newHookReceiver(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hook-secret"), []byte(hookSecret+"\n"), 0o600)
	cfg := fmt.Sprintf(`
store: sqlite://./audit.db
identity:
  local: agent
  users:
    - {name: agent, groups: [agents]}
  resource: %[1]s
  oidc:
    - {name: test-idp, issuer: %[2]s, groups_claim: groups, scopes: [warden]}
connections:
  - name: pg
    kind: postgres
    address: %[3]s
    database: %[4]s
    sslmode: disable
    admin: {user: %[5]s, password_file: %[6]s}
  - name: pg-quorum
    kind: postgres
    address: %[3]s
    database: %[4]s
    sslmode: disable
    admin: {user: %[5]s, password_file: %[6]s}
rules:
  - name: agents-read
    subjects: {groups: [agents]}
    tools: [describe_schema, run_query]
    effect: allow
  - name: writes-need-review
    subjects: {groups: [agents]}
    connections: {names: [pg]}
    tools: [run_query]
    when: "'write' in statement.kinds"
    effect: review
    read_only: false
    statements: [read, write]
    tables: {write: [public.customers]}
    approvers: {groups: [dba]}
  - name: two-dbas
    subjects: {groups: [agents]}
    connections: {names: [pg-quorum]}
    tools: [run_query]
    when: "'write' in statement.kinds"
    effect: review
    read_only: false
    statements: [read, write]
    approvers: {groups: [dba], quorum: 2}
approvals:
  webhooks:
    - name: chat
      url: %[7]s/hooks/warden
      secret: {file: ./hook-secret}
      retries: 3
%[8]s`, resource, idp.Issuer, pg.Addr, db, pg.User, pg.PasswordFile, hook.srv.URL, approvalsYAML)
	cfg = strings.ReplaceAll(cfg, "{listen}", listen)
	path := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return &approvalEnv{dir: dir, config: path, listen: listen, resource: resource, idp: idp, pg: pg, db: db, hook: hook, homes: map[string]string{}}
}

// server is a running warden serve.
type server struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

func (e *approvalEnv) serve(t *testing.T) *server {
	t.Helper()
	s := &server{logs: &syncBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(wardenBin, "serve", "--config", e.config, "--listen", e.listen, "--log-level", "debug")
	s.cmd.Stderr = s.logs
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { s.stop(t) })
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "Warden is serving MCP at ") {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-s.done:
		t.Fatalf("warden serve exited; logs:\n%s", s.logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("warden serve did not start; logs:\n%s", s.logs)
	}
	return s
}

func (s *server) stop(t *testing.T) {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// agent is an MCP client over HTTP with the ci-bot's token (group agents),
// collecting the progress notifications it receives.
type agentClient struct {
	*client.Client
	mu       sync.Mutex
	progress []map[string]any
}

func (e *approvalEnv) agent(t *testing.T, token string) *agentClient {
	t.Helper()
	if token == "" {
		token = e.idp.ClientCredentials(t, "ci-bot", "ci-bot-secret", "warden")
	}
	c, err := client.NewStreamableHttpClient(e.resource, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token}))
	if err != nil {
		t.Fatal(err)
	}
	a := &agentClient{Client: c}
	c.OnNotification(func(n mcpgo.JSONRPCNotification) {
		if n.Method == string(mcpgo.MethodNotificationProgress) {
			a.mu.Lock()
			a.progress = append(a.progress, n.Params.AdditionalFields)
			a.mu.Unlock()
		}
	})
	t.Cleanup(func() { c.Close() })
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	initialize(t, c)
	return a
}

// callTool calls a tool with a progress token and decodes the result.
func callTool(t *testing.T, c *client.Client, tool string, args any) (*mcpgo.CallToolResult, string, map[string]any) {
	t.Helper()
	req := mcpgo.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = args
	req.Params.Meta = &mcpgo.Meta{ProgressToken: "progress-" + tool}
	return callRequest(t, c, req, 90*time.Second)
}

// login runs warden login --device as person, approving the device at
// the provider, so that the person's CLI holds a cached token.
func (e *approvalEnv) login(t *testing.T, person string) {
	t.Helper()
	home := t.TempDir()
	d := startLogin(t, home, "--server", e.resource, "--device")
	code := d.await(t, func(s string) (string, bool) {
		_, after, ok := strings.Cut(s, "user_code=")
		return strings.TrimSuffix(after, ")"), ok
	})
	e.idp.ApproveDevice(t, code, person, person+"-pw")
	d.wait(t)
	e.homes[person] = home
}

// cli runs warden approvals as person.
func (e *approvalEnv) cli(t *testing.T, person string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(wardenBin, append([]string{"approvals"}, args...)...)
	home := e.homes[person]
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+home, "HOME="+home, "WARDEN_SERVER="+e.resource)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func (e *approvalEnv) cliJSON(t *testing.T, person string, v any, args ...string) {
	t.Helper()
	out, stderr, err := e.cli(t, person, append(args, "--json")...)
	if err != nil {
		t.Fatalf("warden approvals %v as %s: %v\n%s%s", args, person, err, out, stderr)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("warden approvals %v --json: %v\n%s", args, err, out)
	}
}

func (e *approvalEnv) customerExists(t *testing.T, id int) bool {
	t.Helper()
	var n int
	if err := e.pg.Connect(t, e.db).QueryRow(context.Background(), "SELECT count(*) FROM customers WHERE id = $1", id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// pending checks a held call's result and returns its approval id.
func pending(t *testing.T, res *mcpgo.CallToolResult, text string, s map[string]any) string {
	t.Helper()
	if !res.IsError || s["status"] != "pending_approval" {
		t.Fatalf("expected a pending_approval result, got %s\n%v", text, s)
	}
	id, _ := s["approval_id"].(string)
	if !strings.HasPrefix(id, "apr_") || s["expires_at"] == nil || !strings.Contains(text, "await_approval") {
		t.Fatalf("pending_approval result lacks its fields: %v\n%s", s, text)
	}
	return id
}

func deleteCall(id int, justification string) map[string]any {
	return map[string]any{"connection": "pg", "sql": fmt.Sprintf("DELETE FROM customers WHERE id = %d", id), "justification": justification}
}

// TestApprovalsFlows drives held calls through a real MCP client and the
// approvers' real CLI, against a running warden serve.
func TestApprovalsFlows(t *testing.T) {
	e := newApprovalEnv(t, "  wait: 3s\n")
	srv := e.serve(t)
	for _, p := range []string{"bob", "carol", "dave"} {
		e.login(t, p)
	}
	agent := e.agent(t, "")

	t.Run("held, approved from the CLI, executed exactly once", func(t *testing.T) {
		res, text, s := callTool(t, agent.Client, "run_query", deleteCall(1, "customer 1 asked to be forgotten (ticket 4711)"))
		id := pending(t, res, text, s)
		appr := s["approvers"].(map[string]any)
		if fmt.Sprint(appr["groups"]) != "[dba]" || appr["quorum"].(float64) != 1 || !strings.HasSuffix(s["url"].(string), "/approvals/"+id) {
			t.Errorf("pending result: %v", s)
		}
		agent.mu.Lock()
		progress := len(agent.progress)
		agent.mu.Unlock()
		if progress == 0 {
			t.Error("no progress notification while the call was held")
		}
		if !e.customerExists(t, 1) {
			t.Fatal("the held DELETE ran")
		}

		// Someone outside the approver groups sees nothing and decides nothing.
		if out, _, err := e.cli(t, "dave", "list"); err != nil || !strings.Contains(out, "No requests.") {
			t.Errorf("dave's list: %v %s", err, out)
		}
		if _, stderr, err := e.cli(t, "dave", "approve", id); err == nil || !strings.Contains(stderr, "not_found") {
			t.Errorf("dave approved: %v %s", err, stderr)
		}

		var list []map[string]any
		out, _, err := e.cli(t, "bob", "list", "--json")
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var a map[string]any
			if json.Unmarshal([]byte(line), &a) == nil {
				list = append(list, a)
			}
		}
		if err != nil || len(list) != 1 || list[0]["id"] != id || list[0]["justification"] != "customer 1 asked to be forgotten (ticket 4711)" {
			t.Fatalf("bob's list: %v %s", err, out)
		}
		out, _, err = e.cli(t, "bob", "show", id)
		for _, want := range []string{"DELETE FROM customers WHERE id = 1", "asked by:      ci-bot", "rule:          writes-need-review", "tables written: customers"} {
			if err != nil || !strings.Contains(out, want) {
				t.Errorf("bob's show lacks %q: %v\n%s", want, err, out)
			}
		}
		out, stderr, err := e.cli(t, "bob", "approve", id, "--comment", "verified the ticket")
		if err != nil || !strings.Contains(out, "Approved "+id+" as bob: the request is now approved (1 of 1 approvals)") {
			t.Fatalf("bob approves: %v %s %s", err, out, stderr)
		}

		res, text, s = callTool(t, agent.Client, "await_approval", map[string]any{"approval_id": id, "wait_seconds": 5})
		if res.IsError || s["command_tag"] != "DELETE 1" || s["read_only"] != false {
			t.Fatalf("await_approval after approval: %s %v", text, s)
		}
		if e.customerExists(t, 1) {
			t.Fatal("the approved DELETE did not run")
		}

		// Replays: the same approval never runs twice.
		res, text, _ = callTool(t, agent.Client, "await_approval", map[string]any{"approval_id": id, "wait_seconds": 0})
		if !res.IsError || !strings.Contains(text, "was already used") {
			t.Errorf("await_approval replay: %s", text)
		}
		res, text, s = callTool(t, agent.Client, "run_query", deleteCall(1, "customer 1 asked to be forgotten (ticket 4711)"))
		if again := pending(t, res, text, s); again == id || !strings.Contains(text, "ran before") {
			t.Errorf("the same call again must be a new request: %s", text)
		}
		_, _, st := callTool(t, agent.Client, "approval_status", map[string]any{"approval_id": id})
		if st["state"] != "executed" || st["execution_audit_id"] == "" || len(st["decisions"].([]any)) != 1 {
			t.Errorf("approval_status: %v", st)
		}

		var shown approvals.Approval
		e.cliJSON(t, "bob", &shown, "show", id)
		if shown.State != approvals.StateExecuted || shown.Decisions[0].Comment != "verified the ticket" || shown.Decisions[0].Via != "api" {
			t.Errorf("after execution: %+v", shown)
		}

		var ran int
		for _, ev := range auditEvents(t, e.config) {
			if ev["approval"] == id && ev["tool"] == "run_query" && ev["status"] == "ok" {
				ran++
			}
		}
		if ran != 1 {
			t.Errorf("the approved call ran %d times according to the audit trail", ran)
		}
		e.hook.expect(t, id, "requested", "approved", "executed")
	})

	t.Run("denied", func(t *testing.T) {
		res, text, s := callTool(t, agent.Client, "run_query", deleteCall(2, "cleanup"))
		id := pending(t, res, text, s)
		if out, stderr, err := e.cli(t, "bob", "deny", id, "--comment", "not during the sale"); err != nil || !strings.Contains(out, "Denied "+id) {
			t.Fatalf("deny: %v %s %s", err, out, stderr)
		}
		res, text, _ = callTool(t, agent.Client, "await_approval", map[string]any{"approval_id": id})
		if !res.IsError || !strings.Contains(text, "denied by bob: not during the sale") {
			t.Errorf("await after denial: %s", text)
		}
		res, text, _ = callTool(t, agent.Client, "run_query", deleteCall(2, "cleanup"))
		if !res.IsError || !strings.Contains(text, "denied:") || !strings.Contains(text, "denied by bob") {
			t.Errorf("the denied call sent again: %s", text)
		}
		if _, stderr, err := e.cli(t, "carol", "approve", id); err == nil || !strings.Contains(stderr, "conflict") {
			t.Errorf("approving a denied request: %v %s", err, stderr)
		}
		if !e.customerExists(t, 2) {
			t.Error("a denied DELETE ran")
		}
		e.hook.expect(t, id, "requested", "denied")
	})

	t.Run("self-approval refused", func(t *testing.T) {
		// carol is both an agent and a DBA: she may approve others' calls, never her own.
		carolAgent := e.agent(t, e.idp.UserToken(t, "warden-cli", "carol", "carol-pw", "warden").AccessToken)
		res, text, s := callTool(t, carolAgent.Client, "run_query", deleteCall(3, "mine"))
		id := pending(t, res, text, s)
		_, stderr, err := e.cli(t, "carol", "approve", id)
		if err == nil || !strings.Contains(stderr, "forbidden: carol asked for this call and cannot decide on it (self-approval is never allowed)") {
			t.Fatalf("self-approval: %v %s", err, stderr)
		}
		if out, _, err := e.cli(t, "bob", "approve", id); err != nil {
			t.Fatalf("bob: %v %s", err, out)
		}
		// The bot cannot use carol's approval: the request is bound to her identity.
		res, text, _ = callTool(t, agent.Client, "await_approval", map[string]any{"approval_id": id})
		if !res.IsError || !strings.Contains(text, "not_found") {
			t.Errorf("another identity awaited carol's request: %s", text)
		}
		res, text, _ = callTool(t, carolAgent.Client, "await_approval", map[string]any{"approval_id": id})
		if res.IsError || e.customerExists(t, 3) {
			t.Errorf("carol's approved call: %s", text)
		}
	})

	t.Run("tampered call refused", func(t *testing.T) {
		res, text, s := callTool(t, agent.Client, "run_query", deleteCall(4, "approved one"))
		id := pending(t, res, text, s)
		if _, _, err := e.cli(t, "bob", "approve", id); err != nil {
			t.Fatal(err)
		}
		// The agent changes the SQL after approval: a new request, never the approved one.
		res, text, s = callTool(t, agent.Client, "run_query", deleteCall(5, "approved one"))
		if other := pending(t, res, text, s); other == id {
			t.Fatal("the changed call used the approval")
		}
		// Changing only the justification changes the call too.
		res, text, s = callTool(t, agent.Client, "run_query", deleteCall(4, "another reason"))
		if other := pending(t, res, text, s); other == id {
			t.Fatal("a call with another justification used the approval")
		}
		if !e.customerExists(t, 5) || !e.customerExists(t, 4) {
			t.Fatal("a tampered call ran")
		}
		// The exact approved call still runs, by sending it again.
		res, text, s = callTool(t, agent.Client, "run_query", deleteCall(4, "approved one"))
		if res.IsError || s["command_tag"] != "DELETE 1" || e.customerExists(t, 4) {
			t.Fatalf("the approved call sent again: %s", text)
		}
	})

	t.Run("quorum of two", func(t *testing.T) {
		call := map[string]any{"connection": "pg-quorum", "sql": "UPDATE customers SET name = 'renamed' WHERE id = 10"}
		res, text, s := callTool(t, agent.Client, "run_query", call)
		id := pending(t, res, text, s)
		if s["approvers"].(map[string]any)["quorum"].(float64) != 2 {
			t.Errorf("quorum: %v", s)
		}
		if out, _, err := e.cli(t, "bob", "approve", id); err != nil || !strings.Contains(out, "now pending (1 of 2 approvals)") {
			t.Fatalf("first approval: %v %s", err, out)
		}
		if _, stderr, err := e.cli(t, "bob", "approve", id); err == nil || !strings.Contains(stderr, "already decided") {
			t.Errorf("bob twice: %v %s", err, stderr)
		}
		res, text, _ = callTool(t, agent.Client, "await_approval", map[string]any{"approval_id": id, "wait_seconds": 1})
		if !res.IsError || !strings.Contains(text, "pending_approval") {
			t.Fatalf("one approval of two released the call: %s", text)
		}
		if out, _, err := e.cli(t, "carol", "approve", id); err != nil || !strings.Contains(out, "now approved (2 of 2 approvals)") {
			t.Fatalf("second approval: %v %s", err, out)
		}
		res, text, s = callTool(t, agent.Client, "await_approval", map[string]any{"approval_id": id})
		if res.IsError || s["command_tag"] != "UPDATE 1" {
			t.Fatalf("after the quorum: %s", text)
		}
		e.hook.expect(t, id, "requested", "partially_approved", "approved", "executed")
	})

	t.Run("approval events are in the audit trail", func(t *testing.T) {
		counts := map[string]int{}
		for _, ev := range auditEvents(t, e.config) {
			if tool, _ := ev["tool"].(string); strings.HasPrefix(tool, "approval.") {
				counts[tool+" "+ev["status"].(string)]++
			}
		}
		if counts["approval.request ok"] < 8 || counts["approval.approve ok"] < 5 || counts["approval.deny ok"] != 1 ||
			counts["approval.approve denied"] < 4 {
			t.Errorf("approval events: %v", counts)
		}
	})
	srv.stop(t)
	if strings.Contains(srv.logs.String(), hookSecret) {
		t.Error("the webhook secret appears in the logs")
	}
	// The approvers' tokens reach neither the logs nor the store.
	var tokens []string
	for _, home := range e.homes {
		servers, _ := readCache(t, home)
		tokens = append(tokens, servers[e.resource]["access_token"].(string))
	}
	checkNoToken(t, e.dir, srv.logs.String(), tokens...)
}

// TestApprovalsStdioApprovedInTime: a stdio agent (warden mcp, its own
// process) is held; a DBA approves through warden serve (another process
// on the same store) while it waits; the call runs and returns its result.
func TestApprovalsStdioApprovedInTime(t *testing.T) {
	e := newApprovalEnv(t, "  wait: 60s\n")
	e.serve(t)
	e.login(t, "bob")
	c, _ := startStdio(t, env{dir: e.dir, config: e.config})
	type result struct {
		res *mcpgo.CallToolResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		req := mcpgo.CallToolRequest{}
		req.Params.Name = "run_query"
		req.Params.Arguments = deleteCall(20, "stdio agent")
		req.Params.Meta = &mcpgo.Meta{ProgressToken: 7}
		res, err := c.CallTool(ctx, req)
		done <- result{res, err}
	}()
	var id string
	for deadline := time.Now().Add(30 * time.Second); id == "" && time.Now().Before(deadline); {
		var list []approvals.Approval
		out, _, _ := e.cli(t, "bob", "list", "--json")
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var a approvals.Approval
			if json.Unmarshal([]byte(line), &a) == nil {
				list = append(list, a)
			}
		}
		if len(list) == 1 {
			id = list[0].ID
			if list[0].Requester.Subject != "agent" || list[0].Requester.Transport != "stdio" {
				t.Errorf("requester: %+v", list[0].Requester)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if id == "" {
		t.Fatal("the held call never showed up")
	}
	if out, stderr, err := e.cli(t, "bob", "approve", id); err != nil {
		t.Fatalf("%v %s %s", err, out, stderr)
	}
	select {
	case r := <-done:
		if r.err != nil || r.res.IsError {
			t.Fatalf("the held call: %v %+v", r.err, r.res)
		}
		b, _ := json.Marshal(r.res.StructuredContent)
		if !strings.Contains(string(b), `"command_tag":"DELETE 1"`) {
			t.Fatalf("the held call's result: %s", b)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the held call did not return after the approval")
	}
	if e.customerExists(t, 20) {
		t.Error("the approved DELETE did not run")
	}
}

// TestApprovalsExpired: a request nobody decides expires; it cannot be
// approved afterwards, and its call never runs.
func TestApprovalsExpired(t *testing.T) {
	e := newApprovalEnv(t, "  wait: 1s\n  ttl: 3s\n")
	e.serve(t)
	e.login(t, "bob")
	agent := e.agent(t, "")
	res, text, s := callTool(t, agent.Client, "run_query", deleteCall(30, "soon"))
	id := pending(t, res, text, s)
	time.Sleep(3500 * time.Millisecond)
	_, stderr, err := e.cli(t, "bob", "approve", id)
	if err == nil || !strings.Contains(stderr, "conflict: the request expired") {
		t.Fatalf("approving an expired request: %v %s", err, stderr)
	}
	res, text, _ = callTool(t, agent.Client, "await_approval", map[string]any{"approval_id": id})
	if !res.IsError || !strings.Contains(text, "expired") {
		t.Errorf("await_approval of an expired request: %s", text)
	}
	var a approvals.Approval
	e.cliJSON(t, "bob", &a, "show", id)
	if a.State != approvals.StateExpired {
		t.Errorf("state %s", a.State)
	}
	if !e.customerExists(t, 30) {
		t.Error("an expired request's call ran")
	}
	e.hook.expect(t, id, "requested", "expired")
}

// TestApprovalsSurviveRestart: Warden stops while a request is pending;
// after it starts again, the request is approved and the agent's call runs.
func TestApprovalsSurviveRestart(t *testing.T) {
	e := newApprovalEnv(t, "  wait: 1s\n")
	srv := e.serve(t)
	e.login(t, "bob")
	token := e.idp.ClientCredentials(t, "ci-bot", "ci-bot-secret", "warden")
	agent := e.agent(t, token)
	res, text, s := callTool(t, agent.Client, "run_query", deleteCall(40, "before the restart"))
	id := pending(t, res, text, s)
	agent.Close()
	srv.stop(t)

	e.serve(t)
	var a approvals.Approval
	e.cliJSON(t, "bob", &a, "show", id)
	if a.State != approvals.StatePending || a.Statement != "DELETE FROM customers WHERE id = 40" {
		t.Fatalf("after the restart: %+v", a)
	}
	if _, _, err := e.cli(t, "bob", "approve", id); err != nil {
		t.Fatal(err)
	}
	agent = e.agent(t, token)
	res, text, s = callTool(t, agent.Client, "await_approval", map[string]any{"approval_id": id})
	if res.IsError || s["command_tag"] != "DELETE 1" || e.customerExists(t, 40) {
		t.Fatalf("after the restart and approval: %s", text)
	}
}

// hookReceiver is the chat tool's webhook endpoint: it checks every
// signature and keeps the events per request.
type hookReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events map[string][]string
	bad    int
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{events: map[string][]string{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/hooks/warden" || !approvals.Verify([]byte(hookSecret), r.Header.Get(approvals.HeaderSignature), r.Header.Get(approvals.HeaderTimestamp), body, time.Now(), 5*time.Minute) {
			h.mu.Lock()
			h.bad++
			h.mu.Unlock()
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var msg struct {
			Text   string `json:"text"`
			Warden struct {
				Event    string `json:"event"`
				Approval struct {
					ID string `json:"id"`
				} `json:"approval"`
			} `json:"warden"`
		}
		if json.Unmarshal(body, &msg) != nil || msg.Text == "" {
			http.Error(w, "not a Slack message", http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.events[msg.Warden.Approval.ID] = append(h.events[msg.Warden.Approval.ID], msg.Warden.Event)
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// expect waits for the events of request id, in any order.
func (h *hookReceiver) expect(t *testing.T, id string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		h.mu.Lock()
		got := append([]string(nil), h.events[id]...)
		bad := h.bad
		h.mu.Unlock()
		if bad > 0 {
			t.Errorf("%d webhook deliveries had a bad signature", bad)
		}
		missing := false
		for _, w := range want {
			if !strings.Contains(" "+strings.Join(got, " ")+" ", " "+w+" ") {
				missing = true
			}
		}
		if !missing {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("webhook events for %s: %v, want %v", id, got, want)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestApprovalsAnonymousLoopback: on a Warden that lets loopback clients
// in without a token (warden demo), the CLI works without a login, as the
// local identity, which can follow its own requests but never approve them.
func TestApprovalsAnonymousLoopback(t *testing.T) {
	e := newEnv(t, `  - name: writes-need-review
    subjects: {groups: [agents]}
    connections: {names: [pg]}
    tools: [run_query]
    when: "'write' in statement.kinds"
    effect: review
    read_only: false
    statements: [read, write]
    approvers: {groups: [dba]}
approvals:
  wait: 1s
`)
	c, _, url := startHTTP(t, e)
	res, text, s := callTool(t, c, "run_query", map[string]any{"connection": "pg", "sql": "DELETE FROM customers WHERE id = 70"})
	id := pending(t, res, text, s)
	home := t.TempDir()
	cli := func(args ...string) (string, string, error) {
		cmd := exec.Command(wardenBin, append(append([]string{"approvals"}, args...), "--server", url)...)
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+home, "HOME="+home)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	if out, stderr, err := cli("list"); err != nil || !strings.Contains(out, id) || !strings.Contains(out, "agent") {
		t.Fatalf("list: %v %s %s", err, out, stderr)
	}
	if _, stderr, err := cli("approve", id); err == nil || !strings.Contains(stderr, "self-approval is never allowed") {
		t.Fatalf("self-approval as the local identity: %v %s", err, stderr)
	}
}
