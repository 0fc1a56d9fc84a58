// Package testoidc runs a real OpenID provider on loopback for tests: the
// op package of github.com/zitadel/oidc (discovery, JWKS, authorization
// code with PKCE, refresh tokens, device code, client credentials), with
// in-memory users, clients and rotatable signing keys, and a login form
// that tests fill in over HTTP.
//
// It is test support only: never import it from the warden binary.
package testoidc
