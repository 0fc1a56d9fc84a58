package ssh

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	xssh "golang.org/x/crypto/ssh"

	"github.com/wardenhq/warden/config"
)

// CA is Warden's SSH user certificate authority: an ed25519 key that
// signs session certificates. It formats and logs as its fingerprint only.
type CA struct {
	signer xssh.Signer
}

// LoadCA reads the CA key ssh_ca names. Errors say where the key was to
// come from and what is wrong with it, never a byte of it.
func LoadCA(ref config.SSHCA) (*CA, error) {
	if ref.IsZero() {
		return nil, errors.New("ssh_ca: no private_key_file or private_key_env configured")
	}
	secret, err := ref.Ref().Resolve()
	if err != nil {
		// Resolve's errors name the source, never the value.
		return nil, fmt.Errorf("ssh_ca: %w", err)
	}
	ca, err := ParseCA([]byte(secret.Reveal()))
	if err != nil {
		return nil, fmt.Errorf("ssh_ca (%s): %w", ref.Ref().Describe(), err)
	}
	return ca, nil
}

// ParseCA parses an unencrypted ed25519 private key in OpenSSH or PKCS#8
// PEM form. Its errors never quote the input.
func ParseCA(pemBytes []byte) (*CA, error) {
	s, err := xssh.ParsePrivateKey(pemBytes)
	if err != nil {
		var pe *xssh.PassphraseMissingError
		if errors.As(err, &pe) {
			return nil, errors.New("the key is passphrase-protected; Warden needs it unencrypted (keep the file 0600)")
		}
		return nil, errors.New("not a PEM private key (make one with `warden ssh-ca init --out FILE`)")
	}
	return NewCA(s)
}

// NewCA wraps a signer as the CA; it must be ed25519.
func NewCA(s xssh.Signer) (*CA, error) {
	if t := s.PublicKey().Type(); t != xssh.KeyAlgoED25519 {
		return nil, fmt.Errorf("the CA key is %s; Warden's SSH CA must be ed25519", t)
	}
	return &CA{signer: s}, nil
}

// GenerateCA makes a new CA key: its private key as an OpenSSH PEM block
// (for a 0600 file) and the CA.
func GenerateCA(comment string) (pemBytes []byte, ca *CA, err error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	block, err := xssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, nil, fmt.Errorf("encode the CA key: %w", err)
	}
	s, err := xssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, nil, err
	}
	ca, err = NewCA(s)
	return pem.EncodeToMemory(block), ca, err
}

// PublicKey is the CA's public key.
func (c *CA) PublicKey() xssh.PublicKey { return c.signer.PublicKey() }

// AuthorizedKey is the CA's public key as one line, the form sshd's
// TrustedUserCAKeys file takes.
func (c *CA) AuthorizedKey(comment string) string {
	line := strings.TrimSpace(string(xssh.MarshalAuthorizedKey(c.signer.PublicKey())))
	if comment != "" {
		line += " " + comment
	}
	return line
}

// Fingerprint is the CA's public key fingerprint (SHA256:...).
func (c *CA) Fingerprint() string { return xssh.FingerprintSHA256(c.signer.PublicKey()) }

// String never shows the key.
func (c *CA) String() string { return "ssh user CA " + c.Fingerprint() }

// GoString never shows the key.
func (c *CA) GoString() string { return "ssh.CA(" + c.Fingerprint() + ")" }

// LogValue never shows the key.
func (c *CA) LogValue() slog.Value { return slog.StringValue(c.String()) }

var _ slog.LogValuer = (*CA)(nil)
