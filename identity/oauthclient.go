package identity

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
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// The OAuth client side of a person logging in to a Warden server (the
// CLI's warden login): find the server's authorization servers, get tokens
// through a browser or the device flow, refresh and revoke them, and ask
// the server who a token names. The client is public (no secret).

// LoginTimeout bounds each HTTP request of LoginClient whose HTTP is nil.
const LoginTimeout = 30 * time.Second

// LoginClient runs the login flows. The zero value works: requests with a
// LoginTimeout, prompts discarded, no browser opened.
type LoginClient struct {
	// HTTP makes every request (nil: a client with LoginTimeout).
	HTTP *http.Client
	// Prompt receives what the person must do: the URL to open, the code
	// to enter. Never a token.
	Prompt io.Writer
	// OpenBrowser opens the authorization URL in the user's browser, if
	// one is available.
	OpenBrowser bool
}

func (c *LoginClient) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: LoginTimeout}
}

func (c *LoginClient) prompt() io.Writer {
	if c.Prompt != nil {
		return c.Prompt
	}
	return io.Discard
}

// oauthContext makes go-oidc and x/oauth2 use c's HTTP client.
func (c *LoginClient) oauthContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c.http())
}

// CheckTokenURL says what is wrong with a URL tokens would be sent to or
// fetched from ("" if nothing): it must be https, or http on a loopback
// host.
func CheckTokenURL(s string) string {
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

// ProtectedResource is the part of a server's OAuth protected resource
// metadata (RFC 9728) a login uses.
type ProtectedResource struct {
	Resource             string   `json:"resource"`
	AuthorizationServers []string `json:"authorization_servers"`
	Scopes               []string `json:"scopes_supported"`
}

// Discover finds the protected resource metadata of server (Warden's MCP
// URL): from the resource_metadata of the challenge to an unauthenticated
// request (RFC 9728 §5.1), else at the well-known URLs (§3.1). It fails
// unless the metadata describes server and names an authorization server.
func (c *LoginClient) Discover(ctx context.Context, server string) (*ProtectedResource, error) {
	su, err := url.Parse(server)
	if err != nil || su.Host == "" {
		return nil, fmt.Errorf("%q is not an absolute URL", server)
	}
	var candidates []string
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("reach %s: %w", server, err)
	}
	resp.Body.Close()
	for _, h := range resp.Header.Values("WWW-Authenticate") {
		if m := AuthParam(h, "resource_metadata"); m != "" {
			if mu, err := url.Parse(m); err == nil && mu.Scheme == su.Scheme && strings.EqualFold(mu.Host, su.Host) {
				candidates = append(candidates, m)
			}
		}
	}
	root := su.Scheme + "://" + su.Host + "/.well-known/oauth-protected-resource"
	candidates = append(candidates, root+su.Path, root)
	var lastErr error
	for _, cand := range candidates {
		res, err := c.fetchResource(ctx, cand)
		if err != nil {
			lastErr = err
			continue
		}
		if strings.TrimSuffix(res.Resource, "/") != server {
			return nil, fmt.Errorf("%s describes the resource %s, not %s: log in with --server %s", cand, res.Resource, server, res.Resource)
		}
		if len(res.AuthorizationServers) == 0 {
			return nil, fmt.Errorf("%s names no authorization server: this Warden does not accept tokens", cand)
		}
		return res, nil
	}
	return nil, fmt.Errorf("%s does not publish OAuth protected resource metadata (is identity.oidc configured?): %v", server, lastErr)
}

func (c *LoginClient) fetchResource(ctx context.Context, u string) (*ProtectedResource, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	var res ProtectedResource
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&res); err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	return &res, nil
}

// AuthParam returns the value of one parameter of a WWW-Authenticate
// challenge (quoted or not); "" if it has none.
func AuthParam(h, name string) string {
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

// Login is a login to start at one authorization server.
type Login struct {
	// Config is the public client at the issuer (see Configure).
	Config *oauth2.Config
	// Issuer is the authorization server; Resource is the Warden resource
	// the token is asked for (RFC 8707, as MCP clients must).
	Issuer, Resource string
}

// Configure discovers issuer (OpenID Connect discovery) and returns the
// login of public client clientID there, asking for openid,
// offline_access and scopes, for a token for resource.
func (c *LoginClient) Configure(ctx context.Context, issuer, clientID, resource string, scopes []string) (*Login, error) {
	if msg := CheckTokenURL(issuer); msg != "" {
		return nil, fmt.Errorf("authorization server %q: %s", issuer, msg)
	}
	provider, err := oidc.NewProvider(c.oauthContext(ctx), issuer)
	if err != nil {
		return nil, fmt.Errorf("discover the identity provider %s: %w", issuer, err)
	}
	endpoint := provider.Endpoint()
	endpoint.AuthStyle = oauth2.AuthStyleInParams // a public client: no secret
	return &Login{
		Config:   &oauth2.Config{ClientID: clientID, Endpoint: endpoint, Scopes: append([]string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess}, scopes...)},
		Issuer:   issuer,
		Resource: resource,
	}, nil
}

// Browser runs the authorization code flow with PKCE: it listens on
// 127.0.0.1 for the redirect, prompts the URL to open (and opens a browser
// if asked to and one is available), and exchanges the code it receives.
// A redirect with another state, or naming another issuer (RFC 9207), is
// refused. It sets l.Config.RedirectURL.
func (c *LoginClient) Browser(ctx context.Context, l *Login) (*oauth2.Token, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the login redirect: %w", err)
	}
	defer ln.Close()
	cfg := l.Config
	cfg.RedirectURL = fmt.Sprintf("http://%s/callback", ln.Addr())
	var b [32]byte
	rand.Read(b[:])
	state := base64.RawURLEncoding.EncodeToString(b[:])
	verifier := oauth2.GenerateVerifier()
	resource := oauth2.SetAuthURLParam("resource", l.Resource)
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
		if iss := q.Get("iss"); iss != "" && iss != l.Issuer {
			select {
			case done <- result{err: fmt.Errorf("the login response came from %s, not %s", iss, l.Issuer)}:
			default:
			}
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

	p := c.prompt()
	fmt.Fprintf(p, "To log in to %s, open this URL in a browser:\n\n  %s\n\n", l.Resource, authURL)
	if c.OpenBrowser && openBrowser(authURL) {
		fmt.Fprintln(p, "(A browser was opened.)")
	}
	fmt.Fprintf(p, "Waiting for the identity provider to send you back to %s ...\n", cfg.RedirectURL)
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("the login did not complete in time: %w", ctx.Err())
	}
	if res.err != nil {
		return nil, res.err
	}
	tok, err := cfg.Exchange(c.oauthContext(ctx), res.code, oauth2.VerifierOption(verifier), resource)
	if err != nil {
		return nil, fmt.Errorf("exchange the authorization code: %w", err)
	}
	return tok, nil
}

// Device runs the device authorization flow (RFC 8628): it prompts the
// code to enter and where, and polls until the login is approved, denied
// or ctx ends.
func (c *LoginClient) Device(ctx context.Context, l *Login) (*oauth2.Token, error) {
	if l.Config.Endpoint.DeviceAuthURL == "" {
		return nil, errors.New("the identity provider does not offer the device flow (no device_authorization_endpoint): log in without --device")
	}
	octx := c.oauthContext(ctx)
	resource := oauth2.SetAuthURLParam("resource", l.Resource)
	da, err := l.Config.DeviceAuth(octx, resource)
	if err != nil {
		return nil, fmt.Errorf("start the device login: %w", err)
	}
	p := c.prompt()
	fmt.Fprintf(p, "To log in to %s, open %s on any device and enter the code\n\n  %s\n\n", l.Resource, da.VerificationURI, da.UserCode)
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(p, "(or open %s)\n", da.VerificationURIComplete)
	}
	fmt.Fprintln(p, "Waiting for the login to be approved ...")
	tok, err := l.Config.DeviceAccessToken(octx, da, resource)
	if err != nil {
		return nil, fmt.Errorf("device login: %w", err)
	}
	return tok, nil
}

// Refresh returns tok if it is still valid, else a new token from
// tokenURL for public client clientID, through tok's refresh token. Its
// error never holds a token.
func (c *LoginClient) Refresh(ctx context.Context, clientID, tokenURL string, scopes []string, tok *oauth2.Token) (*oauth2.Token, error) {
	if tok.Valid() {
		return tok, nil
	}
	if tok.RefreshToken == "" {
		return nil, errors.New("the token has expired and has no refresh token")
	}
	cfg := oauth2.Config{ClientID: clientID, Endpoint: oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams}, Scopes: scopes}
	next, err := cfg.TokenSource(c.oauthContext(ctx), tok).Token()
	if err != nil {
		return nil, fmt.Errorf("refresh the token: %w", err)
	}
	return next, nil
}

// Revoke asks issuer to revoke the given tokens of clientID (RFC 7009),
// the refresh token first. It returns why a revocation did not happen,
// one error each; none if issuer offers no revocation endpoint (nothing
// can be done there).
func (c *LoginClient) Revoke(ctx context.Context, issuer, clientID, refreshToken, accessToken string) []error {
	provider, err := oidc.NewProvider(c.oauthContext(ctx), issuer)
	if err != nil {
		return nil
	}
	var meta struct {
		Revocation string `json:"revocation_endpoint"`
	}
	if provider.Claims(&meta) != nil || meta.Revocation == "" {
		return nil
	}
	var errs []error
	for _, t := range []struct{ token, hint string }{{refreshToken, "refresh_token"}, {accessToken, "access_token"}} {
		if t.token == "" {
			continue
		}
		what := strings.ReplaceAll(t.hint, "_", " ")
		form := url.Values{"token": {t.token}, "token_type_hint": {t.hint}, "client_id": {clientID}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, meta.Revocation, strings.NewReader(form.Encode()))
		if err != nil {
			errs = append(errs, fmt.Errorf("could not revoke the %s at %s: %w", what, issuer, err))
			continue
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := c.http().Do(req)
		if err != nil {
			errs = append(errs, fmt.Errorf("could not revoke the %s at %s: %w", what, issuer, err))
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			errs = append(errs, fmt.Errorf("%s did not revoke the %s: %s", issuer, what, resp.Status))
		}
	}
	return errs
}

// WhoAmI is Warden's answer to who a token's bearer is.
type WhoAmI struct {
	Subject string    `json:"subject"`
	Groups  []string  `json:"groups"`
	Issuer  string    `json:"issuer"`
	Expires time.Time `json:"expires_at"`
}

// WhoAmI asks the Warden server at server (its MCP URL) who token's
// bearer is. A refusal's error is the server's error_description.
func (c *LoginClient) WhoAmI(ctx context.Context, server, token string) (*WhoAmI, error) {
	u, err := url.Parse(server)
	if err != nil {
		return nil, err
	}
	u.Path = strings.TrimSuffix(u.Path, "/mcp") + "/whoami"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		reason := AuthParam(resp.Header.Get("WWW-Authenticate"), "error_description")
		if reason == "" {
			reason = resp.Status
		}
		return nil, fmt.Errorf("%s: %s", u, reason)
	}
	var who WhoAmI
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&who); err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	return &who, nil
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
