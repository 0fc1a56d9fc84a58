package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardenhq/warden/config"
	sshconn "github.com/wardenhq/warden/connectors/ssh"
)

func TestSSHCAInit(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ca")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"ssh-ca", "init", "--out", file}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, st.Mode())
	}
	ca, err := sshconn.LoadCA(config.SSHCA{PrivateKeyFile: file})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), ca.AuthorizedKey("warden-user-ca")) || !strings.HasPrefix(ca.AuthorizedKey(""), "ssh-ed25519 ") {
		t.Errorf("output lacks the CA's public line:\n%s", out.String())
	}
	key, _ := os.ReadFile(file)
	if strings.Contains(out.String(), string(bytes.Split(key, []byte("\n"))[1])) {
		t.Error("the private key was printed")
	}

	out.Reset()
	errb.Reset()
	if code := run(context.Background(), []string{"ssh-ca", "init", "--out", file}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "already exists") {
		t.Errorf("a second init over the same file: exit %d, %q", code, errb.String())
	}
	if again, _ := os.ReadFile(file); !bytes.Equal(again, key) {
		t.Error("the existing key was changed")
	}

	out.Reset()
	jfile := filepath.Join(dir, "ca2")
	if code := run(context.Background(), []string{"ssh-ca", "init", "--out", jfile, "--json", "--comment", "prod"}, &out, &errb); code != 0 {
		t.Fatalf("--json: exit %d", code)
	}
	var got map[string]string
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("--json output %q: %v", out.String(), err)
	}
	ca2, err := sshconn.LoadCA(config.SSHCA{PrivateKeyFile: jfile})
	if err != nil || got["public_key"] != ca2.AuthorizedKey("prod") || got["fingerprint"] != ca2.Fingerprint() || got["private_key_file"] != jfile {
		t.Errorf("--json: %v (%v)", got, err)
	}

	out.Reset()
	if code := run(context.Background(), []string{"ssh-ca", "init", "--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "--out") {
		t.Errorf("--help: exit %d, %q", code, out.String())
	}
	if code := run(context.Background(), []string{"ssh-ca", "--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "TrustedUserCAKeys") {
		t.Errorf("ssh-ca --help: exit %d", code)
	}
	if code := run(context.Background(), []string{"ssh-ca", "init"}, &out, &errb); code != 2 {
		t.Errorf("no --out: exit %d, want 2", code)
	}
}
