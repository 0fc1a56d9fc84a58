// Package scram computes SCRAM-SHA-256 verifiers (RFC 5802, RFC 7677):
// what a server keeps to check a password without keeping it. The wire
// proxy checks `warden connect` tokens against them (proxy.SCRAM); the
// PostgreSQL connector gives minted roles their password as one, so that
// the password never reaches the server's logs.
//
// It must never keep or return the password itself.
package scram

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// Iterations is the PBKDF2 cost of the verifiers made here. The passwords
// Warden makes are 32 random bytes, so the count does not protect them; it
// only has to be what clients accept.
const Iterations = 4096

// Verifier is what SCRAM-SHA-256 needs to check a password: the salt, the
// iteration count, and the stored and server keys.
type Verifier struct {
	Salt                 []byte
	Iterations           int
	StoredKey, ServerKey []byte
}

// NewVerifier computes password's verifier with a fresh salt.
func NewVerifier(password string) (Verifier, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return Verifier{}, err
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, Iterations, 32)
	if err != nil {
		return Verifier{}, err
	}
	stored := sha256.Sum256(HMAC(salted, "Client Key"))
	return Verifier{Salt: salt, Iterations: Iterations, StoredKey: stored[:], ServerKey: HMAC(salted, "Server Key")}, nil
}

// PostgreSQL is v as PostgreSQL stores it (CREATE ROLE ... PASSWORD).
func (v Verifier) PostgreSQL() string {
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", v.Iterations, b64(v.Salt), b64(v.StoredKey), b64(v.ServerKey))
}

// HMAC is HMAC-SHA-256 of msg under key.
func HMAC(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
