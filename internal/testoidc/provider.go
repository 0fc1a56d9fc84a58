package testoidc

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/oauth2"
	"golang.org/x/text/language"
)

// User is a person who can log in.
type User struct {
	Username, Password string // the username is also the subject (sub)
	Email              string
	EmailVerified      bool
	Groups             []string
	// Claims are added to the user's access tokens as they are.
	Claims map[string]any
}

// Client is an OAuth client. Without a Secret it is a public native
// application (authorization code with PKCE and a loopback redirect,
// refresh tokens, device code); with one it uses client credentials and
// its tokens' subject is its ID.
type Client struct {
	ID, Secret string
	// Audience is the aud of its access tokens (default Options.Audience).
	Audience []string
	// Groups and Claims go into its client-credentials tokens.
	Groups []string
	Claims map[string]any
}

// Options configure a provider.
type Options struct {
	// Issuer is the iss the provider writes (default: the URL it is
	// served at). An impostor names another provider's issuer.
	Issuer string
	// Audience is the default aud of access tokens.
	Audience []string
	Users    []User
	Clients  []Client
	// GroupsClaim is the claim that carries groups (default "groups").
	GroupsClaim string
	// TokenLifetime of access tokens (default 5 minutes).
	TokenLifetime time.Duration
}

// Provider is a running OpenID provider.
type Provider struct {
	// URL is where the provider is served; Issuer is what it writes in iss
	// (the same unless Options.Issuer was set).
	URL, Issuer string

	storage    *storage
	op         *op.Provider
	keyFetches atomic.Int64
}

// Start serves a provider on 127.0.0.1 until the test ends.
func Start(t testing.TB, o Options) *Provider {
	t.Helper()
	if o.GroupsClaim == "" {
		o.GroupsClaim = "groups"
	}
	if o.TokenLifetime == 0 {
		o.TokenLifetime = 5 * time.Minute
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{URL: "http://" + ln.Addr().String()}
	p.Issuer = o.Issuer
	if p.Issuer == "" {
		p.Issuer = p.URL
	}
	if p.storage, err = newStorage(o); err != nil {
		t.Fatal(err)
	}
	var cryptoKey [32]byte
	rand.Read(cryptoKey[:])
	p.op, err = op.NewProvider(&op.Config{
		CryptoKey:             cryptoKey,
		CodeMethodS256:        true,
		AuthMethodPost:        true,
		GrantTypeRefreshToken: true,
		SupportedUILocales:    []language.Tag{language.English},
		DeviceAuthorization: op.DeviceAuthorizationConfig{
			Lifetime: 5 * time.Minute, PollInterval: time.Second, UserFormPath: "/device", UserCode: op.UserCodeBase20,
		},
	}, p.storage, op.StaticIssuer(p.Issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	interceptor := op.NewIssuerInterceptor(p.op.IssuerFromRequest)
	mux := http.NewServeMux()
	mux.Handle("/login", interceptor.HandlerFunc(p.login))
	mux.HandleFunc("/device", p.device)
	mux.Handle("/", p.op)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/keys" {
			p.keyFetches.Add(1)
		}
		mux.ServeHTTP(w, r)
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return p
}

// login is the login form: GET shows it, POST checks the password and
// sends the browser back to the provider to finish the authorization.
func (p *Provider) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id := r.Form.Get("authRequestID")
	if r.Method == http.MethodPost {
		if err := p.storage.checkLogin(id, r.PostForm.Get("username"), r.PostForm.Get("password")); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		http.Redirect(w, r, op.AuthCallbackURL(p.op)(r.Context(), id), http.StatusFound)
		return
	}
	fmt.Fprintf(w, `<form method="post" action="/login"><input type="hidden" name="authRequestID" value="%s">`+
		`<input name="username"><input name="password" type="password"><button>Log in</button></form>`, html.EscapeString(id))
}

// device is the device-flow page: POST user_code, username and password
// to approve a device.
func (p *Provider) device(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		fmt.Fprint(w, `<form method="post"><input name="user_code"><input name="username"><input name="password" type="password"><button>Approve</button></form>`)
		return
	}
	if err := p.storage.approveDevice(r.FormValue("user_code"), r.FormValue("username"), r.FormValue("password")); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	fmt.Fprint(w, "Device approved. You can return to it.")
}

// Login plays a browser: it opens authorizeURL, logs in as username on
// the provider's form and follows the provider's redirects until one leaves
// the provider, which it returns without following (the client's redirect
// URI, carrying the code and state).
func (p *Provider) Login(t testing.TB, authorizeURL, username, password string) *url.URL {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	var out *url.URL
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), p.URL) {
			out = req.URL
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := c.Get(authorizeURL)
	if err != nil {
		t.Fatalf("open the authorization URL: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if out != nil {
		return out // already logged in, or an error sent back to the client
	}
	id := resp.Request.URL.Query().Get("authRequestID")
	if resp.StatusCode != http.StatusOK || id == "" {
		t.Fatalf("the authorization URL led to %s (%d), not the login form", resp.Request.URL, resp.StatusCode)
	}
	resp, err = c.PostForm(p.URL+"/login", url.Values{"authRequestID": {id}, "username": {username}, "password": {password}})
	if err != nil {
		t.Fatalf("log in: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if out == nil {
		t.Fatalf("logging in did not redirect to the client: %d %s", resp.StatusCode, body)
	}
	return out
}

// ApproveDevice approves the device that shows userCode, as username.
func (p *Provider) ApproveDevice(t testing.TB, userCode, username, password string) {
	t.Helper()
	resp, err := http.PostForm(p.URL+"/device", url.Values{"user_code": {userCode}, "username": {username}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("approve device %s: %d %s", userCode, resp.StatusCode, body)
	}
}

// ClientCredentials gets an access token for a confidential client, as a
// machine identity would.
func (p *Provider) ClientCredentials(t testing.TB, clientID, secret string, scopes ...string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, p.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		t.Fatalf("client credentials for %s: %d %s %s %v", clientID, resp.StatusCode, out.Error, out.Description, err)
	}
	return out.AccessToken
}

// RotateKey makes a new key the signing key. With retire, the old keys are
// no longer published, so tokens they signed stop verifying.
func (p *Provider) RotateKey(t testing.TB, retire bool) {
	t.Helper()
	if err := p.storage.rotate(retire); err != nil {
		t.Fatal(err)
	}
}

// Sign signs arbitrary claims with the provider's current key, as the
// provider would, for tokens it would never issue (expired, for another
// audience, ...).
func (p *Provider) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	k := p.storage.current()
	return SignWith(t, claims, jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k.key, KeyID: k.id}})
}

// PublicKey returns the current signing key's public half, for
// algorithm-confusion attacks.
func (p *Provider) PublicKey() any { return &p.storage.current().key.PublicKey }

// KeyID is the current signing key's id.
func (p *Provider) KeyID() string { return p.storage.current().id }

// KeyFetches counts the requests for the provider's JWKS.
func (p *Provider) KeyFetches() int64 { return p.keyFetches.Load() }

// SignWith signs claims with any key and algorithm.
func SignWith(t testing.TB, claims map[string]any, key jose.SigningKey) string {
	t.Helper()
	signer, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// UserToken runs the authorization code flow with PKCE for a public client,
// logging in as username, and returns the provider's tokens.
func (p *Provider) UserToken(t testing.TB, clientID, username, password string, scopes ...string) *oauth2.Token {
	t.Helper()
	cfg := oauth2.Config{
		ClientID:    clientID,
		Endpoint:    oauth2.Endpoint{AuthURL: p.URL + "/authorize", TokenURL: p.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: "http://127.0.0.1:9/callback",
		Scopes:      append([]string{"openid", "offline_access"}, scopes...),
	}
	verifier := oauth2.GenerateVerifier()
	back := p.Login(t, cfg.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier)), username, password)
	if back.Query().Get("state") != "state-1" || back.Query().Get("code") == "" {
		t.Fatalf("the provider redirected to %s", back)
	}
	tok, err := cfg.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange the code: %v", err)
	}
	return tok
}
