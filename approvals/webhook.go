package approvals

import (
	"bytes"
	"context"
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Webhook headers. The signature is Slack's scheme with Warden's names:
// hex HMAC-SHA256, keyed by the webhook's secret, of "v1:" + the
// timestamp header + ":" + the body.
const (
	HeaderSignature = "X-Warden-Signature" // "v1=" + hex
	HeaderTimestamp = "X-Warden-Timestamp" // Unix seconds
	HeaderEvent     = "X-Warden-Event"
	HeaderDelivery  = "X-Warden-Delivery" // the same for every attempt of one delivery
)

// Sign returns the X-Warden-Signature value for body sent at timestamp.
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("v1:" + timestamp + ":"))
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a webhook's signature in constant time, and that its
// timestamp is within tolerance of now (against replays).
func Verify(secret []byte, signature, timestamp string, body []byte, now time.Time, tolerance time.Duration) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return false
	}
	return hmac.Equal([]byte(signature), []byte(Sign(secret, timestamp, body)))
}

// WebhookTarget is one configured endpoint.
type WebhookTarget struct {
	// Name is used in logs; the URL never is (Slack's URLs are secrets).
	Name    string
	URL     string
	Secret  []byte
	Events  []string
	Timeout time.Duration
	// Retries after the first attempt.
	Retries int
}

// Webhooks delivers approval events to endpoints: a Slack-compatible JSON
// body (text and blocks, plus the full request under "warden"), signed,
// retried with exponential backoff and jitter on network errors, 408, 429
// and 5xx. Deliveries are asynchronous and bounded; they are not kept
// across restarts.
type Webhooks struct {
	targets []WebhookTarget
	client  *http.Client
	logger  *slog.Logger
	backoff time.Duration
	agent   string

	sem    chan struct{}
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// WebhookOptions tune delivery.
type WebhookOptions struct {
	Logger *slog.Logger
	// Backoff is the wait before the first retry, doubled for each next
	// one up to a minute (default 1s).
	Backoff time.Duration
	// UserAgent of requests (default "warden").
	UserAgent string
	// Client sends the requests (default: one that does not follow
	// redirects).
	Client *http.Client
}

// NewWebhooks returns a notifier for targets.
func NewWebhooks(targets []WebhookTarget, o WebhookOptions) *Webhooks {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.UserAgent == "" {
		o.UserAgent = "warden"
	}
	if o.Client == nil {
		o.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Webhooks{targets: targets, client: o.Client, logger: o.Logger, backoff: o.Backoff, agent: o.UserAgent,
		sem: make(chan struct{}, 16), ctx: ctx, cancel: cancel}
}

// Notify implements Notifier: it queues the event for every target that
// wants it and returns at once.
func (w *Webhooks) Notify(ev Event) {
	for _, t := range w.targets {
		if !slices.Contains(t.Events, ev.Kind) {
			continue
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		err := enc.Encode(slackMessage(ev))
		body := bytes.TrimSpace(buf.Bytes())
		if err != nil {
			w.logger.Error("encode webhook body", "webhook", t.Name, "err", err)
			continue
		}
		var id [12]byte
		crand.Read(id[:])
		w.wg.Add(1)
		go w.deliver(t, ev.Kind, hex.EncodeToString(id[:]), body)
	}
}

// Close waits up to ctx's deadline for deliveries in flight, then
// abandons them.
func (w *Webhooks) Close(ctx context.Context) {
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		w.logger.Warn("webhook deliveries abandoned at shutdown")
	}
	w.cancel()
}

func (w *Webhooks) deliver(t WebhookTarget, kind, id string, body []byte) {
	defer w.wg.Done()
	select {
	case w.sem <- struct{}{}:
		defer func() { <-w.sem }()
	case <-w.ctx.Done():
		return
	}
	delay := w.backoff
	for attempt := 0; ; attempt++ {
		retry, wait, err := w.attempt(t, kind, id, body)
		if err == nil {
			w.logger.Debug("webhook delivered", "webhook", t.Name, "event", kind, "delivery", id, "attempt", attempt+1)
			return
		}
		if !retry || attempt >= t.Retries {
			w.logger.Error("webhook delivery failed", "webhook", t.Name, "event", kind, "delivery", id, "attempts", attempt+1, "err", err)
			return
		}
		if wait <= 0 {
			// ±20% jitter keeps many Wardens from retrying in step.
			wait = time.Duration(float64(delay) * (0.8 + 0.4*rand.Float64()))
		}
		w.logger.Warn("webhook delivery failed; retrying", "webhook", t.Name, "event", kind, "delivery", id, "attempt", attempt+1, "retry_in", wait, "err", err)
		select {
		case <-time.After(wait):
		case <-w.ctx.Done():
			return
		}
		delay = min(2*delay, time.Minute)
	}
}

// attempt sends once. It says whether a failure is worth retrying, and
// how long the receiver asked to wait (Retry-After).
func (w *Webhooks) attempt(t WebhookTarget, kind, id string, body []byte) (bool, time.Duration, error) {
	ctx, cancel := context.WithTimeout(w.ctx, t.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return false, 0, fmt.Errorf("bad webhook URL")
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", w.agent)
	req.Header.Set(HeaderEvent, kind)
	req.Header.Set(HeaderDelivery, id)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(t.Secret, ts, body))
	resp, err := w.client.Do(req)
	if err != nil {
		// The error names the URL; keep only what went wrong.
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		return true, 0, fmt.Errorf("send: %s", msg)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, 0, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		var wait time.Duration
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			wait = min(time.Duration(s)*time.Second, time.Minute)
		}
		return true, wait, fmt.Errorf("receiver answered %s", resp.Status)
	}
	return false, 0, fmt.Errorf("receiver answered %s", resp.Status)
}

// slackMessage is the body: Slack's incoming-webhook format (text, with
// blocks for clients that show them), and the event in full under
// "warden" for programs.
func slackMessage(ev Event) map[string]any {
	a := ev.Approval
	var head string
	switch ev.Kind {
	case EventRequested:
		head = fmt.Sprintf("Approval requested: %s wants to run %s on %s", a.Requester.Subject, a.Tool, a.Connection)
	case EventApproved:
		head = fmt.Sprintf("Approved: request %s (%s on %s by %s)", a.ID, a.Tool, a.Connection, a.Requester.Subject)
	case EventPartiallyApproved:
		head = fmt.Sprintf("Approval %d of %d recorded for request %s", a.Approvals(), a.Approvers.Quorum, a.ID)
	case EventDenied:
		head = fmt.Sprintf("Denied: request %s (%s on %s by %s)", a.ID, a.Tool, a.Connection, a.Requester.Subject)
	case EventExpired:
		head = fmt.Sprintf("Expired without a decision: request %s (%s on %s by %s)", a.ID, a.Tool, a.Connection, a.Requester.Subject)
	case EventExecuted:
		head = fmt.Sprintf("Executed: the approved call of request %s ran", a.ID)
	case EventFailed:
		head = fmt.Sprintf("Failed: the call of request %s did not complete", a.ID)
	default:
		head = fmt.Sprintf("Request %s: %s", a.ID, ev.Kind)
	}
	var lines []string
	lines = append(lines, "*"+mrkdwn(head)+"*")
	if ev.Decision != nil {
		l := fmt.Sprintf("%s by %s", ev.Decision.Verdict, ev.Decision.Approver)
		if ev.Decision.Comment != "" {
			l += ": " + ev.Decision.Comment
		}
		lines = append(lines, mrkdwn(l))
	}
	if a.Justification != "" {
		lines = append(lines, "Justification: "+mrkdwn(a.Justification))
	}
	lines = append(lines, fmt.Sprintf("Rule: %s · approvers: %s (quorum %d) · expires %s", mrkdwn(a.Rule),
		mrkdwn(strings.Join(a.Approvers.Groups, ", ")), a.Approvers.Quorum, a.Expires.UTC().Format(time.RFC3339)))
	text := strings.Join(lines, "\n")
	if a.URL != "" {
		text += "\n<" + a.URL + "|Review request " + a.ID + ">"
	}
	stmt := a.Statement
	if stmt == "" {
		stmt = string(a.Arguments)
	}
	if len(stmt) > 2500 {
		stmt = stmt[:2500] + "\n..."
	}
	blocks := []map[string]any{
		{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": strings.Join(lines, "\n")}},
		{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "```" + mrkdwn(strings.ReplaceAll(stmt, "```", "'''")) + "```"}},
	}
	if a.URL != "" {
		blocks = append(blocks, map[string]any{"type": "actions", "elements": []map[string]any{{
			"type": "button", "text": map[string]any{"type": "plain_text", "text": "Review"}, "url": a.URL,
		}}})
	}
	return map[string]any{
		"text":   text,
		"blocks": blocks,
		"warden": map[string]any{"event": ev.Kind, "time": ev.Time, "approval": a, "decision": ev.Decision},
	}
}

// mrkdwn escapes text for Slack: &, < and > are control characters.
func mrkdwn(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
