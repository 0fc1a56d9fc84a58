package auditlog

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Keys are ed25519 keys in the note format: a signing key is
// "PRIVATE+KEY+<name>+<hash>+<base64>", its verifier key (the public one)
// "<name>+<hash>+<base64>". `warden audit keygen` makes a pair.

// DefaultKeyName names the keys keygen makes unless told otherwise.
const DefaultKeyName = "warden-audit"

// GenerateKey returns a new signing key and its verifier key.
func GenerateKey(name string) (skey, vkey string, err error) {
	skey, vkey, err = note.GenerateKey(rand.Reader, name)
	if err != nil {
		return "", "", fmt.Errorf("auditlog: generate key %q: %w", name, err)
	}
	return skey, vkey, nil
}

// Signer is a signing key, ready to sign heads, with its verifier.
type Signer struct {
	note.Signer
	Verifier note.Verifier
	// VerifierKey is the public key, as `warden audit verify --key`
	// takes it.
	VerifierKey string
}

// errNotSigningKey never quotes the key.
var errNotSigningKey = errors.New(`not an audit signing key (want PRIVATE+KEY+<name>+<hash>+<base64>, as warden audit keygen writes it)`)

// NewSigner parses a signing key. Its errors never hold the key.
func NewSigner(skey string) (*Signer, error) {
	skey = strings.TrimSpace(skey)
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, errNotSigningKey
	}
	// PRIVATE+KEY+name+hash+base64(alg || seed): the verifier key is
	// derived from the seed.
	parts := strings.SplitN(skey, "+", 5)
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize {
		return nil, errNotSigningKey
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(s.Name(), pub)
	if err != nil {
		return nil, errNotSigningKey
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, errNotSigningKey
	}
	return &Signer{Signer: s, Verifier: v, VerifierKey: vkey}, nil
}

// NewVerifiers parses verifier keys ("<name>+<hash>+<base64>", one or more:
// the keys that signed over the log's life).
func NewVerifiers(vkeys ...string) (note.Verifiers, error) {
	var vs []note.Verifier
	for _, k := range vkeys {
		k = strings.TrimSpace(k)
		if strings.HasPrefix(k, "PRIVATE+KEY+") {
			return nil, errors.New("auditlog: a signing key was given where its public (verifier) key belongs; warden audit keygen prints it")
		}
		v, err := note.NewVerifier(k)
		if err != nil {
			return nil, fmt.Errorf("auditlog: verifier key %q: %w (want <name>+<hash>+<base64>)", k, err)
		}
		vs = append(vs, v)
	}
	if len(vs) == 0 {
		return nil, errors.New("auditlog: no verifier key")
	}
	return note.VerifierList(vs...), nil
}
