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
// LoginClient (oauthclient.go) is the other side, for a person logging in
// to a Warden server (warden login): it finds the server's authorization
// servers (RFC 9728), gets tokens as a public client through a browser
// (authorization code with PKCE, a loopback redirect, RFC 9207 issuer
// check) or the device flow (RFC 8628), refreshes and revokes them, and
// asks the server who a token names. Where tokens are kept is the CLI's.
//
// Front doors (mcp, proxy) identify every caller before the pipeline runs;
// nothing downstream trusts a name the caller merely claims. This package
// must never log or store a bearer token, nor put one in an error or a
// prompt: only claims derived from it (the token id is its jti claim).
package identity
