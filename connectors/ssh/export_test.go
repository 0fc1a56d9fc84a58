package ssh

import (
	"crypto"
	"crypto/ed25519"

	xssh "golang.org/x/crypto/ssh"
)

// LoadSigner parses a CA key for tests that sign certificates themselves.
func LoadSigner(pemBytes []byte) (xssh.Signer, error) { return xssh.ParsePrivateKey(pemBytes) }

// PrivateKeyBytes reveals a minted key, for tests that look for it.
func PrivateKeyBytes(k crypto.Signer) ed25519.PrivateKey { return k.(*memKey).k }
