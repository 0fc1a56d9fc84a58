package mcp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/tools"
)

// A call to a tool that does not exist.
//
// MCP 2025-11-25 (server/tools, "Error Handling") makes an unknown tool a
// protocol error: a JSON-RPC error, code -32602. mcp-go answers such a call
// itself, before any of Warden's code runs: its error names no tool that
// exists, nothing is recorded, and a client of revision 2026-07-28 gets it
// with HTTP 400, which clients take for a failure of the transport. Warden
// answers it instead, as a refused call like any other:
//
//   - routeUnknownTool, a BeforeCallTool hook, hands a call naming no
//     registered tool to the handler of one that is, with the name it
//     asked for in the call's _meta under unknownToolKey (removed from
//     every call first, so a client cannot set it);
//   - the handler asks the catalogue, which refuses and records the call
//     (tools.UnknownToolError), and answers with a -32602 error naming the
//     tools there are and the audit event;
//   - over HTTP, that answer keeps status 200: the request reached Warden
//     and was answered; only the call was wrong.

// unknownToolKey holds, in a routed call's _meta, the tool name asked for.
const unknownToolKey = "warden/unknown-tool"

// routeUnknownTool sends a call naming a tool mcp-go does not have to the
// handler of s.router (see above).
func (s *Server) routeUnknownTool(_ context.Context, _ any, req *mcpgo.CallToolRequest) {
	meta := req.Params.Meta
	if meta != nil {
		delete(meta.AdditionalFields, unknownToolKey)
	}
	if s.router == "" || s.mcp.GetTool(req.Params.Name) != nil {
		return
	}
	if meta == nil {
		meta = &mcpgo.Meta{}
		req.Params.Meta = meta
	}
	if meta.AdditionalFields == nil {
		meta.AdditionalFields = map[string]any{}
	}
	meta.AdditionalFields[unknownToolKey] = req.Params.Name
	req.Params.Name = s.router
	req.Params.Task = nil // answered at once, never as a task
}

// unknownTool is the tool name a routed call asked for.
func unknownTool(req mcpgo.CallToolRequest) (string, bool) {
	if req.Params.Meta == nil {
		return "", false
	}
	name, ok := req.Params.Meta.AdditionalFields[unknownToolKey].(string)
	return name, ok
}

// unknownToolError is the JSON-RPC error of a call to an unknown tool.
type unknownToolError struct {
	tools.UnknownToolError
	auditID string
}

func (e *unknownToolError) JSONRPCError() mcpgo.JSONRPCError {
	msg := fmt.Sprintf("Unknown tool: %q. The tools are: %s.", e.Tool, strings.Join(e.Tools, ", "))
	data := map[string]any{"tool": e.Tool, "tools": e.Tools}
	if e.auditID != "" {
		msg += " Audit event: " + e.auditID + "."
		data["audit_id"] = e.auditID
	}
	return mcpgo.JSONRPCError{JSONRPC: mcpgo.JSONRPC_VERSION, Error: mcpgo.NewJSONRPCErrorDetails(mcpgo.INVALID_PARAMS, msg, data)}
}

// asUnknownTool returns the protocol error of a refusal for an unknown
// tool, or nil for any other error.
func asUnknownTool(ctx context.Context, err error) error {
	var ute *tools.UnknownToolError
	if !errors.As(err, &ute) {
		return nil
	}
	if call, ok := ctx.Value(httpCallKey{}).(*httpCall); ok {
		call.unknownTool.Store(true)
	}
	e := &unknownToolError{UnknownToolError: *ute}
	var ge *gateway.Error
	if errors.As(err, &ge) {
		e.auditID = ge.AuditID
	}
	return server.NewHandlerError(e)
}

// httpCall is what a tool handler tells the HTTP front door of the request
// that carried its call.
type httpCall struct{ unknownTool atomic.Bool }

type httpCallKey struct{}

// callStatus keeps status 200 for the answer to a call to an unknown tool,
// which mcp-go would send, for revision 2026-07-28, as 400 (it gives every
// -32602 error that status).
type callStatus struct {
	http.ResponseWriter
	call *httpCall
}

func (w *callStatus) WriteHeader(status int) {
	if status == http.StatusBadRequest && w.call.unknownTool.Load() {
		status = http.StatusOK
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *callStatus) Flush() {
	if fl, ok := w.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
}

func (w *callStatus) Unwrap() http.ResponseWriter { return w.ResponseWriter }
