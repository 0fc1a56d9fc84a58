package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/config"
)

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"expected a subcommand: warden audit list|show|verify|export|keygen"}
	}
	switch args[0] {
	case "list":
		return auditList(ctx, args[1:], stdout)
	case "show":
		return auditShow(ctx, args[1:], stdout)
	case "verify":
		return auditVerify(ctx, args[1:], stdout)
	case "export":
		return auditExport(ctx, args[1:], stdout)
	case "keygen":
		return auditKeygen(ctx, args[1:], stdout)
	case "-h", "--help":
		fmt.Fprintln(stdout, `Usage: warden audit list [--json] [--since 1h|RFC3339] [--identity I] [--connection C] [--tool T] [--status S] [--session ID] [--limit N]
       warden audit show [--json] ID
       warden audit verify [--json] [--key PUB]... [--checkpoint FILE]...   recompute the audit log, check it and the store (status 1 if not)
       warden audit verify --export FILE --key PUB [--json]                check an export without the store
       warden audit export [--since 24h|RFC3339] --out FILE|-             events and recordings with their proofs, as JSON lines
       warden audit keygen --out FILE [--name NAME]                        a key to sign the log (audit.signing_key_file)`)
		return nil
	}
	return usageError{fmt.Sprintf("unknown subcommand %q: expected list, show, verify, export or keygen", args[0])}
}

// openStore opens the audit store named by a configuration, without
// connecting to any target.
func openStore(ctx context.Context, path string) (audit.Store, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	return openConfigStore(ctx, cfg)
}

// openConfigStore opens the audit store of cfg, with its signing key.
func openConfigStore(ctx context.Context, cfg *config.Config) (audit.Store, error) {
	so, err := configStoreOptions(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	st, err := openStores(ctx, cfg.Store, so)
	if err != nil {
		return nil, err
	}
	return st.audit, nil
}

func auditList(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("audit list", "audit list [flags]", stdout)
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print events as JSON lines")
	since := fs.String("since", "", "only events since a duration ago (1h, 30m) or a time (RFC 3339)")
	var f audit.Filter
	fs.StringVar(&f.Identity, "identity", "", "only events of this identity")
	fs.StringVar(&f.Connection, "connection", "", "only events on this connection")
	fs.StringVar(&f.Tool, "tool", "", "only events of this tool")
	fs.StringVar(&f.Status, "status", "", "only events with this status (ok, denied, failed, invalid, error, running, interrupted)")
	fs.StringVar(&f.Session, "session", "", "only events of this session")
	fs.IntVar(&f.Limit, "limit", 50, "most events to show (newest first)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if *since != "" {
		t, err := parseSince(*since, time.Now())
		if err != nil {
			return usageError{err.Error()}
		}
		f.Since = t
	}
	store, err := openStore(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer store.Close()
	events, err := store.List(ctx, f)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSONLines(stdout, events)
	}
	if len(events) == 0 {
		fmt.Fprintln(stdout, "No audit events match.")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tID\tSESSION\tIDENTITY\tTOOL\tCONNECTION\tDECISION\tSTATUS\tROWS\tMS\tSTATEMENT")
	for _, e := range events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%.1f\t%s\n",
			e.Time.Local().Format("2006-01-02 15:04:05"), e.ID, dash(e.Session), dash(e.Identity), e.Tool, dash(e.Connection),
			dash(e.Decision), e.Status, e.Rows, float64(e.Duration.Microseconds())/1000, oneLine(e.Statement, 60))
	}
	return tw.Flush()
}

func auditShow(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("audit show", "audit show [--json] ID", stdout)
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print the event as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"expected one event ID"}
	}
	store, err := openStore(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer store.Close()
	e, err := store.Get(ctx, fs.Arg(0))
	if err != nil {
		if errors.Is(err, audit.ErrNotFound) {
			return fmt.Errorf("no audit event %q", fs.Arg(0))
		}
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(e)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	row("id", e.ID)
	row("time", e.Time.Local().Format(time.RFC3339Nano))
	row("identity", e.Identity)
	row("groups", strings.Join(e.Groups, ", "))
	row("issuer", e.Issuer)
	row("token id", e.TokenID)
	row("transport", e.Transport)
	row("session", e.Session)
	row("tool", e.Tool)
	row("connection", e.Connection)
	row("decision", e.Decision)
	row("rule", e.Rule)
	row("reason", e.Reason)
	row("status", e.Status)
	row("duration", e.Duration.String())
	row("rows", fmt.Sprint(e.Rows))
	if e.Truncated {
		row("truncated", "yes")
	}
	row("credential", e.Credential)
	row("approval", e.Approval)
	if len(e.Masked) > 0 {
		b, _ := json.Marshal(e.Masked)
		row("masked", string(b))
	}
	row("error", e.Error)
	if len(e.Arguments) > 0 {
		row("arguments", string(e.Arguments))
	}
	tw.Flush()
	if e.Statement != "" {
		fmt.Fprintf(stdout, "statement:\n%s\n", indent(e.Statement))
	}
	return nil
}

func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("--since %q: expected a positive duration", s)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--since %q: expected a duration (1h, 30m) or a time (2026-01-02T15:04:05Z)", s)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}
