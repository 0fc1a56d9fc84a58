package mcp

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/wardenhq/warden/audit"
	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
	"github.com/wardenhq/warden/identity"
)

// rpcError is the error member of a JSON-RPC response.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    struct {
		Tool    string   `json:"tool"`
		Tools   []string `json:"tools"`
		AuditID string   `json:"audit_id"`
	} `json:"data"`
}

// checkUnknownTool: the answer to a call of "run_querry" is the protocol
// error MCP 2025-11-25 names for an unknown tool (-32602), naming the tools
// there are, and the call is recorded as refused for bad input.
func checkUnknownTool(t *testing.T, how string, e *rpcError, store *auditsqlite.Store) {
	t.Helper()
	if e == nil {
		t.Fatalf("%s: no JSON-RPC error", how)
	}
	if e.Code != mcpgo.INVALID_PARAMS || !strings.HasPrefix(e.Message, `Unknown tool: "run_querry". The tools are: list_connections, `) ||
		!strings.Contains(e.Message, "run_query") || e.Data.Tool != "run_querry" || len(e.Data.Tools) < 3 {
		t.Errorf("%s: error = %+v", how, e)
	}
	if e.Data.AuditID == "" || !strings.Contains(e.Message, "Audit event: "+e.Data.AuditID) {
		t.Fatalf("%s: no audit event in %+v", how, e)
	}
	store.Sync(context.Background())
	ev, err := store.Get(context.Background(), e.Data.AuditID)
	if err != nil || ev.Tool != "run_querry" || ev.Status != audit.StatusInvalid {
		t.Errorf("%s: audit event = %+v, %v", how, ev, err)
	}
}

// TestUnknownToolOverHTTP: over streamable HTTP, for a client with a
// session (2025-11-25) and a stateless one (2026-07-28), the answer is the
// JSON-RPC error with HTTP status 200, which an MCP client reads as the
// call's error, not as a failure of the transport.
func TestUnknownToolOverHTTP(t *testing.T) {
	hs, _, _, store := newHTTPServerStore(t)
	ctx := context.Background()

	// An MCP client of 2025-11-25.
	c, err := client.NewStreamableHttpClient(hs.URL+"/mcp", transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer alice-token"}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	initReq := mcpgo.InitializeRequest{}
	initReq.Params.ProtocolVersion = "2025-11-25"
	if _, err := c.Initialize(ctx, initReq); err != nil {
		t.Fatal(err)
	}
	_, err = c.CallTool(ctx, mcpgo.CallToolRequest{Params: mcpgo.CallToolParams{Name: "run_querry", Arguments: map[string]any{"sql": "SELECT 1"}}})
	if err == nil || !strings.Contains(err.Error(), `Unknown tool: "run_querry". The tools are: list_connections`) {
		t.Errorf("client of 2025-11-25: err = %v", err)
	}
	hdr := map[string]string{"Mcp-Session-Id": c.GetSessionId(), "Mcp-Protocol-Version": "2025-11-25"}
	resp := do(t, "POST", hs.URL+"/mcp", "alice-token", hdr, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"run_querry","arguments":{}}}`)
	checkUnknownTool(t, "2025-11-25", readRPCError(t, resp), store)

	// A stateless request of 2026-07-28.
	meta := fmt.Sprintf(`{%q:"2026-07-28",%q:{"name":"t","version":"1"},%q:{}}`, mcpgo.MetaKeyProtocolVersion, mcpgo.MetaKeyClientInfo, mcpgo.MetaKeyClientCapabilities)
	body := `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"run_querry","arguments":{},"_meta":` + meta + `}}`
	resp = do(t, "POST", hs.URL+"/mcp", "alice-token", map[string]string{mcpgo.HeaderProtocolVersion: "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "run_querry"}, body)
	checkUnknownTool(t, "2026-07-28", readRPCError(t, resp), store)

	// Other errors keep the status mcp-go gives them.
	body = `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"list_connections","arguments":{},"_meta":{}}}`
	resp = do(t, "POST", hs.URL+"/mcp", "alice-token", map[string]string{mcpgo.HeaderProtocolVersion: "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "list_connections"}, body)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a request without its protocol version in _meta: status %d", resp.StatusCode)
	}
}

func readRPCError(t *testing.T, resp *http.Response) *rpcError {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d: %s", resp.StatusCode, b)
	}
	text := string(b)
	if i := strings.Index(text, "data: "); i >= 0 && resp.Header.Get("Content-Type") == "text/event-stream" {
		text = text[i+len("data: "):]
	}
	var r struct {
		Error *rpcError `json:"error"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(text)), &r); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return r.Error
}

// TestUnknownToolOverStdio: the same answer on stdio; a client cannot
// make a call of a real tool be refused as another by writing Warden's
// routing key in its _meta.
func TestUnknownToolOverStdio(t *testing.T) {
	srv, store := newFrontDoor(t, io.Discard)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- srv.ServeStdio(ctx, inR, outW, identity.Principal{Subject: "alice", Groups: []string{"agents"}, Issuer: "local"})
		outW.Close()
	}()
	defer func() {
		inW.Close()
		cancel()
		<-done
	}()
	lines := bufio.NewScanner(outR)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	send := func(msg string) {
		if _, err := io.WriteString(inW, msg+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	// answer reads up to the response to request id.
	answer := func(id int) map[string]json.RawMessage {
		t.Helper()
		got := make(chan map[string]json.RawMessage, 1)
		go func() {
			for lines.Scan() {
				var m map[string]json.RawMessage
				if json.Unmarshal(lines.Bytes(), &m) == nil && string(m["id"]) == fmt.Sprint(id) {
					got <- m
					return
				}
			}
			close(got)
		}()
		select {
		case m, ok := <-got:
			if !ok {
				t.Fatalf("stdio ended before the answer to %d", id)
			}
			return m
		case <-time.After(30 * time.Second):
			t.Fatalf("no answer to %d", id)
		}
		return nil
	}
	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	answer(1)
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)

	send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"run_querry","arguments":{"sql":"SELECT 1"}}}`)
	var e *rpcError
	if err := json.Unmarshal(answer(2)["error"], &e); err != nil {
		t.Fatal(err)
	}
	checkUnknownTool(t, "stdio", e, store)

	send(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"list_connections","arguments":{},"_meta":{"warden/unknown-tool":"run_query"}}}`)
	m := answer(3)
	var res mcpgo.CallToolResult
	if m["error"] != nil || json.Unmarshal(m["result"], &res) != nil || res.IsError {
		t.Errorf("list_connections with the routing key in _meta: %s %s", m["error"], m["result"])
	}
}
