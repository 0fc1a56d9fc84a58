package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/wardenhq/warden/approvals"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/tools"
)

// Options configure the MCP server.
type Options struct {
	// Version is the Warden version reported to MCP clients (default "dev").
	Version string
	// Logger receives the server's logs (default: discarded).
	Logger *slog.Logger
	// SessionIdle ends an MCP session (protocol revisions with
	// Mcp-Session-Id) unused for this long (default DefaultSessionIdle);
	// StatelessIdle the Warden session of a stateless caller (revision
	// 2026-07-28; default DefaultStatelessIdle). Ending a session revokes
	// its just-in-time credentials.
	SessionIdle   time.Duration
	StatelessIdle time.Duration
	// MaxSessions bounds the stateless callers' sessions tracked at once
	// (default DefaultMaxSessions).
	MaxSessions int
	// TaskTTL is how long a held call run as an MCP task is kept, and so
	// waits at most, when the client asks for no TTL, and the longest it may
	// ask for (default DefaultTaskTTL). Set it to the approvals' ttl and a
	// margin to collect the result.
	TaskTTL time.Duration
	// MaxRequestBytes bounds one MCP message: an HTTP request body, a
	// line on stdio (default config.DefaultMaxRequestBytes). A longer one
	// is refused without being read whole (limits.go).
	MaxRequestBytes int
}

// Server publishes a pipeline's tools over MCP.
type Server struct {
	pipeline *tools.Catalogue
	mcp      *server.MCPServer
	logger   *slog.Logger
	idle     time.Duration
	sessions *sessionTable
	// maxRequest is Options.MaxRequestBytes.
	maxRequest int

	// router is the registered tool whose handler answers calls to tools
	// that do not exist (unknown_tool.go).
	router string

	tasksEnabled bool
	taskTTL      time.Duration
	tasks        *taskOwners
}

// New builds the MCP server for p. Close ends the sessions it tracks.
func New(p *tools.Catalogue, o Options) *Server {
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SessionIdle <= 0 {
		o.SessionIdle = DefaultSessionIdle
	}
	if o.StatelessIdle <= 0 {
		o.StatelessIdle = DefaultStatelessIdle
	}
	if o.TaskTTL <= 0 {
		o.TaskTTL = DefaultTaskTTL
	}
	if o.MaxRequestBytes <= 0 {
		o.MaxRequestBytes = config.DefaultMaxRequestBytes
	}
	s := &Server{pipeline: p, logger: o.Logger, idle: o.SessionIdle, taskTTL: o.TaskTTL, tasks: newTaskOwners(o.TaskTTL),
		maxRequest: o.MaxRequestBytes}
	s.sessions = newSessionTable(o.StatelessIdle, o.MaxSessions, p.EndSession)
	hooks := &server.Hooks{}
	// A closed MCP session (DELETE, idle sweep) ends the Warden session:
	// its calls still running are cancelled and its just-in-time
	// credentials revoked. A stdio process ends its own (ServeStdio).
	hooks.AddOnUnregisterSession(func(_ context.Context, cs server.ClientSession) {
		if id := cs.SessionID(); strings.HasPrefix(id, httpSessionPrefix) {
			s.sessions.end(id)
		}
	})
	catalogue := p.Specs()
	for _, t := range catalogue {
		if s.router == "" || t.Name == tools.ToolListConnections {
			s.router = t.Name
		}
	}
	hooks.AddBeforeCallTool(s.routeUnknownTool)
	opts := append([]server.ServerOption{
		server.WithHooks(hooks),
		server.WithToolCapabilities(false),
		server.WithToolFilter(withoutTasksForModern),
		server.WithRecovery(),
		server.WithInstructions("Warden governs access to databases. Call list_connections first, " +
			"describe_schema to learn tables and columns, then run_query. Every call is checked by policy " +
			"and recorded; a refusal says why and what you may do instead."),
	}, s.taskHooks(hooks, catalogue)...)
	s.mcp = server.NewMCPServer("warden", o.Version, opts...)
	for _, t := range catalogue {
		tool := toMCPTool(t)
		s.withTaskSupport(&tool)
		s.mcp.AddTool(tool, s.handler(t.Name))
	}
	return s
}

// Close ends every session the server tracks: calls still running in them
// are cancelled and their just-in-time credentials revoked.
func (s *Server) Close() {
	s.sessions.close()
}

func toMCPTool(t tools.Spec) mcpgo.Tool {
	tool := mcpgo.NewToolWithRawSchema(t.Name, t.Description, t.InputSchema)
	tool.RawOutputSchema = t.OutputSchema
	tool.Annotations = mcpgo.ToolAnnotation{
		Title:           t.Title,
		ReadOnlyHint:    mcpgo.ToBoolPtr(t.ReadOnly),
		DestructiveHint: mcpgo.ToBoolPtr(t.Destructive),
		IdempotentHint:  mcpgo.ToBoolPtr(t.Idempotent),
		OpenWorldHint:   mcpgo.ToBoolPtr(t.OpenWorld),
	}
	return tool
}

type transportKey struct{}

func withTransport(ctx context.Context, transport string) context.Context {
	return context.WithValue(ctx, transportKey{}, transport)
}

type sessionKey struct{}

// withSession gives the calls of ctx a session of their own (a stdio
// process's).
func withSession(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, sessionKey{}, id)
}

// join runs a call in its Warden session: the stdio process's, the MCP
// session's, or, for a stateless caller, the one the session table keeps
// for who calls and with which client. It sets caller.Session and returns
// the context the call runs in (cancelled if the session ends) and the
// function to call when it returns.
func (s *Server) join(ctx context.Context, caller *gateway.Caller) (context.Context, func(), error) {
	if id, ok := ctx.Value(sessionKey{}).(string); ok && id != "" {
		caller.Session = id
		ctx, done := s.sessions.join(ctx, id)
		return ctx, done, nil
	}
	if cs := server.ClientSessionFromContext(ctx); cs != nil && cs.SessionID() != "" {
		caller.Session = cs.SessionID()
		ctx, done := s.sessions.join(ctx, caller.Session)
		return ctx, done, nil
	}
	key := caller.Principal.Issuer + "\x00" + caller.Principal.Subject
	if info := server.RequestProtocolInfoFromContext(ctx); info != nil && info.ClientInfo != nil {
		key += "\x00" + info.ClientInfo.Name
	}
	id, ctx, done, err := s.sessions.joinStateless(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	caller.Session = id
	return ctx, done, nil
}

// handler adapts one tool to mcp-go: identify from the context, run the
// pipeline, render the result or the refusal as a tool result.
func (s *Server) handler(name string) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		p, ok := identity.FromContext(ctx)
		if !ok {
			// The front door identifies every caller before this point; a
			// call without a principal is a wiring bug, refused.
			return mcpgo.NewToolResultError("refused: the caller is not identified"), nil
		}
		transport, _ := ctx.Value(transportKey{}).(string)
		caller := gateway.Caller{Principal: p, Transport: transport}
		ctx, done, err := s.join(ctx, &caller)
		if err != nil {
			s.logger.Warn("refused a stateless caller: every tracked session is busy", "identity", p.Subject, "max", s.sessions.max)
			return mcpgo.NewToolResultError("unavailable: Warden is tracking as many sessions as it may, all of them busy; try again shortly"), nil
		}
		defer done()
		task := req.Params.Task != nil
		args := req.Params.RawArguments
		if args == nil && req.Params.Arguments != nil {
			b, err := json.Marshal(req.Params.Arguments)
			if err != nil {
				return mcpgo.NewToolResultError("invalid arguments: " + err.Error()), nil
			}
			args = b
		}
		if unknown, ok := unknownTool(req); ok {
			_, err := s.pipeline.Call(ctx, caller, unknown, args)
			if perr := asUnknownTool(ctx, err); perr != nil {
				return nil, perr
			}
			return errorResult(err), nil // refused for another reason first
		}
		ctx = withApprovalWaits(ctx, req)
		if task {
			// A task is the wait: the hold waits until the request is
			// decided or expires, or tasks/cancel or the TTL end the task.
			ttl := s.taskTTL
			if t := req.Params.Task.TTL; t != nil && *t > 0 {
				ttl = time.Duration(*t) * time.Millisecond
			}
			ctx = approvals.WithWait(ctx, ttl)
		}
		res, err := s.pipeline.Call(ctx, caller, name, args)
		if err != nil {
			if task {
				if ctx.Err() != nil {
					return nil, ctx.Err() // cancelled: mcp-go has marked the task so
				}
				return nil, &taskFailure{msg: errorText(err)}
			}
			return errorResult(err), nil
		}
		return &mcpgo.CallToolResult{
			Content:           []mcpgo.Content{mcpgo.NewTextContent(res.Text)},
			StructuredContent: res.Structured,
		}, nil
	}
}

// errorResult renders a refusal or failure so that an agent can act on it:
// what was refused and why, what to do instead, and the audit reference.
func errorResult(err error) *mcpgo.CallToolResult {
	e := gateway.AsError(err)
	if res := pendingResult(e); res != nil {
		return res
	}
	return mcpgo.NewToolResultError(errorText(err))
}

// errorText words a refusal or failure: what was refused and why, what to
// do instead, and the audit reference.
func errorText(err error) string {
	e := gateway.AsError(err)
	if res := pendingResult(e); res != nil {
		return res.Content[0].(mcpgo.TextContent).Text
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", e.Code, e.Message)
	if e.Hint != "" {
		fmt.Fprintf(&b, "\nWhat you can do: %s.", strings.TrimSuffix(e.Hint, "."))
	}
	if e.Rule != "" {
		fmt.Fprintf(&b, "\nPolicy rule: %s.", e.Rule)
	}
	if e.AuditID != "" {
		fmt.Fprintf(&b, "\nAudit event: %s.", e.AuditID)
	}
	return b.String()
}
