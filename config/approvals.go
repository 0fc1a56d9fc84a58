package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Approvals configures how calls held by review rules wait for a human
// (docs/approvals.md).
type Approvals struct {
	// Wait is how long a held call waits for a decision before it returns
	// a pending_approval result (default 30s).
	Wait time.Duration `yaml:"wait"`
	// MaxWait bounds the wait_seconds of await_approval (default 5m).
	MaxWait time.Duration `yaml:"max_wait"`
	// TTL is how long a request may be decided and, once approved, run
	// (default 1h).
	TTL time.Duration `yaml:"ttl"`
	// Approvers apply to review rules that name none.
	Approvers Approvers `yaml:"approvers"`
	// URL is where people reach Warden's approval pages
	// (https://warden.example.com), for links in webhooks and results.
	// Default: the origin of identity.resource, else http://listen.mcp.
	URL string `yaml:"url"`
	// Web configures the approval pages' browser login.
	Web ApprovalsWeb `yaml:"web"`
	// Webhooks are told of new requests and decisions.
	Webhooks []Webhook `yaml:"webhooks"`
}

// Approvers say who may approve a held call.
type Approvers struct {
	// Groups whose members may decide; the requester never may.
	Groups []string `yaml:"groups"`
	// Quorum is how many distinct approvers must approve (default 1).
	Quorum int `yaml:"quorum"`
}

// ApprovalsWeb configures the browser login of the approval pages: the
// OpenID Connect authorization code flow with PKCE against one of the
// identity.oidc issuers, for an access token Warden validates like any
// bearer token.
type ApprovalsWeb struct {
	// Issuer is the issuer to log in with (default: the first of
	// identity.authorization_servers).
	Issuer string `yaml:"issuer"`
	// ClientID is the OAuth client of the pages (default warden-cli).
	ClientID string `yaml:"client_id"`
	// ClientSecret, for a confidential client.
	ClientSecret SecretSource `yaml:"client_secret"`
	// RedirectURL is the client's registered redirect URI (default
	// <approvals.url>/approvals/callback); Warden serves it.
	RedirectURL string `yaml:"redirect_url"`
	// SessionTTL is how long a browser stays signed in (default 1h).
	SessionTTL time.Duration `yaml:"session_ttl"`
}

// Webhook is an endpoint told of approval events, with a Slack-compatible
// JSON body signed with HMAC-SHA256.
type Webhook struct {
	// Name names the webhook in logs (default: its host).
	Name string `yaml:"name"`
	// URL, or URLFrom when the URL itself is a secret (Slack's are).
	URL     string       `yaml:"url"`
	URLFrom SecretSource `yaml:"url_from"`
	// Secret keys the X-Warden-Signature HMAC.
	Secret SecretSource `yaml:"secret"`
	// Events sent (default: all of WebhookEvents).
	Events []string `yaml:"events"`
	// Timeout of one delivery attempt (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// Retries after a failed attempt, with exponential backoff (default 5).
	Retries *int `yaml:"retries"`
}

// SecretSource names where a secret is read from: an environment variable
// or a file (its trailing newline ignored).
type SecretSource struct {
	Env  string `yaml:"env"`
	File string `yaml:"file"`
}

// Ref returns the source as a SecretRef.
func (s SecretSource) Ref() SecretRef { return SecretRef(s) }

// WebhookEvents are the approval events a webhook can receive.
var WebhookEvents = []string{"requested", "partially_approved", "approved", "denied", "expired", "executed", "failed"}

// Defaults of the approvals section.
const (
	DefaultApprovalWait       = 30 * time.Second
	DefaultApprovalMaxWait    = 5 * time.Minute
	DefaultApprovalTTL        = time.Hour
	DefaultApprovalSessionTTL = time.Hour
	DefaultWebhookTimeout     = 10 * time.Second
	DefaultWebhookRetries     = 5
	DefaultApprovalsClientID  = "warden-cli"
	MaxApprovalQuorum         = 16
)

// validateApprovers checks a rule's approvers (path is its position).
func (c *Config) validateApprovers(path, label, effect string, a Approvers) Errors {
	var errs Errors
	add := func(p, format string, args ...any) { errs = append(errs, c.Errorf(p, format, args...)) }
	if effect != "review" && (len(a.Groups) > 0 || a.Quorum != 0) {
		add(path, "%s: approvers apply only to review rules", label)
	}
	errs = append(errs, c.checkApprovers(path, label+".approvers", a)...)
	return errs
}

func (c *Config) checkApprovers(path, label string, a Approvers) Errors {
	var errs Errors
	for j, g := range a.Groups {
		if !validIdentity(g) {
			errs = append(errs, c.Errorf(fmt.Sprintf("%s.groups[%d]", path, j), "%s.groups: %q is not a group name", label, g))
		}
	}
	if a.Quorum < 0 || a.Quorum > MaxApprovalQuorum {
		errs = append(errs, c.Errorf(path+".quorum", "%s.quorum: expected 1 to %d, got %d", label, MaxApprovalQuorum, a.Quorum))
	}
	return errs
}

// validateApprovals checks the approvals section and applies its defaults.
func (c *Config) validateApprovals() Errors {
	var errs Errors
	add := func(path, format string, args ...any) { errs = append(errs, c.Errorf(path, format, args...)) }
	a := &c.Approvals
	for _, d := range []struct {
		key string
		v   *time.Duration
		def time.Duration
	}{
		{"wait", &a.Wait, DefaultApprovalWait},
		{"max_wait", &a.MaxWait, DefaultApprovalMaxWait},
		{"ttl", &a.TTL, DefaultApprovalTTL},
		{"web.session_ttl", &a.Web.SessionTTL, DefaultApprovalSessionTTL},
	} {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v < time.Second:
			add("approvals."+d.key, "approvals.%s: must be at least 1s, got %s", d.key, *d.v)
		}
	}
	if a.Wait > a.MaxWait {
		add("approvals.wait", "approvals.wait (%s) is longer than approvals.max_wait (%s)", a.Wait, a.MaxWait)
	}
	errs = append(errs, c.checkApprovers("approvals.approvers", "approvals.approvers", a.Approvers)...)
	if a.URL != "" {
		if msg := checkHTTPURL(a.URL); msg != "" {
			add("approvals.url", "approvals.url: %s, got %q", msg, a.URL)
		}
		a.URL = strings.TrimSuffix(a.URL, "/")
	}
	w := &a.Web
	if w.ClientID == "" {
		w.ClientID = DefaultApprovalsClientID
	}
	if w.Issuer != "" && !c.hasIssuer(w.Issuer) {
		add("approvals.web.issuer", "approvals.web.issuer: %q is not one of the identity.oidc issuers", w.Issuer)
	}
	if w.RedirectURL != "" {
		if msg := checkHTTPURL(w.RedirectURL); msg != "" {
			add("approvals.web.redirect_url", "approvals.web.redirect_url: %s, got %q", msg, w.RedirectURL)
		} else if u, _ := url.Parse(w.RedirectURL); strings.Trim(u.Path, "/") == "" {
			add("approvals.web.redirect_url", "approvals.web.redirect_url: needs a path (Warden serves the login callback there), got %q", w.RedirectURL)
		}
	}
	errs = append(errs, c.checkSecretSource("approvals.web.client_secret", w.ClientSecret)...)
	for i := range a.Webhooks {
		errs = append(errs, c.validateWebhook(i)...)
	}
	return errs
}

func (c *Config) hasIssuer(issuer string) bool {
	for _, o := range c.Identity.OIDC {
		if o.Issuer == issuer {
			return true
		}
	}
	return false
}

func (c *Config) checkSecretSource(path string, s SecretSource) Errors {
	if s.Env != "" && s.File != "" {
		return Errors{c.Errorf(path, "%s: set env or file, not both", path)}
	}
	return nil
}

// resolveSecretSource makes a file source absolute.
func (c *Config) resolveSecretSource(s *SecretSource) {
	if s.File != "" {
		s.File = c.resolve(s.File)
	}
}

func (c *Config) validateWebhook(i int) Errors {
	var errs Errors
	p := fmt.Sprintf("approvals.webhooks[%d]", i)
	add := func(path, format string, args ...any) { errs = append(errs, c.Errorf(path, format, args...)) }
	w := &c.Approvals.Webhooks[i]
	fromSecret := w.URLFrom.Env != "" || w.URLFrom.File != ""
	switch {
	case w.URL == "" && !fromSecret:
		add(p, "%s: url or url_from is required", p)
	case w.URL != "" && fromSecret:
		add(p, "%s: set url or url_from, not both", p)
	case w.URL != "":
		if msg := CheckWebhookURL(w.URL); msg != "" {
			add(p+".url", "%s.url: %s", p, msg)
		}
	}
	if w.Name == "" {
		if u, err := url.Parse(w.URL); err == nil && u.Host != "" {
			w.Name = u.Host
		} else {
			w.Name = fmt.Sprintf("webhook-%d", i+1)
		}
	}
	errs = append(errs, c.checkSecretSource(p+".url_from", w.URLFrom)...)
	errs = append(errs, c.checkSecretSource(p+".secret", w.Secret)...)
	if w.Secret.Env == "" && w.Secret.File == "" {
		add(p+".secret", "%s.secret: a signing secret is required (env or file): receivers check X-Warden-Signature with it", p)
	}
	c.resolveSecretSource(&w.URLFrom)
	c.resolveSecretSource(&w.Secret)
	for j, e := range w.Events {
		if !contains(WebhookEvents, e) {
			add(fmt.Sprintf("%s.events[%d]", p, j), "%s.events: unknown event %q (expected %s)", p, e, strings.Join(WebhookEvents, ", "))
		}
	}
	if len(w.Events) == 0 {
		w.Events = append([]string(nil), WebhookEvents...)
	}
	if w.Timeout == 0 {
		w.Timeout = DefaultWebhookTimeout
	} else if w.Timeout < 0 {
		add(p+".timeout", "%s.timeout: must be positive, got %s", p, w.Timeout)
	}
	if w.Retries == nil {
		n := DefaultWebhookRetries
		w.Retries = &n
	} else if *w.Retries < 0 || *w.Retries > 20 {
		add(p+".retries", "%s.retries: expected 0 to 20, got %d", p, *w.Retries)
	}
	return errs
}

// CheckWebhookURL says what is wrong with a webhook URL, or "": an
// absolute https URL (http only to a loopback host), without user
// information.
func CheckWebhookURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "expected an absolute https:// URL"
	}
	if u.User != nil {
		return "expected a URL without user information"
	}
	if u.Scheme == "http" {
		host := u.Hostname()
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return "expected an https:// URL (http:// is accepted only for localhost)"
		}
	}
	return ""
}
