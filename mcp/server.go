package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/tools"
)

// Version is reported to MCP clients.
var Version = "dev"

// Server publishes a pipeline's tools over MCP.
type Server struct {
	pipeline *tools.Catalogue
	mcp      *server.MCPServer
	logger   *slog.Logger
}

// New builds the MCP server for p.
func New(p *tools.Catalogue, logger *slog.Logger) *Server {
	s := &Server{pipeline: p, logger: logger}
	hooks := &server.Hooks{}
	// A closed MCP session (DELETE, idle sweep, stdio EOF) ends the Warden
	// session: its just-in-time credentials are revoked at once.
	hooks.AddOnUnregisterSession(func(ctx context.Context, cs server.ClientSession) {
		p.EndSession(context.WithoutCancel(ctx), cs.SessionID())
	})
	s.mcp = server.NewMCPServer("warden", Version,
		server.WithHooks(hooks),
		server.WithToolCapabilities(false),
		server.WithRecovery(),
		server.WithInstructions("Warden governs access to databases. Call list_connections first, "+
			"describe_schema to learn tables and columns, then run_query. Every call is checked by policy "+
			"and recorded; a refusal says why and what you may do instead."),
	)
	for _, t := range p.Specs() {
		s.mcp.AddTool(toMCPTool(t), s.handler(t.Name))
	}
	return s
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
		if cs := server.ClientSessionFromContext(ctx); cs != nil {
			caller.Session = cs.SessionID()
		}
		args := req.Params.RawArguments
		if args == nil && req.Params.Arguments != nil {
			b, err := json.Marshal(req.Params.Arguments)
			if err != nil {
				return mcpgo.NewToolResultError("invalid arguments: " + err.Error()), nil
			}
			args = b
		}
		ctx = withApprovalWaits(ctx, req)
		res, err := s.pipeline.Call(ctx, caller, name, args)
		if err != nil {
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
	return mcpgo.NewToolResultError(b.String())
}
