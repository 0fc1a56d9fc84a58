// Package identity says who is calling: a Principal (subject, groups, how it
// was established) and the Identifiers that produce one from what a front
// door received (a stdio process, an HTTP request).
//
// OIDC validates the JWT access tokens of trusted OpenID Connect issuers
// with github.com/coreos/go-oidc (issuer discovery, the issuer's published
// keys followed through rotation, signature, issuer, audience, expiry and
// not-before); it only chooses which issuer's verifier applies and maps
// the verified claims to a Principal. Loopback admits anonymous local
// clients for demos; Refuse admits no one. A refusal is a *TokenError
// carrying what RFC 6750 lets a front door tell the caller.
//
// Front doors (mcp, proxy) identify every caller before the pipeline runs;
// nothing downstream trusts a name the caller merely claims. This package
// must never log or store a bearer token, nor put one in an error: only
// claims derived from it (the token id is its jti claim).
package identity
