package approvals_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardenhq/warden/approvals"
)

// receiver is a local webhook endpoint that fails its first attempts.
type receiver struct {
	mu       sync.Mutex
	failures int
	attempts []*http.Request
	bodies   [][]byte
	got      chan struct{}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.attempts = append(rc.attempts, r)
	rc.bodies = append(rc.bodies, b)
	fail := len(rc.attempts) <= rc.failures
	rc.mu.Unlock()
	if fail {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
	rc.got <- struct{}{}
}

func TestWebhookSignedRetriedSlackCompatible(t *testing.T) {
	rc := &receiver{failures: 2, got: make(chan struct{}, 10)}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	secret := []byte("s3cret")
	hooks := approvals.NewWebhooks([]approvals.WebhookTarget{{Name: "test", URL: srv.URL + "/hook?x=1", Secret: secret, Events: []string{approvals.EventRequested, approvals.EventApproved},
		Timeout: 5 * time.Second, Retries: 3}}, approvals.WebhookOptions{Backoff: 20 * time.Millisecond})
	f := newFixture(t, approvals.Options{Notifier: hooks, BaseURL: "https://warden.example.com"})
	req := request("DELETE FROM orders WHERE note = '<b>&'")
	out := f.hold(t, req)
	select {
	case <-rc.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook delivered")
	}
	rc.mu.Lock()
	if len(rc.attempts) != 3 {
		t.Errorf("attempts = %d, want 3 (two 503s, then 200)", len(rc.attempts))
	}
	ids := map[string]bool{}
	for i, r := range rc.attempts {
		ids[r.Header.Get(approvals.HeaderDelivery)] = true
		if r.Header.Get(approvals.HeaderEvent) != approvals.EventRequested || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("attempt %d headers: %v", i, r.Header)
		}
		if !approvals.Verify(secret, r.Header.Get(approvals.HeaderSignature), r.Header.Get(approvals.HeaderTimestamp), rc.bodies[i], time.Now(), 5*time.Minute) {
			t.Errorf("attempt %d: bad signature", i)
		}
		if approvals.Verify([]byte("other"), r.Header.Get(approvals.HeaderSignature), r.Header.Get(approvals.HeaderTimestamp), rc.bodies[i], time.Now(), 5*time.Minute) {
			t.Error("a signature verified with the wrong secret")
		}
	}
	if len(ids) != 1 {
		t.Errorf("retries must keep the delivery id: %v", ids)
	}
	body := rc.bodies[2]
	rc.mu.Unlock()
	var msg struct {
		Text   string           `json:"text"`
		Blocks []map[string]any `json:"blocks"`
		Warden struct {
			Event    string             `json:"event"`
			Approval approvals.Approval `json:"approval"`
		} `json:"warden"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg.Text, "Approval requested: agent wants to run run_query on pg") ||
		!strings.Contains(msg.Text, "<https://warden.example.com/approvals/"+out.ID+"|Review request") ||
		!strings.Contains(msg.Text, "Justification: cleanup") {
		t.Errorf("text: %s", msg.Text)
	}
	if len(msg.Blocks) < 2 || !strings.Contains(string(body), "&lt;b&gt;&amp;") {
		t.Errorf("blocks (SQL escaped for Slack): %s", body)
	}
	if msg.Warden.Event != approvals.EventRequested || msg.Warden.Approval.ID != out.ID || msg.Warden.Approval.Statement != req.Statement {
		t.Errorf("warden part: %+v", msg.Warden)
	}

	// Decisions are announced too; events not subscribed are not sent.
	if _, err := f.s.Decide(context.Background(), bob, out.ID, approvals.VerdictApprove, "ok", "api"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rc.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook for the decision")
	}
	f.s.Finished(context.Background(), out.ID, approvals.Result{OK: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	hooks.Close(ctx)
	cancel()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	last := rc.attempts[len(rc.attempts)-1]
	if last.Header.Get(approvals.HeaderEvent) != approvals.EventApproved || !strings.Contains(string(rc.bodies[len(rc.bodies)-1]), "approve by bob: ok") {
		t.Errorf("decision webhook: %s %s", last.Header.Get(approvals.HeaderEvent), rc.bodies[len(rc.bodies)-1])
	}
	if len(rc.attempts) != 4 {
		t.Errorf("attempts = %d: an unsubscribed event (executed) was sent", len(rc.attempts))
	}
}

func TestWebhookGivesUpOnClientErrors(t *testing.T) {
	var n int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer srv.Close()
	hooks := approvals.NewWebhooks([]approvals.WebhookTarget{{Name: "t", URL: srv.URL, Secret: []byte("k"), Events: []string{approvals.EventRequested}, Timeout: time.Second, Retries: 5}},
		approvals.WebhookOptions{Backoff: 10 * time.Millisecond})
	hooks.Notify(approvals.Event{Kind: approvals.EventRequested, Approval: &approvals.Approval{ID: "apr_x", Arguments: json.RawMessage(`{}`)}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hooks.Close(ctx)
	mu.Lock()
	defer mu.Unlock()
	if n != 1 {
		t.Errorf("a 403 was retried: %d attempts", n)
	}
}

func TestVerifyRejectsOldTimestamps(t *testing.T) {
	body := []byte(`{}`)
	old := "1000"
	if approvals.Verify([]byte("k"), approvals.Sign([]byte("k"), old, body), old, body, time.Now(), 5*time.Minute) {
		t.Error("a signature from 1970 verified")
	}
}
