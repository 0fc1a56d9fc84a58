package mcp

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wardenhq/warden/identity"
)

// TestTaskStatusFilter: mcp-go sends every task's status notification to
// every session; on an HTTP stream, only the caller's own tasks' pass.
func TestTaskStatusFilter(t *testing.T) {
	owners := newTaskOwners(time.Hour)
	alice := identity.WithPrincipal(context.Background(), identity.Principal{Subject: "alice", Issuer: "https://idp"})
	bob := identity.WithPrincipal(context.Background(), identity.Principal{Subject: "bob", Issuer: "https://idp"})
	owners.add("task-a", ownerKey(alice))
	owners.add("task-b", ownerKey(bob))
	status := func(id string) string {
		return fmt.Sprintf("event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tasks/status\",\"params\":{\"taskId\":%q,\"status\":\"failed\",\"statusMessage\":\"denied by carol\"}}\n\n", id)
	}
	progress := "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1}}\n\n"
	rec := httptest.NewRecorder()
	f := &taskStatusFilter{ResponseWriter: rec, owner: ownerKey(alice), tasks: owners}
	for _, w := range []string{status("task-a"), status("task-b"), status("task-unknown"), progress} {
		if n, err := f.Write([]byte(w)); err != nil || n != len(w) {
			t.Fatalf("write: %d %v", n, err)
		}
	}
	f.Flush()
	if got, want := rec.Body.String(), status("task-a")+progress; got != want {
		t.Errorf("alice's stream:\n%s\nwant:\n%s", got, want)
	}
	if !owners.owns(alice, "task-a") || owners.owns(bob, "task-a") || owners.owns(context.Background(), "task-a") {
		t.Error("owns")
	}
	// Another issuer's alice is someone else.
	other := identity.WithPrincipal(context.Background(), identity.Principal{Subject: "alice", Issuer: "https://other"})
	if owners.owns(other, "task-a") {
		t.Error("a task is visible to the same subject from another issuer")
	}
}
