package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/mcp"
)

// How callers are identified: the wiring of identity.oidc, anonymous
// loopback access and WARDEN_TOKEN (docs/identity.md).

// tokenIdentifier validates bearer tokens from identity.oidc; nil when no
// issuer is configured.
func (a *app) tokenIdentifier() (*identity.OIDC, error) {
	if len(a.cfg.Identity.OIDC) == 0 {
		return nil, nil
	}
	return identity.NewOIDC(identity.OIDCOptions{Issuers: a.cfg.Identity.OIDC, Logger: a.logger.With("component", "identity")})
}

// httpIdentity returns who may call over HTTP: bearer tokens of the
// identity.oidc issuers, anonymous loopback clients as identity.local when
// allowed, or no one. With issuers, it also returns Warden's description as
// a protected resource (RFC 9728).
func (a *app) httpIdentity(ctx context.Context) (identity.Identifier, *mcp.ProtectedResource, error) {
	tokens, err := a.tokenIdentifier()
	if err != nil {
		return nil, nil, err
	}
	var resource *mcp.ProtectedResource
	if tokens != nil {
		id := a.cfg.Identity
		resource = &mcp.ProtectedResource{URL: id.Resource, AuthorizationServers: id.AuthorizationServers}
		for _, o := range id.OIDC {
			for _, s := range o.Scopes {
				if !slices.Contains(resource.Scopes, s) {
					resource.Scopes = append(resource.Scopes, s)
				}
			}
		}
		// Discovery runs in the background: a request that needs an issuer
		// before it is discovered waits for it.
		go func() {
			if err := tokens.Discover(ctx); err != nil {
				a.logger.Warn("an identity provider could not be reached; its tokens are refused until it can", "err", err)
			}
		}()
		a.logger.Info("accepting bearer tokens", "resource", id.Resource, "issuers", len(id.OIDC), "metadata", resource.MetadataURL())
	}
	switch {
	case a.cfg.Identity.AllowAnonymousLoopback:
		p, err := a.localPrincipal()
		if err != nil {
			return nil, nil, err
		}
		l := identity.Loopback{Principal: identity.Principal{Subject: p.Subject, Groups: p.Groups, Issuer: "anonymous-loopback"}}
		if tokens != nil {
			l.Tokens = tokens
		}
		return l, resource, nil
	case tokens != nil:
		return tokens, resource, nil
	}
	a.logger.Warn("no identity provider is configured for HTTP: every request will get 401 (set identity.oidc, or identity.allow_anonymous_loopback for local use)")
	return identity.Refuse{}, nil, nil
}

// stdioPrincipal is who a stdio client is: the caller named by the access
// token in WARDEN_TOKEN, validated exactly as an HTTP bearer token, when
// the variable is set; identity.local otherwise. A token that does not
// validate stops Warden: it never falls back to identity.local.
func (a *app) stdioPrincipal(ctx context.Context) (identity.Principal, error) {
	raw, set := os.LookupEnv("WARDEN_TOKEN")
	if !set {
		return a.localPrincipal()
	}
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return identity.Principal{}, errors.New("WARDEN_TOKEN is set but empty: set it to an access token, or unset it to act as identity.local")
	}
	tokens, err := a.tokenIdentifier()
	if err != nil {
		return identity.Principal{}, err
	}
	if tokens == nil {
		return identity.Principal{}, fmt.Errorf("WARDEN_TOKEN is set, but %s has no identity.oidc issuer to validate it", a.cfg.Path)
	}
	p, err := tokens.Verify(ctx, raw)
	var te *identity.TokenError
	switch {
	case errors.As(err, &te) && te.Cause != nil:
		return identity.Principal{}, fmt.Errorf("WARDEN_TOKEN refused: %s (%v)", te.Description, te.Cause)
	case errors.As(err, &te):
		return identity.Principal{}, fmt.Errorf("WARDEN_TOKEN refused: %s", te.Description)
	case err != nil:
		return identity.Principal{}, fmt.Errorf("cannot validate WARDEN_TOKEN: %w", err)
	}
	return p, nil
}
