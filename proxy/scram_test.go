package proxy

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/wardenhq/warden/internal/scram"
)

// FuzzSCRAMMessages: the SCRAM messages a client sends are parsed before
// it is authenticated; nothing it sends may panic the proxy, and only a
// final message bound to the exchange's own nonce is accepted.
func FuzzSCRAMMessages(f *testing.F) {
	f.Add("n,,n=,r=abc", "c=biws,r=abcXYZ,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	f.Add("y,,n=user,r=0123456789", "c=eSws,r=0123456789SRV,p=")
	f.Add("p=tls-server-end-point,,n=,r=x", "")
	f.Add("n,,", ",p=")
	f.Fuzz(func(t *testing.T, first, final string) {
		gs2, bare, nonce, err := parseClientFirst(first)
		if err != nil {
			return
		}
		if !strings.HasSuffix(first, bare) || nonce == "" || strings.Contains(nonce, ",") {
			t.Fatalf("parsed %q into %q %q %q", first, gs2, bare, nonce)
		}
		full := nonce + "SERVER"
		without, proof, err := parseClientFinal(final, gs2, full)
		if err != nil {
			return
		}
		if !strings.Contains(without, ",r="+full) || len(proof) != 32 {
			t.Fatalf("accepted %q", final)
		}
	})
}

// clientFinal computes a client's final message for password, as a SCRAM
// client would (RFC 5802 section 3).
func clientFinal(t *testing.T, password, clientFirstBare, serverFirst string) string {
	t.Helper()
	var salt []byte
	var iter int
	var nonce string
	for _, f := range strings.Split(serverFirst, ",") {
		switch {
		case strings.HasPrefix(f, "r="):
			nonce = f[2:]
		case strings.HasPrefix(f, "s="):
			salt, _ = base64.StdEncoding.DecodeString(f[2:])
		case strings.HasPrefix(f, "i="):
			for _, c := range f[2:] {
				iter = iter*10 + int(c-'0')
			}
		}
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, iter, 32)
	if err != nil {
		t.Fatal(err)
	}
	clientKey := scram.HMAC(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	without := "c=biws,r=" + nonce
	sig := scram.HMAC(stored[:], clientFirstBare+","+serverFirst+","+without)
	proof := make([]byte, len(clientKey))
	for i := range proof {
		proof[i] = clientKey[i] ^ sig[i]
	}
	return without + ",p=" + base64.StdEncoding.EncodeToString(proof)
}

// TestSCRAMExchange: the right token logs in and gets the server's
// signature; a wrong one, or a user without a token, does not.
func TestSCRAMExchange(t *testing.T) {
	v, err := NewVerifier("the-token")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		v        *Verifier
		password string
		want     error
	}{
		{"right token", &v, "the-token", nil},
		{"wrong token", &v, "another", ErrSCRAMMismatch},
		{"unknown user", nil, "the-token", ErrSCRAMMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := NewSCRAM(tc.v)
			bare := "n=,r=clientnonce123"
			sf, err := x.ServerFirst([]byte("n,," + bare))
			if err != nil {
				t.Fatal(err)
			}
			final, err := x.ServerFinal([]byte(clientFinal(t, tc.password, bare, string(sf))))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want == nil && !strings.HasPrefix(string(final), "v=") {
				t.Errorf("server final = %q", final)
			}
		})
	}
	if _, err := NewSCRAM(&v).ServerFinal([]byte("c=biws,r=x,p=AAAA")); !errors.Is(err, ErrSCRAMMalformed) {
		t.Errorf("a final message before the first: %v", err)
	}
}
