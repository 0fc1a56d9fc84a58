package ssh

import (
	"crypto"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
)

// memKey is a certificate's private key. It lives only in memory and
// formats, logs and marshals as "[redacted]", so that a credential printed
// by mistake shows nothing of it.
type memKey struct{ k ed25519.PrivateKey }

// Public implements crypto.Signer.
func (m *memKey) Public() crypto.PublicKey { return m.k.Public() }

// Sign implements crypto.Signer.
func (m *memKey) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return m.k.Sign(r, digest, opts)
}

// Format prints "[redacted]" for every verb.
func (m *memKey) Format(f fmt.State, _ rune) { io.WriteString(f, "[redacted]") }

// String never shows the key.
func (m *memKey) String() string { return "[redacted]" }

// GoString never shows the key.
func (m *memKey) GoString() string { return "[redacted]" }

// LogValue never shows the key.
func (m *memKey) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// MarshalJSON never shows the key.
func (m *memKey) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

var (
	_ crypto.Signer  = (*memKey)(nil)
	_ slog.LogValuer = (*memKey)(nil)
	_ fmt.Formatter  = (*memKey)(nil)
	_ fmt.GoStringer = (*memKey)(nil)
)
