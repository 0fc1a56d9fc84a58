package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/wardenhq/warden/internal/testenv"
)

// chromium finds Debian's chromium (scripts/test.sh installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("WARDEN_TEST_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	const how = "apt-get install -y chromium (scripts/test.sh does it when run as root)"
	if testenv.Required() {
		t.Fatalf("chromium is required (WARDEN_TEST_REQUIRE=1) but not installed: %s", how)
	}
	t.Skipf("chromium not installed: %s", how)
	return ""
}

// browser starts a headless chromium with the flags that work on this
// machine (no sandbox as root, no background networking).
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// do runs browser steps, and on failure reports where the browser was.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		loc, _ := chromedp.Run(sctx, chromedp.Location())
		body, _ := chromedp.Run(sctx, chromedp.Text(chromedp.CSS("body")))
		cancel()
		t.Fatalf("%s: %v\nat %s:\n%s", what, err, loc, body)
	}
}

// get runs one browser action that returns a value.
func get[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return get(t, ctx, chromedp.Text(chromedp.CSS(sel)))
}

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// TestApprovalsWebPage drives the approval page in a real headless
// browser: sign in at the identity provider, see the held call in full,
// approve it with a comment, watch it run, find it in the history; deny
// another; and a forged cross-site form changes nothing.
func TestApprovalsWebPage(t *testing.T) {
	e := newApprovalEnv(t, "  wait: 1s\n  web: {redirect_url: \"http://{listen}/callback\"}\n")
	e.serve(t)
	agent := e.agent(t, "")
	sql := "DELETE FROM customers WHERE id = 50 AND name = 'customer 50' -- GDPR erasure"
	res, out, s := callTool(t, agent.Client, "run_query", map[string]any{"connection": "pg", "sql": sql, "justification": "erasure request #88 <urgent>"})
	id := pending(t, res, out, s)
	res, out, s = callTool(t, agent.Client, "run_query", deleteCall(51, "second"))
	denyID := pending(t, res, out, s)

	ctx := browser(t)
	base := "http://" + e.listen
	// Warden sends the browser to the provider's login form. (The test
	// provider serves its form as text, so the page script fills and
	// submits the same form; the browser then follows the provider's
	// redirects back to Warden, which signs bob in.)
	do(t, ctx, "open the approval page", chromedp.Navigate(base+"/approvals"))
	if loc := get(t, ctx, chromedp.Location()); !strings.HasPrefix(loc, e.idp.URL+"/login?authRequestID=") {
		t.Fatalf("not sent to the identity provider: %s", loc)
	}
	do(t, ctx, "sign in at the provider",
		chromedp.Evaluate[chromedp.Void](`(() => {
			const f = document.createElement('form');
			f.method = 'post'; f.action = '/login';
			const add = (n, v) => { const i = document.createElement('input'); i.name = n; i.value = v; f.appendChild(i); };
			add('authRequestID', new URLSearchParams(location.search).get('authRequestID'));
			add('username', 'bob'); add('password', 'bob-pw');
			document.body.appendChild(f); f.submit();
		})()`),
		chromedp.WaitVisible(css(`#requests`)),
	)
	who, listText, loc := text(t, ctx, "#whoami"), text(t, ctx, "#requests"), get(t, ctx, chromedp.Location())
	if who != "bob" || loc != base+"/approvals" || !strings.Contains(listText, id) || !strings.Contains(listText, denyID) || !strings.Contains(listText, "ci-bot") {
		t.Fatalf("list as %q at %s:\n%s", who, loc, listText)
	}

	do(t, ctx, "open the request",
		chromedp.Click(css(fmt.Sprintf(`tr[data-id=%q] a.request-link`, id))),
		chromedp.WaitVisible(css(`#sql`)),
	)
	sqlText := text(t, ctx, "#sql")
	keywords := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('#sql span.kw').length`))
	stringsLit := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('#sql span.str').length`))
	comments := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('#sql span.com').length`))
	shot := get(t, ctx, chromedp.FullScreenshot(100)) // PNG
	os.WriteFile(filepath.Join(os.TempDir(), "warden-approval-page.png"), shot, 0o644)
	if strings.TrimSpace(sqlText) != sql || keywords < 4 || stringsLit != 1 || comments != 1 {
		t.Errorf("SQL shown %q with %d keywords, %d strings, %d comments highlighted", sqlText, keywords, stringsLit, comments)
	}
	tables, justification, requester, rule := text(t, ctx, "#tables-written"), text(t, ctx, "#justification"), text(t, ctx, "#requester"), text(t, ctx, "#rule")
	if !strings.Contains(tables, "customers") || justification != "erasure request #88 <urgent>" ||
		!strings.Contains(requester, "ci-bot") || !strings.Contains(rule, "writes-need-review") {
		t.Errorf("tables %q, justification %q, requester %q, rule %q", tables, justification, requester, rule)
	}

	// A forged form on another site, submitted by bob's browser, changes nothing.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<form id="f" method="post" action="%s/approvals/%s/decision"><input name="verdict" value="approve"><input name="csrf" value="guess"></form><script>document.getElementById('f').submit()</script>`, base, id)
	}))
	defer evil.Close()
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1) // another site
	do(t, ctx, "forged form", chromedp.Navigate(evilURL), chromedp.Sleep(time.Second))
	if forged := text(t, ctx, "body"); strings.Contains(forged, "was recorded") {
		t.Fatalf("a cross-site form decided: %s", forged)
	}

	do(t, ctx, "approve",
		chromedp.Navigate(base+"/approvals/"+id),
		chromedp.WaitVisible(css(`#approve`)),
		chromedp.SendKeys(css(`#comment`), "erasure checked"),
		chromedp.Click(css(`#approve`)),
		chromedp.WaitVisible(css(`#done`)),
	)
	if state, done := text(t, ctx, "#state"), text(t, ctx, "#done"); state != "approved" || !strings.Contains(done, "approval was recorded") {
		t.Fatalf("after approving: state %q, %q", state, done)
	}

	res, out, s = callTool(t, agent.Client, "await_approval", map[string]any{"approval_id": id})
	if res.IsError || s["command_tag"] != "DELETE 1" || e.customerExists(t, 50) {
		t.Fatalf("the call approved on the page: %s", out)
	}

	do(t, ctx, "deny",
		chromedp.Navigate(base+"/approvals/"+denyID),
		chromedp.WaitVisible(css(`#deny`)),
		chromedp.SendKeys(css(`#comment`), "not this one"),
		chromedp.Click(css(`#deny`)),
		chromedp.WaitVisible(css(`#done`)),
	)
	if state := text(t, ctx, "#state"); state != "denied" {
		t.Fatalf("after denying: %q", state)
	}

	do(t, ctx, "history", chromedp.Click(css(`#history-link`)), chromedp.WaitVisible(css(`#requests`)))
	history := text(t, ctx, "#requests")
	do(t, ctx, "history entry",
		chromedp.Click(css(fmt.Sprintf(`tr[data-id=%q] a.request-link`, id))),
		chromedp.WaitVisible(css(`#decisions`)),
	)
	decisions, state := text(t, ctx, "#decisions"), text(t, ctx, "#state")
	if !strings.Contains(history, id) || !strings.Contains(history, "executed") || !strings.Contains(history, denyID) || !strings.Contains(history, "denied") {
		t.Errorf("history:\n%s", history)
	}
	if state != "executed" || !strings.Contains(decisions, "bob") || !strings.Contains(decisions, "erasure checked") || !strings.Contains(decisions, "web") {
		t.Errorf("decided request: %s\n%s", state, decisions)
	}

	// With bob's session cookie but without the page's CSRF token, a
	// decision is refused.
	res, out, s = callTool(t, agent.Client, "run_query", deleteCall(52, "third"))
	third := pending(t, res, out, s)
	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base}})
	if err != nil {
		t.Fatal(err)
	}
	var session string
	for _, c := range cookies.Cookies {
		if c.Name == "warden_approvals" {
			session = c.Value
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax {
				t.Errorf("session cookie: %+v", c)
			}
		}
	}
	if session == "" {
		t.Fatal("no session cookie")
	}
	post := func(form url.Values, header map[string]string) int {
		req, _ := http.NewRequest("POST", base+"/approvals/"+third+"/decision", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "warden_approvals", Value: session})
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(url.Values{"verdict": {"approve"}}, nil); code != http.StatusForbidden {
		t.Errorf("a decision without the CSRF token: %d", code)
	}
	if code := post(url.Values{"verdict": {"approve"}, "csrf": {"wrong"}}, nil); code != http.StatusForbidden {
		t.Errorf("a decision with a wrong CSRF token: %d", code)
	}
	if code := post(url.Values{"verdict": {"approve"}}, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}); code != http.StatusForbidden {
		t.Errorf("a cross-site decision: %d", code)
	}
	var a struct{ State string }
	e.login(t, "bob")
	e.cliJSON(t, "bob", &a, "show", third)
	if a.State != "pending" {
		t.Errorf("forged decisions changed the request: %s", a.State)
	}
	var firstState struct{ State string }
	e.cliJSON(t, "bob", &firstState, "show", id)
	if firstState.State != "executed" {
		t.Errorf("state of the approved request: %s", firstState.State)
	}
}
