package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/wardenhq/warden/config"
)

// Defaults of OIDCOptions.
const (
	DefaultKeyRefreshInterval = 10 * time.Second
	DefaultDiscoveryRetry     = 10 * time.Second
	DefaultClockSkew          = 30 * time.Second
	defaultHTTPTimeout        = 10 * time.Second
)

// signingAlgs are the asymmetric algorithms go-oidc verifies. "none" and
// the HMAC algorithms are not among them: a token using one is malformed.
var signingAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// OIDCOptions configure an OIDC identifier.
type OIDCOptions struct {
	// Issuers are the trusted issuers, as validated by the config package
	// (defaults applied: Audience, SubjectClaim, Name). At least one.
	Issuers []config.OIDCIssuer
	// HTTPClient fetches discovery documents and signing keys
	// (default: a client with a 10 s timeout).
	HTTPClient *http.Client
	// Logger reports discovery (default: discard).
	Logger *slog.Logger
	// KeyRefreshInterval is the least time between two fetches of an
	// issuer's signing keys caused by tokens (default 10 s); see
	// keyFetchLimiter.
	KeyRefreshInterval time.Duration
	// DiscoveryRetry is the least time between two attempts to discover an
	// issuer that could not be reached (default 10 s).
	DiscoveryRetry time.Duration
	// ClockSkew is how long after its expiry a token is still accepted
	// (default 30 s). go-oidc itself accepts a not-before time up to five
	// minutes ahead.
	ClockSkew time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// OIDC identifies callers by the JWT access tokens of trusted OpenID
// Connect issuers. Tokens are validated by go-oidc (signature against the
// issuer's published keys, issuer, audience, expiry, not-before); OIDC
// only chooses which issuer's verifier applies, and turns the verified
// claims into a Principal.
type OIDC struct {
	issuers map[string]*issuer
	order   []*issuer
	opts    OIDCOptions
}

// issuer is one trusted issuer and its verifier, built on first use (or by
// Discover) from the issuer's discovery document.
type issuer struct {
	cfg config.OIDCIssuer

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
	lastTry  time.Time
	lastErr  error
}

// NewOIDC returns an identifier for opts.Issuers. It does not reach the
// issuers: call Discover to do so before serving.
func NewOIDC(opts OIDCOptions) (*OIDC, error) {
	if len(opts.Issuers) == 0 {
		return nil, errors.New("no OIDC issuer is configured")
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: defaultHTTPTimeout}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.KeyRefreshInterval <= 0 {
		opts.KeyRefreshInterval = DefaultKeyRefreshInterval
	}
	if opts.DiscoveryRetry <= 0 {
		opts.DiscoveryRetry = DefaultDiscoveryRetry
	}
	if opts.ClockSkew <= 0 {
		opts.ClockSkew = DefaultClockSkew
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	o := &OIDC{issuers: map[string]*issuer{}, opts: opts}
	for _, c := range opts.Issuers {
		if c.Issuer == "" || c.Audience == "" || c.SubjectClaim == "" {
			return nil, fmt.Errorf("OIDC issuer %q: issuer, audience and subject_claim are required", c.Issuer)
		}
		if _, dup := o.issuers[c.Issuer]; dup {
			return nil, fmt.Errorf("OIDC issuer %q is configured twice", c.Issuer)
		}
		if c.Name == "" {
			c.Name = c.Issuer
		}
		is := &issuer{cfg: c}
		o.issuers[c.Issuer] = is
		o.order = append(o.order, is)
	}
	return o, nil
}

// Discover fetches every issuer's discovery document now, so that the
// first caller does not wait for it and a configuration mistake shows at
// start. An issuer that cannot be reached is tried again when a token
// names it.
func (o *OIDC) Discover(ctx context.Context) error {
	var errs []error
	for _, is := range o.order {
		if _, err := o.verifierFor(ctx, is); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// IdentifyHTTP implements Identifier: the bearer token of r's
// Authorization header, verified.
func (o *OIDC) IdentifyHTTP(ctx context.Context, r *http.Request) (Principal, error) {
	token, err := BearerToken(r)
	if err != nil {
		return Principal{}, err
	}
	if token == "" {
		return Principal{}, &TokenError{Description: "a bearer token is required"}
	}
	return o.Verify(ctx, token)
}

// Verify validates a raw access token and returns its principal. A refused
// token is a *TokenError; an issuer that cannot be reached is an error
// wrapping ErrUnavailable.
func (o *OIDC) Verify(ctx context.Context, raw string) (Principal, error) {
	if len(raw) > MaxTokenBytes {
		return Principal{}, &TokenError{Code: CodeInvalidToken, Description: "the token is too large"}
	}
	// Read the claimed issuer, only to choose whose keys and rules apply;
	// go-oidc verifies everything, the issuer included, below.
	parsed, err := jwt.ParseSigned(raw, signingAlgs)
	if err != nil {
		return Principal{}, &TokenError{Code: CodeInvalidToken, Description: "the token is not a signed JWT of a supported algorithm", Cause: err}
	}
	var claimed struct {
		Issuer string `json:"iss"`
	}
	if err := parsed.UnsafeClaimsWithoutVerification(&claimed); err != nil {
		return Principal{}, &TokenError{Code: CodeInvalidToken, Description: "the token's claims cannot be read", Cause: err}
	}
	is, ok := o.issuers[claimed.Issuer]
	if !ok {
		return Principal{}, &TokenError{Code: CodeInvalidToken, Description: "the token's issuer is not trusted by this Warden", Issuer: truncate(claimed.Issuer)}
	}
	verifier, err := o.verifierFor(ctx, is)
	if err != nil {
		return Principal{}, err
	}
	tok, err := verifier.Verify(ctx, raw)
	if err != nil {
		return Principal{}, &TokenError{Code: CodeInvalidToken, Description: describeVerifyError(err), Issuer: is.cfg.Issuer, Cause: err}
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return Principal{}, &TokenError{Code: CodeInvalidToken, Description: "the token's claims cannot be read", Issuer: is.cfg.Issuer, Cause: err}
	}
	p, err := is.principal(claims)
	if err != nil {
		return Principal{}, err
	}
	p.Expires = tok.Expiry
	if missing := is.missingScopes(claims); len(missing) > 0 {
		return p, &TokenError{Code: CodeInsufficientScope, Description: "the token lacks the scope " + strings.Join(missing, " "), Scopes: is.cfg.Scopes, Issuer: is.cfg.Issuer}
	}
	return p, nil
}

// verifierFor returns is's verifier, discovering the issuer first if need
// be. A failed discovery is retried at most once per DiscoveryRetry.
func (o *OIDC) verifierFor(ctx context.Context, is *issuer) (*oidc.IDTokenVerifier, error) {
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.verifier != nil {
		return is.verifier, nil
	}
	now := o.opts.Now()
	if !is.lastTry.IsZero() && now.Sub(is.lastTry) < o.opts.DiscoveryRetry {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnavailable, is.cfg.Name, is.lastErr)
	}
	is.lastTry = now
	// Discovery is shared by every caller: the request that happens to run
	// it must not cancel it for the others.
	dctx, cancel := context.WithTimeout(oidc.ClientContext(context.WithoutCancel(ctx), o.opts.HTTPClient), defaultHTTPTimeout)
	defer cancel()
	provider, err := oidc.NewProvider(dctx, is.cfg.Issuer)
	if err != nil {
		is.lastErr = err
		o.opts.Logger.Warn("OIDC discovery failed; tokens from this issuer are refused until it succeeds", "issuer", is.cfg.Name, "err", err)
		return nil, fmt.Errorf("%w: %s: %v", ErrUnavailable, is.cfg.Name, err)
	}
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := provider.Claims(&meta); err != nil || meta.JWKSURI == "" {
		is.lastErr = errors.New("the discovery document has no jwks_uri")
		return nil, fmt.Errorf("%w: %s: %v", ErrUnavailable, is.cfg.Name, is.lastErr)
	}
	base := o.opts.HTTPClient.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	keys := &http.Client{
		Timeout:   o.opts.HTTPClient.Timeout,
		Transport: &keyFetchLimiter{base: base, url: meta.JWKSURI, interval: o.opts.KeyRefreshInterval, now: o.opts.Now},
	}
	skew := o.opts.ClockSkew
	is.verifier = provider.VerifierContext(oidc.ClientContext(context.Background(), keys), &oidc.Config{
		ClientID: is.cfg.Audience,
		// Expiry is checked against a clock set back by the skew, so a
		// token stays valid that long after it expires.
		Now: func() time.Time { return o.opts.Now().Add(-skew) },
	})
	is.lastErr = nil
	o.opts.Logger.Info("OIDC issuer discovered", "issuer", is.cfg.Name, "jwks_uri", meta.JWKSURI)
	return is.verifier, nil
}

// principal turns verified claims into a Principal.
func (is *issuer) principal(claims map[string]any) (Principal, error) {
	refuse := func(format string, args ...any) (Principal, error) {
		return Principal{}, &TokenError{Code: CodeInvalidToken, Description: fmt.Sprintf(format, args...), Issuer: is.cfg.Issuer}
	}
	c := is.cfg
	v, _ := lookupClaim(claims, c.SubjectClaim)
	subject, _ := v.(string)
	if !validName(subject, false) {
		return refuse("the token's %s claim is missing or is not a usable identity", c.SubjectClaim)
	}
	if c.SubjectClaim == "email" {
		if verified, ok := claims["email_verified"].(bool); ok && !verified {
			return refuse("the token's email address is not verified")
		}
	}
	p := Principal{Subject: c.SubjectPrefix + subject, Issuer: c.Issuer}
	if c.GroupsClaim != "" {
		v, _ := lookupClaim(claims, c.GroupsClaim)
		groups, err := parseGroups(v)
		if err != nil {
			return refuse("the token's %s claim cannot be read as groups: %v", c.GroupsClaim, err)
		}
		for _, g := range groups {
			p.Groups = append(p.Groups, c.GroupsPrefix+g)
		}
	}
	if jti, ok := claims["jti"].(string); ok && validName(jti, false) {
		p.TokenID = jti
	}
	return p, nil
}

// missingScopes returns the required scopes the token was not granted.
func (is *issuer) missingScopes(claims map[string]any) []string {
	if len(is.cfg.Scopes) == 0 {
		return nil
	}
	granted := scopesOf(claims)
	var missing []string
	for _, s := range is.cfg.Scopes {
		if !granted[s] {
			missing = append(missing, s)
		}
	}
	return missing
}

// describeVerifyError says, for the caller, why go-oidc refused a token.
func describeVerifyError(err error) string {
	var expired *oidc.TokenExpiredError
	msg := err.Error()
	switch {
	case errors.As(err, &expired):
		return "the token has expired"
	case strings.Contains(msg, "expected audience"):
		return "the token is not meant for this resource (audience)"
	case strings.Contains(msg, "before the nbf"):
		return "the token is not valid yet"
	case strings.Contains(msg, "signature"), strings.Contains(msg, "fetching keys"):
		return "the token's signature cannot be verified with the issuer's keys"
	case strings.Contains(msg, "different provider"):
		return "the token's issuer is not trusted by this Warden"
	}
	return "the token is not valid"
}

// truncate bounds a string taken from an unverified token before it is
// logged.
func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

var _ Identifier = (*OIDC)(nil)
