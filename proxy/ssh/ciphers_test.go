package ssh

import (
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"runtime"
	"slices"
	"testing"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/sys/cpu"
)

// TestCiphers: a client that asks for chacha20-poly1305 first, as
// OpenSSH's does, still logs in to a server with the proxy's ciphers;
// on amd64 with AES-NI, where chacha20 is not offered, one that allows
// nothing else is refused.
func TestCiphers(t *testing.T) {
	handshake := func(clientCiphers []string) error {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		hostKey, err := xssh.NewSignerFromKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		srv := &xssh.ServerConfig{Config: xssh.Config{Ciphers: ciphers()}, NoClientAuth: true}
		srv.AddHostKey(hostKey)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			a, err := ln.Accept()
			if err != nil {
				return
			}
			defer a.Close()
			if sc, chans, reqs, err := xssh.NewServerConn(a, srv); err == nil {
				go xssh.DiscardRequests(reqs)
				go func() {
					for range chans {
					}
				}()
				sc.Wait()
			}
		}()
		b, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		cc, _, _, err := xssh.NewClientConn(b, ln.Addr().String(), &xssh.ClientConfig{User: "u", HostKeyCallback: xssh.InsecureIgnoreHostKey(),
			Config: xssh.Config{Ciphers: clientCiphers}})
		if err == nil {
			cc.Close()
		}
		return err
	}
	if err := handshake([]string{xssh.CipherChaCha20Poly1305, xssh.CipherAES128CTR, xssh.CipherAES128GCM}); err != nil {
		t.Errorf("OpenSSH's order: %v", err)
	}
	aesOnly := runtime.GOARCH == "amd64" && cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ
	if got := slices.Contains(ciphers(), xssh.CipherChaCha20Poly1305); got == aesOnly {
		t.Errorf("chacha20-poly1305 offered: %v, with AES hardware on amd64: %v", got, aesOnly)
	}
	err := handshake([]string{xssh.CipherChaCha20Poly1305})
	if aesOnly && err == nil {
		t.Error("a chacha20-only client logged in, though the proxy does not offer it here")
	}
	if !aesOnly && err != nil {
		t.Errorf("a chacha20-only client: %v", err)
	}
}
