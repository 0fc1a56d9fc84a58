package postgres

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/wardenhq/warden/identity"
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
	Tokens *Tokens
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
	if a.Tokens != nil && IsTokenUser(user) {
		t := a.Tokens.lookup(user)
		if err := scramExchange(be, t); err != nil {
			return identity.Principal{}, err
		}
		if t == nil || !t.valid(a.Tokens.now()) {
			return identity.Principal{}, refused("password authentication failed for user %q: the token is unknown or has expired (run warden connect again)", user)
		}
		if t.connection != database {
			return identity.Principal{}, refused("the token of user %q was issued for connection %q, not %q", user, t.connection, database)
		}
		return t.principal, nil
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
		if t := a.Tokens.lookupSecret(raw); t != nil {
			if !t.valid(a.Tokens.now()) || t.connection != database {
				return identity.Principal{}, refused("password authentication failed for user %q: the token has expired or is for another connection", user)
			}
			return t.principal, nil
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

// scramExchange runs SCRAM-SHA-256 (RFC 5802, RFC 7677, without channel
// binding) as the server, against t's verifier. For an unknown token it
// runs against a random verifier, so that the exchange looks the same and
// fails at the end.
func scramExchange(be *pgproto3.Backend, t *issuedToken) error {
	v := verifier{}
	if t != nil {
		v = t.verifier
	} else {
		v = randomVerifier()
	}
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
	gs2, bare, cnonce, err := parseClientFirst(string(init.Data))
	if err != nil {
		return err
	}
	var sn [18]byte
	rand.Read(sn[:])
	nonce := cnonce + base64.StdEncoding.EncodeToString(sn[:])
	serverFirst := fmt.Sprintf("r=%s,s=%s,i=%d", nonce, base64.StdEncoding.EncodeToString(v.salt), v.iterations)
	be.Send(&pgproto3.AuthenticationSASLContinue{Data: []byte(serverFirst)})
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
	withoutProof, proof, err := parseClientFinal(string(resp.Data), gs2, nonce)
	if err != nil {
		return err
	}
	authMessage := bare + "," + serverFirst + "," + withoutProof
	sig := hmacSHA256(v.storedKey, authMessage)
	clientKey := make([]byte, len(proof))
	for j := range proof {
		clientKey[j] = proof[j] ^ sig[j]
	}
	got := sha256.Sum256(clientKey)
	if t == nil || subtle.ConstantTimeCompare(got[:], v.storedKey) != 1 {
		return refused("password authentication failed: the token does not match (run warden connect again)")
	}
	final := "v=" + base64.StdEncoding.EncodeToString(hmacSHA256(v.serverKey, authMessage))
	be.Send(&pgproto3.AuthenticationSASLFinal{Data: []byte(final)})
	return nil
}

// parseClientFirst reads a SCRAM client-first-message: the GS2 header
// (no channel binding), the bare message, and the client's nonce.
func parseClientFirst(clientFirst string) (gs2, bare, nonce string, err error) {
	switch {
	case strings.HasPrefix(clientFirst, "n,,"), strings.HasPrefix(clientFirst, "y,,"):
		gs2 = clientFirst[:3]
	default:
		return "", "", "", &authError{code: "08P01", msg: "malformed SCRAM message (channel binding is not supported)"}
	}
	bare = clientFirst[3:]
	for _, f := range strings.Split(bare, ",") {
		if strings.HasPrefix(f, "r=") {
			nonce = f[2:]
		}
	}
	if nonce == "" || len(nonce) > 256 || strings.ContainsAny(nonce, ",\x00") {
		return "", "", "", &authError{code: "08P01", msg: "malformed SCRAM message (nonce)"}
	}
	return gs2, bare, nonce, nil
}

// parseClientFinal reads a SCRAM client-final-message and checks its
// channel binding and nonce against the exchange's.
func parseClientFinal(clientFinal, gs2, nonce string) (withoutProof string, proof []byte, err error) {
	i := strings.LastIndex(clientFinal, ",p=")
	if i < 0 {
		return "", nil, &authError{code: "08P01", msg: "malformed SCRAM message (proof)"}
	}
	withoutProof, proofB64 := clientFinal[:i], clientFinal[i+3:]
	wantC := "c=" + base64.StdEncoding.EncodeToString([]byte(gs2))
	if !strings.HasPrefix(withoutProof, wantC+",r=") || withoutProof[len(wantC)+3:] != nonce {
		return "", nil, &authError{code: "08P01", msg: "malformed SCRAM message (channel binding or nonce mismatch)"}
	}
	proof, err = base64.StdEncoding.DecodeString(proofB64)
	if err != nil || len(proof) != sha256.Size {
		return "", nil, &authError{code: "08P01", msg: "malformed SCRAM message (proof)"}
	}
	return withoutProof, proof, nil
}

// verifier is what SCRAM needs to check a password without keeping it.
type verifier struct {
	salt                 []byte
	iterations           int
	storedKey, serverKey []byte
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func randomVerifier() verifier {
	b := make([]byte, 80)
	rand.Read(b)
	return verifier{salt: b[:16], iterations: scramIterations, storedKey: b[16:48], serverKey: b[48:80]}
}

// equalSecret compares two secrets in constant time.
func equalSecret(a, b []byte) bool {
	return len(a) == len(b) && subtle.ConstantTimeCompare(a, b) == 1 && !bytes.Equal(a, nil)
}

var _ TokenVerifier = (*identity.OIDC)(nil)
