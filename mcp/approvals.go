package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/wardenhq/warden/approvals"
	"github.com/wardenhq/warden/gateway"
)

// withApprovalWaits prepares a call that may be held for approval: while
// it waits, a client that sent a progressToken gets progress
// notifications, so it keeps the request open. (A client may instead run
// the call as a task: see tasks.go.)
func withApprovalWaits(ctx context.Context, req mcpgo.CallToolRequest) context.Context {
	if req.Params.Meta == nil || req.Params.Meta.ProgressToken == nil {
		return ctx
	}
	token := req.Params.Meta.ProgressToken
	srv := server.ServerFromContext(ctx)
	if srv == nil {
		return ctx
	}
	return approvals.WithProgress(ctx, func(progress, total float64, message string) {
		params := map[string]any{"progressToken": token, "progress": progress, "message": message}
		if total > 0 {
			params["total"] = total
		}
		// A client that went away is noticed by the call's context.
		_ = srv.SendNotificationToClient(ctx, string(mcpgo.MethodNotificationProgress), params)
	})
}

// pendingResult renders a call held for approval as a tool error whose
// structured content is the pending_approval object (approval_id,
// approvers, expires_at, and how to continue), and whose text carries the
// same object for clients that read only text. nil for other errors.
func pendingResult(e *gateway.Error) *mcpgo.CallToolResult {
	var p *gateway.PendingApproval
	if !errors.As(e, &p) {
		return nil
	}
	pa := *p
	pa.AuditID = e.AuditID
	b, err := json.Marshal(pa)
	if err != nil {
		return nil
	}
	var text strings.Builder
	fmt.Fprintf(&text, "%s: %s", gateway.StatusPendingApproval, pa.Message)
	if e.Rule != "" {
		fmt.Fprintf(&text, "\nPolicy rule: %s.", e.Rule)
	}
	if e.AuditID != "" {
		fmt.Fprintf(&text, "\nAudit event: %s.", e.AuditID)
	}
	fmt.Fprintf(&text, "\n%s", b)
	return &mcpgo.CallToolResult{
		Content:           []mcpgo.Content{mcpgo.NewTextContent(text.String())},
		StructuredContent: pa,
		IsError:           true,
	}
}
