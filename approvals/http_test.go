package approvals_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/wardenhq/warden/approvals"
	"github.com/wardenhq/warden/identity"
)

// tokens identifies bearer tokens from a fixed table, and requests
// without credentials as anon when set (like anonymous loopback).
type tokens struct {
	byToken map[string]identity.Principal
	anon    *identity.Principal
}

func (k tokens) IdentifyHTTP(_ context.Context, r *http.Request) (identity.Principal, error) {
	if !identity.HasCredentials(r) {
		if k.anon != nil {
			return *k.anon, nil
		}
		return identity.Principal{}, &identity.TokenError{Description: "a bearer token is required"}
	}
	tok, err := identity.BearerToken(r)
	if err != nil {
		return identity.Principal{}, err
	}
	p, ok := k.byToken[tok]
	if !ok {
		return identity.Principal{}, &identity.TokenError{Code: identity.CodeInvalidToken, Description: "unknown token"}
	}
	return p, nil
}

func newHTTPFixture(t *testing.T, anon *identity.Principal) (*fixture, *httptest.Server) {
	f := newFixture(t, approvals.Options{})
	mux := http.NewServeMux()
	f.s.Mount(mux, approvals.HTTPOptions{Identifier: tokens{byToken: map[string]identity.Principal{"bob": bob, "agent": agent, "eve": eve}, anon: anon}})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv
}

func apiCall(t *testing.T, srv *httptest.Server, method, path, token, body string, header map[string]string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestAPI(t *testing.T) {
	f, srv := newHTTPFixture(t, nil)
	id := f.hold(t, request("DELETE FROM orders WHERE id = 7")).ID
	p := approvals.APIPrefix + "/" + id
	tests := []struct {
		name, method, path, token, body string
		header                          map[string]string
		status                          int
		want                            string // in the error message or the body
	}{
		{"no token", "GET", approvals.APIPrefix, "", "", nil, 401, "bearer token is required"},
		{"bad token", "GET", approvals.APIPrefix, "nope", "", nil, 401, "unknown token"},
		{"outsider sees nothing", "GET", p, "eve", "", nil, 404, "no such request"},
		{"bad state filter", "GET", approvals.APIPrefix + "?state=weird", "bob", "", nil, 400, "state must be"},
		{"self-approval", "POST", p + "/approve", "agent", `{"comment":"me"}`, nil, 403, "self-approval is never allowed"},
		{"unknown field", "POST", p + "/approve", "bob", `{"coment":"x"}`, nil, 400, "unknown field"},
		{"not JSON", "POST", p + "/approve", "bob", `comment=x`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, "application/json"},
		{"cross-site browser request", "POST", p + "/approve", "bob", `{}`, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 403, ""},
		{"approve", "POST", p + "/approve", "bob", `{"comment":"fine"}`, nil, 200, "approved"},
		{"twice", "POST", p + "/deny", "bob", ``, nil, 409, "already approved"},
		{"requester sees it", "GET", p, "agent", "", nil, 200, "fine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := apiCall(t, srv, tt.method, tt.path, tt.token, tt.body, tt.header)
			b, _ := json.Marshal(out)
			if status != tt.status || !strings.Contains(string(b), tt.want) {
				t.Errorf("%d %s, want %d with %q", status, b, tt.status, tt.want)
			}
		})
	}
	status, out := apiCall(t, srv, "GET", approvals.APIPrefix+"?state=all", "bob", "", nil)
	if list := out["approvals"].([]any); status != 200 || len(list) != 1 || list[0].(map[string]any)["state"] != "approved" {
		t.Errorf("list: %d %v", status, out)
	}
	if status, out := apiCall(t, srv, "GET", approvals.APIPrefix, "eve", "", nil); status != 200 || len(out["approvals"].([]any)) != 0 {
		t.Errorf("eve's list: %d %v", status, out)
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// TestPagesAnonymousLoopback: without a sign-in, a visitor the identifier
// accepts without credentials (anonymous loopback) gets a session, and
// its forms need the session's CSRF token.
func TestPagesAnonymousLoopback(t *testing.T) {
	f, srv := newHTTPFixture(t, &bob)
	id := f.hold(t, request("DELETE FROM orders WHERE id = 8")).ID
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	get := func(path string) (int, string) {
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		return resp.StatusCode, string(b)
	}
	status, page := get(approvals.PageList)
	if status != 200 || !strings.Contains(page, id) || !strings.Contains(page, "Signed in as <strong id=\"whoami\">bob</strong>") {
		t.Fatalf("list: %d\n%s", status, page)
	}
	status, page = get(approvals.PagePrefix + id)
	m := csrfField.FindStringSubmatch(page)
	if status != 200 || m == nil || !strings.Contains(page, `<span class="kw">DELETE</span>`) {
		t.Fatalf("request page: %d\n%s", status, page)
	}
	post := func(form url.Values) int {
		resp, err := c.PostForm(srv.URL+approvals.PagePrefix+id+"/decision", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(url.Values{"verdict": {"approve"}}); code != http.StatusForbidden {
		t.Errorf("no CSRF token: %d", code)
	}
	if code := post(url.Values{"verdict": {"approve"}, "csrf": {m[1] + "x"}}); code != http.StatusForbidden {
		t.Errorf("wrong CSRF token: %d", code)
	}
	if a, _ := f.store.Get(context.Background(), id); a.State != approvals.StatePending {
		t.Fatalf("forged posts decided: %s", a.State)
	}
	if code := post(url.Values{"verdict": {"approve"}, "csrf": {m[1]}, "comment": {"from the page"}}); code != http.StatusOK {
		t.Errorf("approve: %d", code)
	}
	a, _ := f.store.Get(context.Background(), id)
	if a.State != approvals.StateApproved || a.Decisions[0].Via != "web" || a.Decisions[0].Comment != "from the page" {
		t.Errorf("after the page's approval: %+v", a)
	}
	if status, page = get(approvals.PageHistory); status != 200 || strings.Contains(page, id) {
		t.Errorf("an approved request not yet run is not history: %d", status)
	}
	if status, _ = get(approvals.PagePrefix + "apr_nosuchrequest"); status != 404 {
		t.Errorf("unknown request: %d", status)
	}
}

func TestPagesWithoutSignIn(t *testing.T) {
	_, srv := newHTTPFixture(t, nil)
	resp, err := http.Get(srv.URL + approvals.PageList)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(b), "warden approvals") {
		t.Errorf("%d %s", resp.StatusCode, b)
	}
}
