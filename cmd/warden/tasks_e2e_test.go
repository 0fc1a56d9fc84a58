package main

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/wardenhq/warden/approvals"
)

var taskRequestID atomic.Int64

// callAsTask sends a task-augmented tools/call (mcp-go's CallTool expects
// a tool result, not a task) and returns the raw result.
func callAsTask(t *testing.T, c *client.Client, tool string, args any) json.RawMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	params := map[string]any{"name": tool, "arguments": args, "task": map[string]any{}}
	resp, err := c.GetTransport().SendRequest(ctx, transport.JSONRPCRequest{
		JSONRPC: mcpgo.JSONRPC_VERSION, ID: mcpgo.NewRequestId(1000 + taskRequestID.Add(1)), Method: string(mcpgo.MethodToolsCall), Params: params,
	})
	if err != nil {
		t.Fatalf("task-augmented %s: %v", tool, err)
	}
	if resp.Error != nil {
		t.Fatalf("task-augmented %s: %d %s", tool, resp.Error.Code, resp.Error.Message)
	}
	return resp.Result
}

// startTask runs a call as a task and returns the task, still working.
func startTask(t *testing.T, c *client.Client, tool string, args any) mcpgo.Task {
	t.Helper()
	var res mcpgo.CreateTaskResult
	raw := callAsTask(t, c, tool, args)
	if err := json.Unmarshal(raw, &res); err != nil || res.Task.TaskId == "" {
		t.Fatalf("not a task: %v %s", err, raw)
	}
	if res.Task.Status != mcpgo.TaskStatusWorking || res.Task.TTL == nil || *res.Task.TTL <= 0 {
		t.Fatalf("new task: %+v", res.Task)
	}
	return res.Task
}

func getTask(c *client.Client, id string) (*mcpgo.GetTaskResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.GetTask(ctx, mcpgo.GetTaskRequest{Params: mcpgo.GetTaskParams{TaskId: id}})
}

func waitTask(t *testing.T, c *client.Client, id string) *mcpgo.GetTaskResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := c.WaitForTask(ctx, mcpgo.GetTaskRequest{Params: mcpgo.GetTaskParams{TaskId: id}}, 100*time.Millisecond)
	if err != nil {
		t.Fatalf("wait for task %s: %v", id, err)
	}
	return res
}

func taskResult(c *client.Client, id string) (*mcpgo.TaskResultResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return c.TaskResult(ctx, mcpgo.TaskResultRequest{Params: mcpgo.TaskResultParams{TaskId: id}})
}

func cancelTask(c *client.Client, id string) (*mcpgo.CancelTaskResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.CancelTask(ctx, mcpgo.CancelTaskRequest{Params: mcpgo.CancelTaskParams{TaskId: id}})
}

// heldRequest waits until bob sees the pending request of the statement
// and returns its id.
func (e *approvalEnv) heldRequest(t *testing.T, statement string) string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		out, _, _ := e.cli(t, "bob", "list", "--json")
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var a approvals.Approval
			if json.Unmarshal([]byte(line), &a) == nil && a.Statement == statement {
				return a.ID
			}
		}
	}
	t.Fatalf("no pending request for %q", statement)
	return ""
}

// auditOfApproval returns the run_query events of an approval request.
func auditOfApproval(t *testing.T, config, approval string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, ev := range auditEvents(t, config) {
		if ev["tool"] == "run_query" && ev["approval"] == approval {
			out = append(out, ev)
		}
	}
	return out
}

// checkTaskSupport: the tools that may wait offer task execution, the
// others do not; the server says it has tasks.
func checkTaskSupport(t *testing.T, c *client.Client) {
	t.Helper()
	list, err := c.ListTools(context.Background(), mcpgo.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"run_query": true, "describe_schema": true, "await_approval": true, "list_connections": false, "approval_status": false}
	for _, tool := range list.Tools {
		w, ok := want[tool.Name]
		if !ok {
			continue
		}
		got := tool.Execution != nil && tool.Execution.TaskSupport == mcpgo.TaskSupportOptional
		if got != w {
			t.Errorf("%s: task support %+v, want optional=%v", tool.Name, tool.Execution, w)
		}
	}
	if caps := c.GetServerCapabilities(); caps.Tasks == nil {
		t.Error("the server does not advertise tasks")
	}
}

// TestHeldCallsAsTasksHTTP: over streamable HTTP (revision 2025-11-25), a
// held call run as a task is approved by a person and completes with the
// query's result; denied, it fails with the approver's reason; cancelled,
// its hold stops and it is recorded; another identity can neither see nor
// cancel it. A client asking for no task keeps the progress flow, and a
// 2026-07-28 client asking for one gets an ordinary call.
func TestHeldCallsAsTasksHTTP(t *testing.T) {
	e := newApprovalEnv(t, "  wait: 2s\n")
	e.serve(t)
	e.login(t, "bob")
	agentToken := e.idp.ClientCredentials(t, "ci-bot", "ci-bot-secret", "warden")
	agent := httpAt(t, e.resource, mcpgo.ProtocolVersion20251125, map[string]string{"Authorization": "Bearer " + agentToken})
	carolToken := e.idp.UserToken(t, "warden-cli", "carol", "carol-pw", "warden").AccessToken
	carol := httpAt(t, e.resource, mcpgo.ProtocolVersion20251125, map[string]string{"Authorization": "Bearer " + carolToken})
	carolModern := httpAt(t, e.resource, mcpgo.ProtocolVersion20260728, map[string]string{"Authorization": "Bearer " + carolToken})
	checkTaskSupport(t, agent)

	t.Run("approved", func(t *testing.T) {
		call := deleteCall(40, "task: approved")
		task := startTask(t, agent, "run_query", call)
		id := e.heldRequest(t, call["sql"].(string))
		if g, err := getTask(agent, task.TaskId); err != nil || g.Status != mcpgo.TaskStatusWorking {
			t.Fatalf("held task: %v %+v", err, g)
		}
		// Another identity cannot see or cancel it, in a session or without.
		for _, other := range []*client.Client{carol, carolModern} {
			if g, err := getTask(other, task.TaskId); err == nil {
				t.Errorf("carol got the agent's task: %+v", g)
			}
			if _, err := cancelTask(other, task.TaskId); err == nil {
				t.Error("carol cancelled the agent's task")
			}
		}
		if _, err := taskResult(carol, task.TaskId); err == nil {
			t.Error("carol got the agent's task result")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		list, err := carol.ListTasks(ctx, mcpgo.ListTasksRequest{})
		cancel()
		if err != nil || len(list.Tasks) != 0 {
			t.Errorf("carol's task list: %v %+v", err, list)
		}
		if out, stderr, err := e.cli(t, "bob", "approve", id, "--comment", "ok"); err != nil {
			t.Fatalf("%v %s %s", err, out, stderr)
		}
		res, err := taskResult(agent, task.TaskId)
		if err != nil || res.IsError {
			t.Fatalf("task result: %v %+v", err, res)
		}
		b, _ := json.Marshal(res.StructuredContent)
		if !strings.Contains(string(b), `"command_tag":"DELETE 1"`) {
			t.Fatalf("task result: %s", b)
		}
		if g := waitTask(t, agent, task.TaskId); g.Status != mcpgo.TaskStatusCompleted {
			t.Errorf("task: %+v", g)
		}
		if e.customerExists(t, 40) {
			t.Error("the approved DELETE did not run")
		}
		if _, err := getTask(carol, task.TaskId); err == nil {
			t.Error("carol got the agent's finished task")
		}
	})

	t.Run("denied", func(t *testing.T) {
		call := deleteCall(41, "task: denied")
		task := startTask(t, agent, "run_query", call)
		id := e.heldRequest(t, call["sql"].(string))
		if out, stderr, err := e.cli(t, "bob", "deny", id, "--comment", "not during the sale"); err != nil {
			t.Fatalf("%v %s %s", err, out, stderr)
		}
		g := waitTask(t, agent, task.TaskId)
		if g.Status != mcpgo.TaskStatusFailed || !strings.Contains(g.StatusMessage, "denied by bob: not during the sale") {
			t.Errorf("denied task: %+v", g)
		}
		if _, err := taskResult(agent, task.TaskId); err == nil || !strings.Contains(err.Error(), "not during the sale") {
			t.Errorf("denied task's result: %v", err)
		}
		if !e.customerExists(t, 41) {
			t.Error("the denied DELETE ran")
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		call := deleteCall(42, "task: cancelled")
		task := startTask(t, agent, "run_query", call)
		id := e.heldRequest(t, call["sql"].(string))
		c, err := cancelTask(agent, task.TaskId)
		if err != nil || c.Status != mcpgo.TaskStatusCancelled {
			t.Fatalf("cancel: %v %+v", err, c)
		}
		// The hold stopped: the held call is recorded, refused, and an
		// approval given afterwards runs nothing.
		var events []map[string]any
		for deadline := time.Now().Add(10 * time.Second); len(events) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			events = auditOfApproval(t, e.config, id)
		}
		if len(events) != 1 || events[0]["status"] != "denied" || events[0]["decision"] != "review" {
			t.Fatalf("the cancelled held call's audit events: %v", events)
		}
		if out, stderr, err := e.cli(t, "bob", "approve", id); err != nil {
			t.Fatalf("%v %s %s", err, out, stderr)
		}
		time.Sleep(time.Second)
		if !e.customerExists(t, 42) {
			t.Error("the cancelled task's DELETE ran once approved")
		}
		if g, err := getTask(agent, task.TaskId); err != nil || g.Status != mcpgo.TaskStatusCancelled {
			t.Errorf("cancelled task: %v %+v", err, g)
		}
	})

	t.Run("no task asked: the progress flow", func(t *testing.T) {
		res, text, s := callTool(t, agent, "run_query", deleteCall(43, "no task"))
		pending(t, res, text, s)
	})

	t.Run("a 2026-07-28 client asking for a task gets an ordinary call", func(t *testing.T) {
		modernToken := e.idp.ClientCredentials(t, "ci-bot", "ci-bot-secret", "warden")
		modern := httpAt(t, e.resource, mcpgo.ProtocolVersion20260728, map[string]string{"Authorization": "Bearer " + modernToken})
		list, err := modern.ListTools(context.Background(), mcpgo.ListToolsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, tool := range list.Tools {
			if tool.Execution != nil {
				t.Errorf("%s offers task execution to a 2026-07-28 client: %+v", tool.Name, tool.Execution)
			}
		}
		// The client's own CallTool adds the request's _meta and headers
		// of 2026-07-28; it parses a tool result, which this must be.
		req := mcpgo.CallToolRequest{}
		req.Params.Name = "run_query"
		req.Params.Arguments = deleteCall(44, "modern task")
		req.Params.Task = &mcpgo.TaskParams{}
		res, text, s := callRequest(t, modern, req, 60*time.Second)
		pending(t, res, text, s)
	})
}

// TestHeldCallAsTaskStdio: the same over stdio, approved and cancelled.
func TestHeldCallAsTaskStdio(t *testing.T) {
	e := newApprovalEnv(t, "  wait: 2s\n")
	e.serve(t)
	e.login(t, "bob")
	c := stdioAt(t, e.config, mcpgo.ProtocolVersion20251125)
	checkTaskSupport(t, c)

	call := deleteCall(50, "stdio task: approved")
	task := startTask(t, c, "run_query", call)
	id := e.heldRequest(t, call["sql"].(string))
	if out, stderr, err := e.cli(t, "bob", "approve", id); err != nil {
		t.Fatalf("%v %s %s", err, out, stderr)
	}
	res, err := taskResult(c, task.TaskId)
	if err != nil || res.IsError {
		t.Fatalf("task result: %v %+v", err, res)
	}
	if b, _ := json.Marshal(res.StructuredContent); !strings.Contains(string(b), `"command_tag":"DELETE 1"`) {
		t.Fatalf("task result: %s", b)
	}

	call = deleteCall(51, "stdio task: cancelled")
	task = startTask(t, c, "run_query", call)
	id = e.heldRequest(t, call["sql"].(string))
	if r, err := cancelTask(c, task.TaskId); err != nil || r.Status != mcpgo.TaskStatusCancelled {
		t.Fatalf("cancel: %v %+v", err, r)
	}
	var events []map[string]any
	for deadline := time.Now().Add(10 * time.Second); len(events) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		events = auditOfApproval(t, e.config, id)
	}
	if len(events) != 1 || events[0]["status"] != "denied" || !strings.HasPrefix(events[0]["session"].(string), "stdio-") {
		t.Fatalf("the cancelled held call's audit events: %v", events)
	}
	if e.customerExists(t, 50) || !e.customerExists(t, 51) {
		t.Error("the approved call did not run, or the cancelled one did")
	}
}
