package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// httpTimeout bounds each request of the login flows.
const httpTimeout = 30 * time.Second

var loginHTTP = &http.Client{Timeout: httpTimeout}

// oauthContext makes go-oidc and x/oauth2 use loginHTTP.
func oauthContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, loginHTTP)
}

func runLogin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "status" {
		return runLoginStatus(ctx, args[1:], stdout)
	}
	fs := newFlags("login", `login --server URL [--device] [flags]
       warden login status [--server URL] [--check] [--json]

Logs in to a Warden server as a person: finds the server's identity provider
from its OAuth protected resource metadata (RFC 9728), then runs the OpenID
Connect authorization code flow with PKCE through a browser and a redirect
to 127.0.0.1 (or, with --device, the device code flow). The tokens are kept
in `+"`"+`<user config dir>/warden/tokens.json`+"`"+` (mode 0600) and refreshed when
they can be. Tokens are never printed unless --print-token is given.`, stdout)
	server := fs.String("server", os.Getenv("WARDEN_SERVER"), "Warden's MCP URL, e.g. https://warden.example.com/mcp (env WARDEN_SERVER)")
	device := fs.Bool("device", false, "use the device code flow, for a machine without a browser")
	clientID := fs.String("client-id", envOr("WARDEN_CLIENT_ID", "warden-cli"), "the OAuth client registered for warden login at the identity provider (env WARDEN_CLIENT_ID)")
	issuer := fs.String("issuer", "", "which of the server's authorization servers to use (default: the first it names)")
	scopes := fs.String("scopes", "", "scopes to request besides openid and offline_access, separated by spaces or commas (default: the scopes the server names)")
	noBrowser := fs.Bool("no-browser", false, "never open a browser: only print the login URL")
	printToken := fs.Bool("print-token", false, "print the access token on stdout, reusing the cached one while it is valid or can be refreshed")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long to wait for the login to complete")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	serverURL, err := normalizeServer(*server)
	if err != nil {
		return err
	}
	cache, err := defaultTokenCache()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	if *printToken {
		if l, err := cache.fresh(ctx, serverURL); err == nil {
			fmt.Fprintln(stdout, l.AccessToken)
			return nil
		}
	}
	res, err := discoverResource(ctx, serverURL)
	if err != nil {
		return err
	}
	as := res.AuthorizationServers[0]
	if *issuer != "" {
		if !slices.Contains(res.AuthorizationServers, *issuer) {
			return fmt.Errorf("%s does not name %s as an authorization server (it names %s)", serverURL, *issuer, strings.Join(res.AuthorizationServers, ", "))
		}
		as = *issuer
	}
	if msg := checkIssuerURL(as); msg != "" {
		return fmt.Errorf("authorization server %q: %s", as, msg)
	}
	provider, err := oidc.NewProvider(oauthContext(ctx), as)
	if err != nil {
		return fmt.Errorf("discover the identity provider %s: %w", as, err)
	}
	want := res.Scopes
	if *scopes != "" {
		want = strings.FieldsFunc(*scopes, func(r rune) bool { return r == ',' || r == ' ' })
	}
	endpoint := provider.Endpoint()
	endpoint.AuthStyle = oauth2.AuthStyleInParams // a public client: no secret
	cfg := &oauth2.Config{ClientID: *clientID, Endpoint: endpoint, Scopes: append([]string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess}, want...)}
	// RFC 8707: ask for a token for this resource, as MCP clients must.
	resource := oauth2.SetAuthURLParam("resource", res.Resource)

	var tok *oauth2.Token
	if *device {
		tok, err = deviceLogin(ctx, cfg, resource, serverURL, stderr)
	} else {
		tok, err = browserLogin(ctx, cfg, resource, as, serverURL, !*noBrowser, stderr)
	}
	if err != nil {
		return err
	}
	l := &cachedLogin{Server: res.Resource, Issuer: as, ClientID: *clientID, TokenURL: endpoint.TokenURL, Scopes: cfg.Scopes}
	l.setToken(tok)
	who, err := whoAmI(ctx, serverURL, l.AccessToken)
	if err != nil {
		return fmt.Errorf("the identity provider issued a token, but Warden refused it: %w", err)
	}
	l.Subject, l.Groups = who.Subject, who.Groups
	if err := cache.put(l); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "Logged in to %s as %s", res.Resource, who.Subject)
	if len(who.Groups) > 0 {
		fmt.Fprintf(stderr, " (groups: %s)", strings.Join(who.Groups, ", "))
	}
	fmt.Fprintf(stderr, " via %s.\nThe token is cached in %s%s.\n", as, cache.path, describeExpiry(l))
	if *printToken {
		fmt.Fprintln(stdout, l.AccessToken)
	}
	return nil
}

// normalizeServer turns what the user typed into Warden's MCP URL: an
// https URL (http only for localhost), /mcp when it has no path, no
// trailing slash.
func normalizeServer(s string) (string, error) {
	if s == "" {
		return "", usageError{"--server is required (or set WARDEN_SERVER): Warden's MCP URL, e.g. https://warden.example.com/mcp"}
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", usageError{fmt.Sprintf("--server: %q is not an absolute URL", s)}
	}
	if msg := checkIssuerURL((&url.URL{Scheme: u.Scheme, Host: u.Host}).String()); msg != "" {
		return "", usageError{fmt.Sprintf("--server %s: %s", s, msg)}
	}
	if strings.Trim(u.Path, "/") == "" {
		u.Path = "/mcp"
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil
}

// checkIssuerURL says what is wrong with a URL tokens would be sent to or
// fetched from: it must be https, or http on a loopback host.
func checkIssuerURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "not an absolute URL"
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		if h := u.Hostname(); h == "localhost" || net.ParseIP(h).IsLoopback() {
			return ""
		}
	}
	return "expected an https:// URL (http:// only for localhost)"
}

// protectedResource is the part of RFC 9728 metadata warden login uses.
type protectedResource struct {
	Resource             string   `json:"resource"`
	AuthorizationServers []string `json:"authorization_servers"`
	Scopes               []string `json:"scopes_supported"`
}

// discoverResource finds the server's protected resource metadata: from
// the resource_metadata of the challenge to an unauthenticated request
// (RFC 9728 §5.1), else at the well-known URLs (§3.1), and checks that it
// describes the server asked for.
func discoverResource(ctx context.Context, server string) (*protectedResource, error) {
	su, _ := url.Parse(server)
	var candidates []string
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, server, nil)
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := loginHTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reach %s: %w", server, err)
	}
	resp.Body.Close()
	for _, h := range resp.Header.Values("WWW-Authenticate") {
		if m := authParamValue(h, "resource_metadata"); m != "" {
			if mu, err := url.Parse(m); err == nil && mu.Scheme == su.Scheme && strings.EqualFold(mu.Host, su.Host) {
				candidates = append(candidates, m)
			}
		}
	}
	root := su.Scheme + "://" + su.Host + "/.well-known/oauth-protected-resource"
	candidates = append(candidates, root+su.Path, root)
	var lastErr error
	for _, c := range candidates {
		res, err := fetchResource(ctx, c)
		if err != nil {
			lastErr = err
			continue
		}
		if strings.TrimSuffix(res.Resource, "/") != server {
			return nil, fmt.Errorf("%s describes the resource %s, not %s: log in with --server %s", c, res.Resource, server, res.Resource)
		}
		if len(res.AuthorizationServers) == 0 {
			return nil, fmt.Errorf("%s names no authorization server: this Warden does not accept tokens", c)
		}
		return res, nil
	}
	return nil, fmt.Errorf("%s does not publish OAuth protected resource metadata (is identity.oidc configured?): %v", server, lastErr)
}

func fetchResource(ctx context.Context, u string) (*protectedResource, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	req.Header.Set("Accept", "application/json")
	resp, err := loginHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	var res protectedResource
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&res); err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	return &res, nil
}

// authParamValue returns the value of one parameter of a WWW-Authenticate
// challenge (quoted or not).
func authParamValue(h, name string) string {
	for i := 0; i < len(h); {
		j := strings.Index(h[i:], name+"=")
		if j < 0 {
			return ""
		}
		j += i
		if j > 0 && h[j-1] != ' ' && h[j-1] != ',' {
			i = j + len(name) + 1
			continue
		}
		v := h[j+len(name)+1:]
		if strings.HasPrefix(v, `"`) {
			if end := strings.IndexByte(v[1:], '"'); end >= 0 {
				return v[1 : end+1]
			}
			return ""
		}
		if end := strings.IndexAny(v, ", "); end >= 0 {
			return v[:end]
		}
		return v
	}
	return ""
}

// browserLogin runs the authorization code flow with PKCE: it listens on
// 127.0.0.1 for the redirect, prints the URL to open (and opens a browser
// if one is available), and exchanges the code it receives.
func browserLogin(ctx context.Context, cfg *oauth2.Config, resource oauth2.AuthCodeOption, issuer, server string, browser bool, stderr io.Writer) (*oauth2.Token, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the login redirect: %w", err)
	}
	defer ln.Close()
	cfg.RedirectURL = fmt.Sprintf("http://%s/callback", ln.Addr())
	var b [32]byte
	rand.Read(b[:])
	state := base64.RawURLEncoding.EncodeToString(b[:])
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), resource)

	type result struct {
		code string
		err  error
	}
	done := make(chan result, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/callback", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
			http.Error(w, "This is not the login warden is waiting for.", http.StatusBadRequest)
			return
		}
		// RFC 9207: a response naming another issuer is a mix-up attack.
		if iss := q.Get("iss"); iss != "" && iss != issuer {
			done <- result{err: fmt.Errorf("the login response came from %s, not %s", iss, issuer)}
			http.Error(w, "Login failed: unexpected issuer.", http.StatusBadRequest)
			return
		}
		res := result{code: q.Get("code")}
		page := "You are logged in to Warden. You can close this window."
		if e := q.Get("error"); e != "" || res.code == "" {
			res.err = fmt.Errorf("the identity provider refused the login: %s %s", e, q.Get("error_description"))
			page = "Login failed: " + html.EscapeString(e+" "+q.Get("error_description"))
		}
		select {
		case done <- res:
			fmt.Fprintf(w, "<!doctype html><title>Warden</title><p>%s</p>", page)
		default:
			http.Error(w, "This login has already completed.", http.StatusConflict)
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	fmt.Fprintf(stderr, "To log in to %s, open this URL in a browser:\n\n  %s\n\n", server, authURL)
	if browser && openBrowser(authURL) {
		fmt.Fprintln(stderr, "(A browser was opened.)")
	}
	fmt.Fprintf(stderr, "Waiting for the identity provider to send you back to %s ...\n", cfg.RedirectURL)
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("the login did not complete in time: %w", ctx.Err())
	}
	if res.err != nil {
		return nil, res.err
	}
	tok, err := cfg.Exchange(oauthContext(ctx), res.code, oauth2.VerifierOption(verifier), resource)
	if err != nil {
		return nil, fmt.Errorf("exchange the authorization code: %w", err)
	}
	return tok, nil
}

// deviceLogin runs the device authorization flow (RFC 8628).
func deviceLogin(ctx context.Context, cfg *oauth2.Config, resource oauth2.AuthCodeOption, server string, stderr io.Writer) (*oauth2.Token, error) {
	if cfg.Endpoint.DeviceAuthURL == "" {
		return nil, errors.New("the identity provider does not offer the device flow (no device_authorization_endpoint): log in without --device")
	}
	octx := oauthContext(ctx)
	da, err := cfg.DeviceAuth(octx, resource)
	if err != nil {
		return nil, fmt.Errorf("start the device login: %w", err)
	}
	fmt.Fprintf(stderr, "To log in to %s, open %s on any device and enter the code\n\n  %s\n\n", server, da.VerificationURI, da.UserCode)
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(stderr, "(or open %s)\n", da.VerificationURIComplete)
	}
	fmt.Fprintln(stderr, "Waiting for the login to be approved ...")
	tok, err := cfg.DeviceAccessToken(octx, da, resource)
	if err != nil {
		return nil, fmt.Errorf("device login: %w", err)
	}
	return tok, nil
}

// openBrowser opens url in the user's browser if one is available, and
// reports whether it tried.
func openBrowser(url string) bool {
	var name string
	var args []string
	switch runtime.GOOS {
	case "darwin":
		name = "open"
	case "windows":
		name, args = "rundll32", []string{"url.dll,FileProtocolHandler"}
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return false
		}
		name = "xdg-open"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return false
	}
	cmd := exec.Command(path, append(args, url)...)
	if err := cmd.Start(); err != nil {
		return false
	}
	go cmd.Wait()
	return true
}

// whoAmIResult is Warden's /whoami answer.
type whoAmIResult struct {
	Subject string    `json:"subject"`
	Groups  []string  `json:"groups"`
	Issuer  string    `json:"issuer"`
	Expires time.Time `json:"expires_at"`
}

// whoAmI asks Warden who the token's bearer is.
func whoAmI(ctx context.Context, server, token string) (*whoAmIResult, error) {
	u, _ := url.Parse(server)
	u.Path = strings.TrimSuffix(u.Path, "/mcp") + "/whoami"
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := loginHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		reason := authParamValue(resp.Header.Get("WWW-Authenticate"), "error_description")
		if reason == "" {
			reason = resp.Status
		}
		return nil, fmt.Errorf("%s: %s", u, reason)
	}
	var who whoAmIResult
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&who); err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	return &who, nil
}

func describeExpiry(l *cachedLogin) string {
	switch {
	case l.Expiry.IsZero():
		return ""
	case time.Until(l.Expiry) > 0:
		s := fmt.Sprintf("; it is valid until %s", l.Expiry.Local().Format(time.DateTime))
		if l.RefreshToken != "" {
			s += " and will be refreshed after that"
		}
		return s
	case l.RefreshToken != "":
		return "; it has expired and will be refreshed when next used"
	}
	return "; it has expired"
}

// runLoginStatus shows the cached logins; with --check it asks each server
// who the (refreshed) token names.
func runLoginStatus(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("login status", "login status [--server URL] [--check] [--json]", stdout)
	server := fs.String("server", os.Getenv("WARDEN_SERVER"), "show only this server (env WARDEN_SERVER)")
	check := fs.Bool("check", false, "refresh the token if needed and ask the server who it names")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cache, err := defaultTokenCache()
	if err != nil {
		return err
	}
	f, err := cache.load()
	if err != nil {
		return err
	}
	var servers []string
	if *server != "" {
		s, err := normalizeServer(*server)
		if err != nil {
			return err
		}
		if _, ok := f.Servers[s]; !ok {
			return fmt.Errorf("not logged in to %s: run warden login --server %s", s, s)
		}
		servers = []string{s}
	} else {
		for s := range f.Servers {
			servers = append(servers, s)
		}
		slices.Sort(servers)
	}
	type status struct {
		Server  string    `json:"server"`
		Subject string    `json:"subject"`
		Groups  []string  `json:"groups"`
		Issuer  string    `json:"issuer"`
		Expiry  time.Time `json:"expiry,omitzero"`
		Refresh bool      `json:"refreshable"`
		Valid   bool      `json:"valid"`
		Error   string    `json:"error,omitempty"`
	}
	var out []status
	var failed bool
	for _, s := range servers {
		l := f.Servers[s]
		st := status{Server: s, Subject: l.Subject, Groups: l.Groups, Issuer: l.Issuer, Expiry: l.Expiry, Refresh: l.RefreshToken != "",
			Valid: l.Expiry.IsZero() || time.Until(l.Expiry) > 0}
		if *check {
			fl, err := cache.fresh(ctx, s)
			if err == nil {
				var who *whoAmIResult
				if who, err = whoAmI(ctx, s, fl.AccessToken); err == nil {
					st.Subject, st.Groups, st.Expiry, st.Valid = who.Subject, who.Groups, fl.Expiry, true
				}
			}
			if err != nil {
				st.Error, st.Valid, failed = err.Error(), false, true
			}
		}
		out = append(out, st)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, st := range out {
			enc.Encode(st)
		}
	} else if len(out) == 0 {
		fmt.Fprintln(stdout, "Not logged in to any Warden server (warden login --server URL).")
	}
	for _, st := range out {
		if *asJSON {
			break
		}
		fmt.Fprintf(stdout, "%s\n  identity: %s", st.Server, st.Subject)
		if len(st.Groups) > 0 {
			fmt.Fprintf(stdout, " (groups: %s)", strings.Join(st.Groups, ", "))
		}
		fmt.Fprintf(stdout, "\n  issuer:   %s\n", st.Issuer)
		switch {
		case st.Error != "":
			fmt.Fprintf(stdout, "  token:    unusable: %s\n", st.Error)
		case st.Expiry.IsZero():
			fmt.Fprintln(stdout, "  token:    no expiry")
		case st.Valid:
			fmt.Fprintf(stdout, "  token:    valid for %s\n", time.Until(st.Expiry).Round(time.Second))
		case st.Refresh:
			fmt.Fprintln(stdout, "  token:    expired; will be refreshed when next used")
		default:
			fmt.Fprintln(stdout, "  token:    expired; log in again")
		}
	}
	if failed {
		return errSilent
	}
	return nil
}

// runLogout forgets cached tokens and, where the identity provider offers
// token revocation (RFC 7009), revokes them there too.
func runLogout(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("logout", "logout --server URL | --all", stdout)
	server := fs.String("server", os.Getenv("WARDEN_SERVER"), "the server to log out of (env WARDEN_SERVER)")
	all := fs.Bool("all", false, "log out of every server")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *all == (*server != "") {
		return usageError{"give either --server URL or --all"}
	}
	cache, err := defaultTokenCache()
	if err != nil {
		return err
	}
	var s string
	if !*all {
		if s, err = normalizeServer(*server); err != nil {
			return err
		}
	}
	if f, err := cache.load(); err == nil {
		for srv, l := range f.Servers {
			if *all || srv == s {
				revoke(ctx, l, stderr)
			}
		}
	}
	removed, err := cache.remove(s, *all)
	if err != nil {
		return err
	}
	if len(removed) == 0 && !*all {
		fmt.Fprintf(stderr, "Not logged in to %s.\n", s)
		return nil
	}
	for _, r := range removed {
		fmt.Fprintf(stderr, "Logged out of %s.\n", r)
	}
	return nil
}

// revoke asks the identity provider to revoke a login's tokens; it only
// warns when it cannot.
func revoke(ctx context.Context, l *cachedLogin, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	provider, err := oidc.NewProvider(oauthContext(ctx), l.Issuer)
	if err != nil {
		return
	}
	var meta struct {
		Revocation string `json:"revocation_endpoint"`
	}
	if provider.Claims(&meta) != nil || meta.Revocation == "" {
		return
	}
	for _, t := range []struct{ token, hint string }{{l.RefreshToken, "refresh_token"}, {l.AccessToken, "access_token"}} {
		if t.token == "" {
			continue
		}
		form := url.Values{"token": {t.token}, "token_type_hint": {t.hint}, "client_id": {l.ClientID}}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, meta.Revocation, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := loginHTTP.Do(req)
		if err != nil {
			fmt.Fprintf(stderr, "warning: could not revoke the %s at %s: %v\n", strings.ReplaceAll(t.hint, "_", " "), l.Issuer, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			fmt.Fprintf(stderr, "warning: %s did not revoke the %s: %s\n", l.Issuer, strings.ReplaceAll(t.hint, "_", " "), resp.Status)
		}
	}
}
