package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/wardenhq/warden/audit/auditlog"
	"github.com/wardenhq/warden/config"
)

// The audit log's commands: warden audit verify, export and keygen
// (docs/audit.md, "Tamper evidence").

// listFlag is a flag that may be given more than once.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// readKeyArg is a --key value: a verifier key, or a file that holds one.
func readKeyArg(v string) (string, error) {
	if _, err := note.NewVerifier(v); err == nil {
		return v, nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return "", fmt.Errorf("--key %s: not a verifier key (<name>+<hash>+<base64>), nor a file: %w", v, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// verifiersOf returns the keys given with --key, or else the verifier of
// the configured signing key; nil if neither.
func verifiersOf(keys []string, signer *auditlog.Signer) (note.Verifiers, error) {
	if len(keys) == 0 {
		if signer == nil {
			return nil, nil
		}
		return note.VerifierList(signer.Verifier), nil
	}
	vkeys := make([]string, len(keys))
	for i, k := range keys {
		var err error
		if vkeys[i], err = readKeyArg(k); err != nil {
			return nil, usageError{err.Error()}
		}
	}
	vs, err := auditlog.NewVerifiers(vkeys...)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	return vs, nil
}

func auditVerify(ctx context.Context, args []string, stdout io.Writer) error {
	fl := newFlags("audit verify", "audit verify [--json] [--key PUB]... [--checkpoint FILE]... | --export FILE --key PUB", stdout)
	cfgPath := configFlag(fl)
	asJSON := fl.Bool("json", false, "print the report as JSON")
	var keys, anchors listFlag
	fl.Var(&keys, "key", "a verifier (public) key the log may be signed with, or a file holding one, as warden audit keygen prints it (repeatable; default: the one of audit.signing_key_*)")
	fl.Var(&anchors, "checkpoint", "a file holding a checkpoint kept outside the store (an export's, a published one): the log must extend it (repeatable)")
	export := fl.String("export", "", "verify an export written by warden audit export instead of the store (needs --key, not the store)")
	if err := parseFlags(fl, args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fl.Arg(0))}
	}
	if *export != "" {
		if len(keys) == 0 {
			return usageError{"--export needs --key PUB: the verifier key of the Warden that signed it"}
		}
		return verifyExportFile(*export, keys, *asJSON, stdout)
	}

	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	so, err := configStoreOptions(cfg, nil)
	if err != nil {
		return err
	}
	verifiers, err := verifiersOf(keys, so.signer)
	if err != nil {
		return err
	}
	var notes []string
	for _, f := range anchors {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("--checkpoint: %w", err)
		}
		notes = append(notes, checkpointNote(b))
	}
	store, err := openConfigStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	lg, ok := store.(auditlog.Store)
	if !ok {
		return fmt.Errorf("the %s store keeps no audit log", strings.SplitN(cfg.Store, "://", 2)[0])
	}
	rep, err := lg.VerifyLog(ctx, auditlog.VerifyOptions{Verifiers: verifiers, Anchors: notes})
	if err != nil {
		return err
	}
	if *asJSON {
		if err := writeJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		printReport(stdout, rep)
	}
	if !rep.OK {
		return errSilent
	}
	return nil
}

// checkpointNote is the checkpoint note a --checkpoint file holds: the
// note itself, or an export (its first line's note).
func checkpointNote(b []byte) string {
	s := string(b)
	if strings.HasPrefix(s, "{") {
		line, _, _ := strings.Cut(s, "\n")
		var cp struct {
			Note string `json:"note"`
		}
		if json.Unmarshal([]byte(line), &cp) == nil && cp.Note != "" {
			return cp.Note
		}
	}
	return s
}

func printReport(w io.Writer, rep *auditlog.Report) {
	fmt.Fprintf(w, "audit log %s: %d leaves: %d events (%d earlier versions of them), %d recording chunks\n",
		rep.Origin, rep.Leaves, rep.Events, rep.Revisions, rep.Chunks)
	fmt.Fprintf(w, "signatures: %s\n", rep.Signatures)
	if rep.Latest != nil {
		fmt.Fprintf(w, "checkpoints: %d; the latest, of %d leaves, %s; %d leaves since, covered by their signed batch heads\n",
			rep.Checkpoints, rep.Latest.Size, rep.Latest.Time.Local().Format(time.RFC3339), rep.Uncheckpointed)
	} else {
		fmt.Fprintf(w, "checkpoints: none yet; %d leaves covered by their signed batch heads\n", rep.Uncheckpointed)
	}
	fmt.Fprintf(w, "verified in %.2fs\n", rep.Seconds)
	printProblemsOf(w, rep.Problems)
}

func printProblemsOf(w io.Writer, problems []auditlog.Problem) {
	if len(problems) == 0 {
		fmt.Fprintln(w, "OK")
		return
	}
	fmt.Fprintf(w, "FAILED: %d problem%s; the first: %s\n", len(problems), pluralS(len(problems)), problems[0].Detail)
	const most = 20
	for _, p := range problems[:min(len(problems), most)] {
		fmt.Fprintf(w, "  %-9s %s\n", p.Kind, p.Detail)
	}
	if len(problems) > most {
		fmt.Fprintf(w, "  ... and %d more (--json lists them all)\n", len(problems)-most)
	}
}

func verifyExportFile(path string, keys []string, asJSON bool, stdout io.Writer) error {
	verifiers, err := verifiersOf(keys, nil)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rep, err := auditlog.VerifyExport(f, verifiers)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if asJSON {
		if err := writeJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "export %s: checkpoint of log %s, %d leaves, signature checked\n", path, rep.Checkpoint.Origin, rep.Checkpoint.Size)
		fmt.Fprintf(stdout, "%d events and %d recording chunks, each proven in it, in %.2fs\n", rep.Events, rep.Chunks, rep.Seconds)
		printProblemsOf(stdout, rep.Problems)
	}
	if !rep.OK {
		return errSilent
	}
	return nil
}

func auditExport(ctx context.Context, args []string, stdout io.Writer) error {
	fl := newFlags("audit export", "audit export [--since 24h|RFC3339] --out FILE|-", stdout)
	cfgPath := configFlag(fl)
	since := fl.String("since", "", "only events since a duration ago (24h) or a time (RFC 3339), and their recordings; default: all")
	out := fl.String("out", "", "file to write (must not exist), or - for stdout (required)")
	if err := parseFlags(fl, args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fl.Arg(0))}
	}
	if *out == "" {
		return usageError{"--out FILE (or - for stdout) is required"}
	}
	var o auditlog.ExportOptions
	if *since != "" {
		t, err := parseSince(*since, time.Now())
		if err != nil {
			return usageError{err.Error()}
		}
		o.Since = t
	}
	store, err := openStore(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer store.Close()
	lg, ok := store.(auditlog.Store)
	if !ok {
		return errors.New("this store keeps no audit log")
	}
	w, done := io.Writer(stdout), func() error { return nil }
	if *out != "-" {
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s already exists: refusing to overwrite it", *out)
			}
			return err
		}
		w, done = f, func() error {
			if err := f.Sync(); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		}
	}
	sum, err := lg.ExportLog(ctx, w, o)
	if cerr := done(); err == nil {
		err = cerr
	}
	if err != nil {
		if *out != "-" {
			os.Remove(*out)
		}
		return err
	}
	if *out != "-" {
		fmt.Fprintf(stdout, "Wrote %d events and %d recording chunks to %s, proven in the checkpoint of %d leaves of log %s.\n",
			sum.Events, sum.Chunks, *out, sum.Checkpoint.Size, sum.Checkpoint.Origin)
		fmt.Fprintf(stdout, "Check it without the store: warden audit verify --export %s --key PUB\n", *out)
	}
	return nil
}

func auditKeygen(_ context.Context, args []string, stdout io.Writer) error {
	fl := newFlags("audit keygen", "audit keygen --out FILE [--name NAME] [--json]", stdout)
	out := fl.String("out", "", "file to write the signing key to (required; must not exist; mode 0600)")
	name := fl.String("name", auditlog.DefaultKeyName, "the key's name, in its signatures")
	asJSON := fl.Bool("json", false, "print the result as JSON")
	if err := parseFlags(fl, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError{"--out FILE is required"}
	}
	if fl.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fl.Arg(0))}
	}
	skey, vkey, err := auditlog.GenerateKey(*name)
	if err != nil {
		return usageError{fmt.Sprintf("--name %q: a key name is letters, digits and punctuation, no spaces or +", *name)}
	}
	if err := writeKeyFile(*out, []byte(skey+"\n"), 0o600); err != nil {
		return err
	}
	pub := *out + ".pub"
	if err := writeKeyFile(pub, []byte(vkey+"\n"), 0o644); err != nil {
		os.Remove(*out)
		return err
	}
	abs, _ := filepath.Abs(*out)
	if *asJSON {
		return writeJSON(stdout, map[string]string{"signing_key_file": abs, "verifier_key": vkey, "verifier_key_file": abs + ".pub"})
	}
	fmt.Fprintf(stdout, "Wrote the audit signing key to %s (mode 0600; keep it secret) and its verifier key to %s.\n\n", abs, pub)
	fmt.Fprintf(stdout, "Verifier key (give it to whoever checks the log: warden audit verify --key ...):\n\n%s\n\n", vkey)
	fmt.Fprintf(stdout, "In warden.yaml:\n\naudit:\n  signing_key_file: %s\n", abs)
	return nil
}

// writeKeyFile writes b to a new file path with mode perm; an existing
// file is never overwritten.
func writeKeyFile(path string, b []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists: refusing to overwrite a key", path)
		}
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
