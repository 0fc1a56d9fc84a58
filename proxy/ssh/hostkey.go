package ssh

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// LoadHostKey reads the proxy's host key from file, making a new ed25519
// key there (mode 0600) if the file does not exist; created says so. A
// key file readable by others is refused, as sshd refuses one.
func LoadHostKey(file string) (signer xssh.Signer, created bool, err error) {
	raw, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		signer, err := createHostKey(file)
		return signer, err == nil, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("ssh host key: %w", err)
	}
	if fi, err := os.Stat(file); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, false, fmt.Errorf("ssh host key %s: mode %04o lets others read it: chmod 600 it", file, fi.Mode().Perm())
	}
	signer, err = xssh.ParsePrivateKey(raw)
	if err != nil {
		return nil, false, fmt.Errorf("ssh host key %s: not an unencrypted OpenSSH private key", file)
	}
	return signer, false, nil
}

func createHostKey(file string) (xssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := xssh.MarshalPrivateKey(priv, "warden ssh proxy")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, fmt.Errorf("ssh host key: %w", err)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ssh host key: %w", err)
	}
	if err := pem.Encode(f, block); err != nil {
		f.Close()
		os.Remove(file)
		return nil, fmt.Errorf("ssh host key: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(file)
		return nil, fmt.Errorf("ssh host key: %w", err)
	}
	return xssh.NewSignerFromKey(priv)
}

// KnownHostsLine is the known_hosts line that pins the proxy's key at
// address (host:port).
func KnownHostsLine(address string, key xssh.PublicKey) string {
	return knownhosts.Line([]string{knownhosts.Normalize(address)}, key)
}
