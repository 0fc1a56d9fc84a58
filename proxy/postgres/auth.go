package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/proxy"
)

// TokenVerifier validates access tokens (identity.OIDC).
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (identity.Principal, error)
}

// Authenticator says who a client is. The password a client presents is
// a Warden access token, never a database password:
//
//   - with a user name issued by `warden connect` (wt_...), the token that
//     came with it, checked by SCRAM-SHA-256: Warden keeps the SCRAM
//     verifier of every token it issued, so the token itself never
//     crosses the connection, even without TLS;
//   - otherwise an OIDC access token (a JWT), which Warden can only check
//     by reading it: asked for as a cleartext password, and only over TLS
//     or from a loopback address. The user name is then not used: the
//     token says who the client is.
type Authenticator struct {
	Tokens *proxy.Tokens
	OIDC   TokenVerifier
}

// authError is a refused login, worded for the client.
type authError struct{ code, msg string }

func (e *authError) Error() string { return e.msg }

func refused(format string, args ...any) error {
	return &authError{code: "28P01", msg: fmt.Sprintf(format, args...)}
}

// authenticate runs the authentication exchange and returns the
// principal. private says whether the connection is encrypted or local:
// cleartext passwords are asked for only then.
func (a Authenticator) authenticate(ctx context.Context, be *pgproto3.Backend, user, database string, private bool) (identity.Principal, error) {
	if a.Tokens != nil && proxy.IsTokenUser(user) {
		t := a.Tokens.Lookup(user)
		if err := scramExchange(be, t); err != nil {
			return identity.Principal{}, err
		}
		if !a.Tokens.Valid(t) {
			return identity.Principal{}, refused("password authentication failed for user %q: the token is unknown or has expired (run warden connect again)", user)
		}
		if t.Connection != database {
			return identity.Principal{}, refused("the token of user %q was issued for connection %q, not %q", user, t.Connection, database)
		}
		return t.Principal, nil
	}
	if !private {
		return identity.Principal{}, &authError{code: "28000", msg: "an access token is sent only over TLS: connect with sslmode=require"}
	}
	be.Send(&pgproto3.AuthenticationCleartextPassword{})
	if err := be.Flush(); err != nil {
		return identity.Principal{}, err
	}
	if err := be.SetAuthType(pgproto3.AuthTypeCleartextPassword); err != nil {
		return identity.Principal{}, err
	}
	msg, err := be.Receive()
	if err != nil {
		return identity.Principal{}, err
	}
	pm, ok := msg.(*pgproto3.PasswordMessage)
	if !ok {
		return identity.Principal{}, &authError{code: "08P01", msg: "expected a password message"}
	}
	raw := strings.TrimSpace(pm.Password)
	if raw == "" {
		return identity.Principal{}, refused("password authentication failed for user %q: the password must be a Warden access token", user)
	}
	// A token from warden connect sent in clear (a client that does not do
	// SCRAM): user:token.
	if a.Tokens != nil {
		if t := a.Tokens.LookupSecret(raw); t != nil {
			if !a.Tokens.Valid(t) || t.Connection != database {
				return identity.Principal{}, refused("password authentication failed for user %q: the token has expired or is for another connection", user)
			}
			return t.Principal, nil
		}
	}
	if a.OIDC == nil {
		return identity.Principal{}, refused("password authentication failed for user %q: this Warden accepts only tokens from warden connect (no identity.oidc issuer is configured)", user)
	}
	p, err := a.OIDC.Verify(ctx, raw)
	if err != nil {
		var te *identity.TokenError
		if errors.As(err, &te) {
			return identity.Principal{}, refused("password authentication failed for user %q: %s", user, te.Description)
		}
		if errors.Is(err, identity.ErrUnavailable) {
			return identity.Principal{}, &authError{code: "08006", msg: "the identity provider cannot be reached to check the token; try again later"}
		}
		return identity.Principal{}, refused("password authentication failed for user %q", user)
	}
	return p, nil
}

// scramExchange runs SCRAM-SHA-256 as the server (proxy.SCRAM), carried
// in PostgreSQL's SASL messages, against t's verifier. For an unknown token
// it runs against a random verifier, so that the exchange looks the same
// and fails at the end.
func scramExchange(be *pgproto3.Backend, t *proxy.Token) error {
	var v *proxy.Verifier
	if t != nil {
		v = &t.Verifier
	}
	x := proxy.NewSCRAM(v)
	be.Send(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256"}})
	if err := be.Flush(); err != nil {
		return err
	}
	if err := be.SetAuthType(pgproto3.AuthTypeSASL); err != nil {
		return err
	}
	msg, err := be.Receive()
	if err != nil {
		return err
	}
	init, ok := msg.(*pgproto3.SASLInitialResponse)
	if !ok || init.AuthMechanism != "SCRAM-SHA-256" {
		return &authError{code: "28000", msg: "expected SCRAM-SHA-256 (the only mechanism offered)"}
	}
	serverFirst, err := x.ServerFirst(init.Data)
	if err != nil {
		return scramError(err)
	}
	be.Send(&pgproto3.AuthenticationSASLContinue{Data: serverFirst})
	if err := be.Flush(); err != nil {
		return err
	}
	if err := be.SetAuthType(pgproto3.AuthTypeSASLContinue); err != nil {
		return err
	}
	msg, err = be.Receive()
	if err != nil {
		return err
	}
	resp, ok := msg.(*pgproto3.SASLResponse)
	if !ok {
		return &authError{code: "08P01", msg: "expected a SCRAM response"}
	}
	final, err := x.ServerFinal(resp.Data)
	if err != nil {
		return scramError(err)
	}
	be.Send(&pgproto3.AuthenticationSASLFinal{Data: final})
	return nil
}

// scramError words a failed exchange as PostgreSQL does.
func scramError(err error) error {
	if errors.Is(err, proxy.ErrSCRAMMismatch) {
		return refused("password authentication failed: the token does not match (run warden connect again)")
	}
	return &authError{code: "08P01", msg: err.Error()}
}

var _ TokenVerifier = (*identity.OIDC)(nil)
