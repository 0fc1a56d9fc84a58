package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/tools"
)

// A call held for human review can run as an MCP task (protocol revision
// 2025-11-25's task-augmented tools/call): the client gets a task at once,
// polls it with tasks/get, takes the result with tasks/result and may
// cancel it with tasks/cancel. mcp-go runs the handler on a context of its
// own, cancelled only by tasks/cancel or the task's TTL; in a task, the
// hold waits until the request is decided or expires (or the task ends),
// not approvals.wait. A client that asks for no task gets today's flow:
// the wait with progress notifications, then pending_approval and
// await_approval.
//
// Revision 2026-07-28 moved tasks to an extension (SEP-2663: tasks/get
// carries the result, no tasks/result, tasks/update) that mcp-go v1.6.0
// does not implement: it refuses tasks/result on that revision, so a task
// could never be collected. A modern request asking for a task therefore
// runs as an ordinary call, and tools/list does not offer task execution
// to modern clients.
//
// mcp-go isolates tasks by MCP session only, and not at all for stateless
// requests; Warden binds each task to the identity (issuer and subject)
// that created it: tasks/get, tasks/result and tasks/cancel of another
// identity's task answer "task not found", tasks/list shows only the
// caller's own, and task status notifications, which mcp-go broadcasts to
// every session, are dropped from the HTTP streams of other identities.

// mayWait reports whether a tool's calls may wait for a human, and so are
// offered as tasks (when approvals are enabled): the tools the hold stage
// may hold, and await_approval.
func mayWait(name string) bool {
	switch name {
	case tools.ToolDescribeSchema, tools.ToolRunQuery, tools.ToolAwaitApproval:
		return true
	}
	return false
}

// DefaultTaskTTL is how long a task is kept when the client asks for no
// TTL, and the longest it may ask for.
const DefaultTaskTTL = 75 * time.Minute

// taskOwners remembers who created each task, for as long as mcp-go may
// keep it (its TTL, then five minutes of "expired" answers).
type taskOwners struct {
	keep time.Duration
	now  func() time.Time

	mu     sync.Mutex
	owners map[string]taskOwner
}

type taskOwner struct {
	key     string
	created time.Time
}

func newTaskOwners(ttl time.Duration) *taskOwners {
	return &taskOwners{keep: ttl + 5*time.Minute + time.Minute, now: time.Now, owners: map[string]taskOwner{}}
}

// ownerKey is who a request is from, issuer included; "" when the request
// is not identified (which the front door never lets through).
func ownerKey(ctx context.Context) string {
	p, ok := identity.FromContext(ctx)
	if !ok {
		return ""
	}
	return p.Issuer + "\x00" + p.Subject
}

func (o *taskOwners) add(id, key string) {
	now := o.now()
	o.mu.Lock()
	defer o.mu.Unlock()
	for k, v := range o.owners {
		if now.Sub(v.created) > o.keep {
			delete(o.owners, k)
		}
	}
	o.owners[id] = taskOwner{key: key, created: now}
}

// owns reports whether the task id was created by the caller of ctx.
func (o *taskOwners) owns(ctx context.Context, id string) bool {
	key := ownerKey(ctx)
	o.mu.Lock()
	defer o.mu.Unlock()
	v, ok := o.owners[id]
	return ok && key != "" && v.key == key
}

func (o *taskOwners) ownedBy(key, id string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	v, ok := o.owners[id]
	return ok && key != "" && v.key == key
}

// taskHooks binds tasks to their creators and keeps modern requests and
// TTLs within what Warden supports. It returns the server options that
// enable tasks, none when no tool may wait.
func (s *Server) taskHooks(hooks *server.Hooks, catalogue []tools.Spec) []server.ServerOption {
	enabled := false
	for _, t := range catalogue {
		if t.Name == tools.ToolAwaitApproval {
			enabled = true
		}
	}
	if !enabled {
		return nil
	}
	s.tasksEnabled = true
	hooks.AddBeforeCallTool(func(ctx context.Context, _ any, req *mcpgo.CallToolRequest) {
		if req.Params.Task == nil {
			return
		}
		if server.IsModernRequest(ctx) {
			req.Params.Task = nil // see above: no tasks on 2026-07-28 with mcp-go
			return
		}
		max := s.taskTTL.Milliseconds()
		if ttl := req.Params.Task.TTL; ttl == nil || *ttl <= 0 || *ttl > max {
			req.Params.Task.TTL = &max
		}
	})
	// A task of another identity is answered as one that does not exist.
	hooks.AddBeforeGetTask(func(ctx context.Context, _ any, req *mcpgo.GetTaskRequest) {
		if !s.tasks.owns(ctx, req.Params.TaskId) {
			req.Params.TaskId = ""
		}
	})
	hooks.AddBeforeTaskResult(func(ctx context.Context, _ any, req *mcpgo.TaskResultRequest) {
		if !s.tasks.owns(ctx, req.Params.TaskId) {
			req.Params.TaskId = ""
		}
	})
	hooks.AddBeforeCancelTask(func(ctx context.Context, _ any, req *mcpgo.CancelTaskRequest) {
		if !s.tasks.owns(ctx, req.Params.TaskId) {
			req.Params.TaskId = ""
		}
	})
	hooks.AddAfterListTasks(func(ctx context.Context, _ any, _ *mcpgo.ListTasksRequest, res *mcpgo.ListTasksResult) {
		if res == nil {
			return
		}
		mine := res.Tasks[:0]
		for _, t := range res.Tasks {
			if s.tasks.owns(ctx, t.TaskId) {
				mine = append(mine, t)
			}
		}
		res.Tasks = mine
	})
	th := &server.TaskHooks{}
	th.AddOnTaskCreated(func(ctx context.Context, m server.TaskMetrics) {
		s.tasks.add(m.TaskID, ownerKey(ctx))
	})
	return []server.ServerOption{
		server.WithTaskCapabilities(true, true, true),
		server.WithTaskHooks(th),
	}
}

// withTaskSupport marks the tools whose calls may wait as optionally
// task-augmented.
func (s *Server) withTaskSupport(t *mcpgo.Tool) {
	if s.tasksEnabled && mayWait(t.Name) {
		t.Execution = &mcpgo.ToolExecution{TaskSupport: mcpgo.TaskSupportOptional}
	}
}

// withoutTasksForModern hides task execution from clients of revision
// 2026-07-28, which mcp-go cannot serve tasks to.
func withoutTasksForModern(ctx context.Context, list []mcpgo.Tool) []mcpgo.Tool {
	if !server.IsModernRequest(ctx) {
		return list
	}
	out := make([]mcpgo.Tool, len(list))
	for i, t := range list {
		t.Execution = nil
		out[i] = t
	}
	return out
}

// taskFailure ends a task as failed: mcp-go makes its message the task's
// statusMessage and the error tasks/result answers with.
type taskFailure struct{ msg string }

func (e *taskFailure) Error() string { return e.msg }

// taskStatusFilter drops, from an HTTP response stream, the task status
// notifications of tasks the caller did not create: mcp-go sends every
// task's status to every session.
type taskStatusFilter struct {
	http.ResponseWriter
	owner string
	tasks *taskOwners
}

var ssePrefix = []byte("event: message\ndata: ")

func (f *taskStatusFilter) Write(p []byte) (int, error) {
	if data, ok := bytes.CutPrefix(p, ssePrefix); ok && bytes.Contains(data, []byte(mcpgo.MethodNotificationTasksStatus)) {
		var n struct {
			Method string `json:"method"`
			Params struct {
				TaskID string `json:"taskId"`
			} `json:"params"`
		}
		if json.Unmarshal(bytes.TrimSpace(data), &n) == nil && n.Method == mcpgo.MethodNotificationTasksStatus && !f.tasks.ownedBy(f.owner, n.Params.TaskID) {
			return len(p), nil
		}
	}
	return f.ResponseWriter.Write(p)
}

func (f *taskStatusFilter) Flush() {
	if fl, ok := f.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
}

func (f *taskStatusFilter) Unwrap() http.ResponseWriter { return f.ResponseWriter }
