package approvals

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/wardenhq/warden/identity"
)

// Paths of the approval pages.
const (
	PagePrefix  = "/approvals/"
	PageList    = "/approvals"
	PageHistory = "/approvals/history"
	PageLogin   = "/approvals/login"
	PageLogout  = "/approvals/logout"
	pageStatic  = "/approvals/static/style.css"

	// DefaultCallbackPath is where the browser login comes back to,
	// unless WebLogin.RedirectURL names another path.
	DefaultCallbackPath = "/approvals/callback"
)

// HTTPOptions configure the approval pages and API.
type HTTPOptions struct {
	// Identifier identifies API callers (bearer tokens), and page visitors
	// without a session when it accepts requests without credentials
	// (anonymous loopback). Required.
	Identifier identity.Identifier
	// Login signs people in to the pages; nil: only anonymous loopback
	// visitors can use them.
	Login *WebLogin
	// SessionTTL is how long a page session lasts (default 1h).
	SessionTTL time.Duration
	// Secure marks cookies Secure (Warden is reached over https).
	Secure bool
	Logger *slog.Logger
}

// TokenVerifier validates an access token as Warden validates bearer
// tokens (identity.OIDC).
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (identity.Principal, error)
}

// WebLogin is the pages' OpenID Connect login: the authorization code
// flow with PKCE for an access token to Warden's resource, validated by
// Verifier, so a person's identity and groups on the pages are exactly
// those their bearer tokens give them.
type WebLogin struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	RedirectURL  string
	// Resource is Warden's resource (RFC 8707), the audience of tokens.
	Resource string
	// Scopes to ask for besides openid.
	Scopes   []string
	Verifier TokenVerifier
	// HTTPClient talks to the provider (default: 30s timeout).
	HTTPClient *http.Client

	mu       sync.Mutex
	provider *oidc.Provider
}

func (l *WebLogin) config(ctx context.Context) (*oauth2.Config, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	client := l.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	if l.provider == nil {
		p, err := oidc.NewProvider(oidc.ClientContext(ctx, client), l.Issuer)
		if err != nil {
			return nil, fmt.Errorf("discover %s: %w", l.Issuer, err)
		}
		l.provider = p
	}
	ep := l.provider.Endpoint()
	if l.ClientSecret == "" {
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{ClientID: l.ClientID, ClientSecret: l.ClientSecret, Endpoint: ep, RedirectURL: l.RedirectURL,
		Scopes: append([]string{oidc.ScopeOpenID}, l.Scopes...)}, nil
}

func (l *WebLogin) callbackPath() string {
	if u, err := url.Parse(l.RedirectURL); err == nil && u.Path != "" {
		return u.Path
	}
	return DefaultCallbackPath
}

//go:embed web
var webFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"sql":  highlightSQL,
	"join": strings.Join,
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}).ParseFS(webFS, "web/*.html"))

// handler serves the API and the pages.
type handler struct {
	s      *Service
	o      HTTPOptions
	logger *slog.Logger
	csrf   *http.CrossOriginProtection

	mu      sync.Mutex
	pending map[string]pendingLogin // state -> login in progress
}

type pendingLogin struct {
	verifier string
	next     string
	expires  time.Time
}

// Mount serves the approval pages (PageList and below, and the login
// callback) and the JSON API (APIPrefix) on mux.
func (s *Service) Mount(mux *http.ServeMux, o HTTPOptions) {
	if o.Identifier == nil {
		o.Identifier = identity.Refuse{}
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = time.Hour
	}
	if o.Logger == nil {
		o.Logger = s.logger
	}
	h := &handler{s: s, o: o, logger: o.Logger, csrf: http.NewCrossOriginProtection(), pending: map[string]pendingLogin{}}
	h.mountAPI(mux)
	mux.HandleFunc("GET "+pageStatic, func(w http.ResponseWriter, r *http.Request) {
		b, _ := webFS.ReadFile("web/style.css")
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Write(b)
	})
	mux.Handle("GET "+PageList, h.page(h.list))
	mux.Handle("GET "+PageList+"/{$}", h.page(h.list))
	mux.Handle("GET "+PageHistory, h.page(h.history))
	mux.Handle("GET "+PagePrefix+"{id}", h.page(h.show))
	mux.Handle("POST "+PagePrefix+"{id}/decision", h.csrf.Handler(h.page(h.decide)))
	mux.HandleFunc("GET "+PageLogin, h.login)
	mux.Handle("POST "+PageLogout, h.csrf.Handler(http.HandlerFunc(h.logout)))
	if o.Login != nil {
		mux.HandleFunc("GET "+o.Login.callbackPath(), h.callback)
	}
}

const (
	sessionCookie = "warden_approvals"
	stateCookie   = "warden_approvals_login"
)

// visitor is a signed-in person on the pages.
type visitor struct {
	identity.Principal
	csrf string
}

// page identifies the visitor from their session (or, without one, as
// an anonymous loopback client where allowed, or by sending them to log
// in) and sets the headers every page carries.
func (h *handler) page(next func(http.ResponseWriter, *http.Request, *visitor)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		v, err := h.visitor(w, r)
		if err != nil {
			h.logger.Error("approval pages: session", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		if v == nil {
			if h.o.Login == nil {
				w.WriteHeader(http.StatusUnauthorized)
				h.render(w, "message.html", map[string]any{"Title": "Sign-in unavailable", "Tab": "",
					"Message": "This Warden has no browser sign-in: configure identity.oidc, or decide with `warden approvals` from the command line."})
				return
			}
			if r.Method != http.MethodGet {
				http.Error(w, "your session has ended: sign in again", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, PageLogin+"?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		next(w, r, v)
	})
}

func hashID(id string) string {
	s := sha256.Sum256([]byte(id))
	return hex.EncodeToString(s[:])
}

func randomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// visitor returns the signed-in visitor, nil when there is none.
func (h *handler) visitor(w http.ResponseWriter, r *http.Request) (*visitor, error) {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		ws, err := h.s.store.Session(r.Context(), hashID(c.Value), h.s.o.Now())
		switch {
		case err == nil:
			return &visitor{Principal: identity.Principal{Subject: ws.Subject, Issuer: ws.Issuer, Groups: ws.Groups}, csrf: ws.CSRF}, nil
		case !errors.Is(err, ErrNotFound):
			return nil, err
		}
	}
	if identity.HasCredentials(r) {
		return nil, nil
	}
	// Without credentials, the identifier accepts only anonymous
	// loopback clients (when allowed): they get a session too, so that
	// their forms carry a CSRF token like everyone's.
	p, err := h.o.Identifier.IdentifyHTTP(r.Context(), r)
	if err != nil {
		return nil, nil
	}
	return h.startSession(w, r, p)
}

func (h *handler) startSession(w http.ResponseWriter, r *http.Request, p identity.Principal) (*visitor, error) {
	id := randomToken()
	ws := WebSession{Subject: p.Subject, Issuer: p.Issuer, Groups: p.Groups, CSRF: randomToken(), Expires: h.s.o.Now().Add(h.o.SessionTTL)}
	if err := h.s.store.CreateSession(r.Context(), hashID(id), ws, h.s.o.Now()); err != nil {
		return nil, err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true, Secure: h.o.Secure,
		SameSite: http.SameSiteLaxMode, Expires: ws.Expires})
	return &visitor{Principal: p, csrf: ws.CSRF}, nil
}

func (h *handler) render(w http.ResponseWriter, name string, data map[string]any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		h.logger.Error("render approval page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}

func (h *handler) base(v *visitor, title string) map[string]any {
	return map[string]any{"Title": title, "Visitor": v, "CSRF": v.csrf, "CanLogout": h.o.Login != nil, "Tab": ""}
}

func (h *handler) list(w http.ResponseWriter, r *http.Request, v *visitor) {
	list, err := h.s.List(r.Context(), v.Principal, Filter{States: []State{StatePending, StateApproved}, Limit: 200})
	if err != nil {
		h.logger.Error("approval pages: list", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	data := h.base(v, "Pending approvals")
	data["Approvals"], data["Tab"] = rows(list, v), "pending"
	h.render(w, "list.html", data)
}

func (h *handler) history(w http.ResponseWriter, r *http.Request, v *visitor) {
	list, err := h.s.List(r.Context(), v.Principal, Filter{States: []State{StateDenied, StateExpired, StateExecuted, StateFailed}, Limit: 200})
	if err != nil {
		h.logger.Error("approval pages: history", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	data := h.base(v, "Approval history")
	data["Approvals"], data["Tab"] = rows(list, v), "history"
	h.render(w, "list.html", data)
}

// row is one request in a list.
type row struct {
	*Approval
	Mine    bool
	Summary string
}

func rows(list []*Approval, v *visitor) []row {
	out := make([]row, len(list))
	for i, a := range list {
		out[i] = row{Approval: a, Mine: a.Requester.Subject == v.Subject, Summary: a.Summary()}
	}
	return out
}

func (h *handler) show(w http.ResponseWriter, r *http.Request, v *visitor) {
	h.showWith(w, r, v, http.StatusOK, "", r.URL.Query().Get("done"))
}

func (h *handler) showWith(w http.ResponseWriter, r *http.Request, v *visitor, status int, problem, done string) {
	a, err := h.s.Show(r.Context(), v.Principal, r.PathValue("id"))
	if errors.Is(err, ErrNotFound) {
		w.WriteHeader(http.StatusNotFound)
		data := h.base(v, "Not found")
		data["Message"] = "There is no such request, or you may not see it."
		h.render(w, "message.html", data)
		return
	}
	if err != nil {
		h.logger.Error("approval pages: show", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	data := h.base(v, "Request "+a.ID)
	data["A"] = a
	data["Problem"] = problem
	if done == VerdictApprove || done == VerdictDeny {
		data["Done"] = done
	}
	if a.State == StatePending {
		if err := a.CanDecide(v.Subject, v.Groups); err != nil {
			data["Cannot"] = reason(err)
		} else if !slices.ContainsFunc(a.Decisions, func(d Decision) bool { return d.Approver == v.Subject }) {
			data["CanDecide"] = true
		}
	}
	data["Extra"] = extraArguments(a.Arguments)
	w.WriteHeader(status)
	h.render(w, "show.html", data)
}

// extraArguments renders the arguments the page does not show on their
// own (all but connection, sql and justification).
func extraArguments(raw json.RawMessage) string {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return string(raw)
	}
	delete(m, "connection")
	delete(m, "sql")
	delete(m, "justification")
	if len(m) == 0 {
		return ""
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func (h *handler) decide(w http.ResponseWriter, r *http.Request, v *visitor) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(v.csrf)) != 1 {
		h.logger.Warn("approval page: decision without a valid CSRF token refused", "approver", v.Subject, "remote", r.RemoteAddr)
		w.WriteHeader(http.StatusForbidden)
		data := h.base(v, "Refused")
		data["Message"] = "The form was not sent from this Warden's page (CSRF token missing or wrong). Reload the request and try again."
		h.render(w, "message.html", data)
		return
	}
	verdict := r.PostForm.Get("verdict")
	if verdict != VerdictApprove && verdict != VerdictDeny {
		http.Error(w, "verdict must be approve or deny", http.StatusBadRequest)
		return
	}
	id := r.PathValue("id")
	_, err := h.s.Decide(r.Context(), v.Principal, id, verdict, r.PostForm.Get("comment"), "web")
	if err != nil {
		status, _ := errorStatus(err)
		if status == http.StatusInternalServerError {
			h.logger.Error("approval page: decide", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		h.showWith(w, r, v, status, reason(err), "")
		return
	}
	http.Redirect(w, r, PagePrefix+url.PathEscape(id)+"?done="+verdict, http.StatusSeeOther)
}

// login starts the OpenID Connect authorization code flow with PKCE.
func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	next := r.URL.Query().Get("next")
	if !strings.HasPrefix(next, PageList) || strings.HasPrefix(next, "//") {
		next = PageList
	}
	if h.o.Login == nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	cfg, err := h.o.Login.config(r.Context())
	if err != nil {
		h.logger.Error("approval pages: login", "err", err)
		http.Error(w, "the identity provider cannot be reached; try again later", http.StatusServiceUnavailable)
		return
	}
	state, verifier := randomToken(), oauth2.GenerateVerifier()
	now := h.s.o.Now()
	h.mu.Lock()
	for k, p := range h.pending {
		if now.After(p.expires) {
			delete(h.pending, k)
		}
	}
	if len(h.pending) >= 10000 {
		h.mu.Unlock()
		http.Error(w, "too many logins in progress; try again later", http.StatusServiceUnavailable)
		return
	}
	h.pending[state] = pendingLogin{verifier: verifier, next: next, expires: now.Add(10 * time.Minute)}
	h.mu.Unlock()
	// The state is bound to this browser too, so that a login started
	// elsewhere cannot be finished here (login CSRF).
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: state, Path: h.o.Login.callbackPath(), HttpOnly: true,
		Secure: h.o.Secure, SameSite: http.SameSiteLaxMode, MaxAge: 600})
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if h.o.Login.Resource != "" {
		opts = append(opts, oauth2.SetAuthURLParam("resource", h.o.Login.Resource))
	}
	http.Redirect(w, r, cfg.AuthCodeURL(state, opts...), http.StatusFound)
}

// callback finishes the login: code for token, token validated like a
// bearer token, session started.
func (h *handler) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	c, err := r.Cookie(stateCookie)
	h.mu.Lock()
	p, ok := h.pending[state]
	delete(h.pending, state)
	h.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Path: h.o.Login.callbackPath(), MaxAge: -1})
	if !ok || err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(state)) != 1 || h.s.o.Now().After(p.expires) {
		http.Error(w, "this sign-in was not started here or has expired: start again from "+PageList, http.StatusBadRequest)
		return
	}
	if e := q.Get("error"); e != "" {
		http.Error(w, "the identity provider refused the sign-in: "+e+" "+q.Get("error_description"), http.StatusForbidden)
		return
	}
	cfg, err := h.o.Login.config(r.Context())
	if err != nil {
		http.Error(w, "the identity provider cannot be reached; try again later", http.StatusServiceUnavailable)
		return
	}
	client := h.o.Login.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	ctx := context.WithValue(r.Context(), oauth2.HTTPClient, client)
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(p.verifier))
	if err != nil {
		h.logger.Warn("approval pages: code exchange failed", "err", err)
		http.Error(w, "the sign-in could not be completed (code exchange failed); start again", http.StatusBadGateway)
		return
	}
	principal, err := h.o.Login.Verifier.Verify(r.Context(), tok.AccessToken)
	if err != nil {
		var te *identity.TokenError
		msg := "the identity provider's token was refused"
		if errors.As(err, &te) {
			msg += ": " + te.Description
		}
		h.logger.Warn("approval pages: token refused", "err", err)
		http.Error(w, msg, http.StatusForbidden)
		return
	}
	if _, err := h.startSession(w, r, principal); err != nil {
		h.logger.Error("approval pages: session", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h.logger.Info("signed in to the approval pages", "identity", principal.Subject, "issuer", principal.Issuer)
	http.Redirect(w, r, p.next, http.StatusSeeOther)
}

func (h *handler) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		ws, err := h.s.store.Session(r.Context(), hashID(c.Value), h.s.o.Now())
		if err == nil && subtle.ConstantTimeCompare([]byte(r.FormValue("csrf")), []byte(ws.CSRF)) == 1 {
			h.s.store.DeleteSession(r.Context(), hashID(c.Value), h.s.o.Now())
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	h.render(w, "message.html", map[string]any{"Title": "Signed out", "Tab": "", "Message": "You are signed out of Warden's approval pages."})
}
