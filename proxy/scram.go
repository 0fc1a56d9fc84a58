package proxy

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/wardenhq/warden/internal/scram"
)

// SCRAMIterations is the PBKDF2 cost of issued tokens' verifiers.
const SCRAMIterations = scram.Iterations

// Verifier is what SCRAM-SHA-256 needs to check a token without keeping
// it (internal/scram).
type Verifier = scram.Verifier

// NewVerifier computes password's verifier with a fresh salt.
func NewVerifier(password string) (Verifier, error) { return scram.NewVerifier(password) }

// randomVerifier matches no password: an exchange for an unknown user
// runs against one, so that it looks the same and fails at the end.
func randomVerifier() Verifier {
	b := make([]byte, 80)
	rand.Read(b)
	return Verifier{Salt: b[:16], Iterations: SCRAMIterations, StoredKey: b[16:48], ServerKey: b[48:80]}
}

// SCRAM errors. ErrSCRAMMalformed: a client message that is not SCRAM
// (or asks for channel binding, which is not offered); ErrSCRAMMismatch:
// the proof does not match (a wrong or unknown password).
var (
	ErrSCRAMMalformed = errors.New("malformed SCRAM message")
	ErrSCRAMMismatch  = errors.New("SCRAM proof does not match")
)

// SCRAM is the server's side of one SCRAM-SHA-256 exchange (RFC 5802,
// RFC 7677, without channel binding). The engine carries its messages in
// its protocol's frames.
type SCRAM struct {
	v     Verifier
	known bool

	gs2, bare, nonce, serverFirst string
}

// NewSCRAM starts an exchange against v; nil (an unknown user) runs
// against a random verifier and fails at the end.
func NewSCRAM(v *Verifier) *SCRAM {
	if v == nil {
		return &SCRAM{v: randomVerifier()}
	}
	return &SCRAM{v: *v, known: true}
}

// ServerFirst answers the client-first-message.
func (x *SCRAM) ServerFirst(clientFirst []byte) ([]byte, error) {
	gs2, bare, cnonce, err := parseClientFirst(string(clientFirst))
	if err != nil {
		return nil, err
	}
	var sn [18]byte
	rand.Read(sn[:])
	x.gs2, x.bare = gs2, bare
	x.nonce = cnonce + base64.StdEncoding.EncodeToString(sn[:])
	x.serverFirst = fmt.Sprintf("r=%s,s=%s,i=%d", x.nonce, base64.StdEncoding.EncodeToString(x.v.Salt), x.v.Iterations)
	return []byte(x.serverFirst), nil
}

// ServerFinal checks the client-final-message's proof and returns the
// server's signature for the client to check. An error means the client
// is not authenticated.
func (x *SCRAM) ServerFinal(clientFinal []byte) ([]byte, error) {
	if x.serverFirst == "" {
		return nil, fmt.Errorf("%w (final message before the first)", ErrSCRAMMalformed)
	}
	withoutProof, proof, err := parseClientFinal(string(clientFinal), x.gs2, x.nonce)
	if err != nil {
		return nil, err
	}
	authMessage := x.bare + "," + x.serverFirst + "," + withoutProof
	sig := scram.HMAC(x.v.StoredKey, authMessage)
	clientKey := make([]byte, len(proof))
	for j := range proof {
		clientKey[j] = proof[j] ^ sig[j]
	}
	got := sha256.Sum256(clientKey)
	if !x.known || subtle.ConstantTimeCompare(got[:], x.v.StoredKey) != 1 {
		return nil, ErrSCRAMMismatch
	}
	return []byte("v=" + base64.StdEncoding.EncodeToString(scram.HMAC(x.v.ServerKey, authMessage))), nil
}

// parseClientFirst reads a SCRAM client-first-message: the GS2 header
// (no channel binding), the bare message, and the client's nonce.
func parseClientFirst(clientFirst string) (gs2, bare, nonce string, err error) {
	switch {
	case strings.HasPrefix(clientFirst, "n,,"), strings.HasPrefix(clientFirst, "y,,"):
		gs2 = clientFirst[:3]
	default:
		return "", "", "", fmt.Errorf("%w (channel binding is not supported)", ErrSCRAMMalformed)
	}
	bare = clientFirst[3:]
	for _, f := range strings.Split(bare, ",") {
		if strings.HasPrefix(f, "r=") {
			nonce = f[2:]
		}
	}
	if nonce == "" || len(nonce) > 256 || strings.ContainsAny(nonce, ",\x00") {
		return "", "", "", fmt.Errorf("%w (nonce)", ErrSCRAMMalformed)
	}
	return gs2, bare, nonce, nil
}

// parseClientFinal reads a SCRAM client-final-message and checks its
// channel binding and nonce against the exchange's.
func parseClientFinal(clientFinal, gs2, nonce string) (withoutProof string, proof []byte, err error) {
	i := strings.LastIndex(clientFinal, ",p=")
	if i < 0 {
		return "", nil, fmt.Errorf("%w (proof)", ErrSCRAMMalformed)
	}
	withoutProof, proofB64 := clientFinal[:i], clientFinal[i+3:]
	wantC := "c=" + base64.StdEncoding.EncodeToString([]byte(gs2))
	if !strings.HasPrefix(withoutProof, wantC+",r=") || withoutProof[len(wantC)+3:] != nonce {
		return "", nil, fmt.Errorf("%w (channel binding or nonce mismatch)", ErrSCRAMMalformed)
	}
	proof, err = base64.StdEncoding.DecodeString(proofB64)
	if err != nil || len(proof) != sha256.Size {
		return "", nil, fmt.Errorf("%w (proof)", ErrSCRAMMalformed)
	}
	return withoutProof, proof, nil
}

// EqualSecret compares two secrets in constant time.
func EqualSecret(a, b []byte) bool {
	return len(a) == len(b) && subtle.ConstantTimeCompare(a, b) == 1 && !bytes.Equal(a, nil)
}
