package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	sshconn "github.com/wardenhq/warden/connectors/ssh"
)

// runSSHCA is `warden ssh-ca init`: a new SSH user CA for ssh_ca.
func runSSHCA(_ context.Context, args []string, stdout, _ io.Writer) error {
	const synopsis = "ssh-ca init --out FILE [--comment TEXT] [--json]"
	if len(args) == 0 || args[0] != "init" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintf(stdout, "Usage: warden %s\n\nWrites a new ed25519 SSH user CA private key to FILE (mode 0600; an existing file is\nnever overwritten) and prints the public key line to put in each host's sshd\nTrustedUserCAKeys file. Point ssh_ca.private_key_file at FILE.\n", synopsis)
			return nil
		}
		return usageError{"expected a subcommand: warden " + synopsis}
	}
	fl := newFlags("ssh-ca init", synopsis, stdout)
	out := fl.String("out", "", "file to write the CA private key to (required; must not exist)")
	comment := fl.String("comment", "warden-user-ca", "comment in the key and its public line")
	asJSON := fl.Bool("json", false, "print the result as JSON")
	if err := parseFlags(fl, args[1:]); err != nil {
		return err
	}
	if *out == "" {
		return usageError{"--out FILE is required"}
	}
	if fl.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fl.Arg(0))}
	}
	pemBytes, ca, err := sshconn.GenerateCA(*comment)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists: refusing to overwrite a CA key (hosts may trust it)", *out)
		}
		return fmt.Errorf("create the CA key file: %w", err)
	}
	if _, err := f.Write(pemBytes); err != nil {
		f.Close()
		os.Remove(*out)
		return fmt.Errorf("write %s: %w", *out, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(*out)
		return fmt.Errorf("write %s: %w", *out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	abs, _ := filepath.Abs(*out)
	public := ca.AuthorizedKey(*comment)
	if *asJSON {
		return writeJSON(stdout, map[string]string{
			"private_key_file": abs,
			"public_key":       public,
			"fingerprint":      ca.Fingerprint(),
		})
	}
	fmt.Fprintf(stdout, "Wrote the CA private key to %s (mode 0600; keep it secret).\n", abs)
	fmt.Fprintf(stdout, "Fingerprint: %s\n\n", ca.Fingerprint())
	fmt.Fprintf(stdout, "On each host, append this line to the file sshd_config's TrustedUserCAKeys names:\n\n%s\n\n", public)
	fmt.Fprintf(stdout, "In warden.yaml:\n\nssh_ca:\n  private_key_file: %s\n", abs)
	return nil
}
