package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/wardenhq/warden/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "serve MCP over streamable HTTP at /mcp", runServe},
		{"mcp", "serve MCP over stdio (for a local agent)", runMCP},
		{"login", "log in to a Warden server as a person: warden login --server URL [--device] | status", runLogin},
		{"logout", "forget (and revoke) tokens from warden login: warden logout --server URL | --all", runLogout},
		{"demo", "create a demo database and policy, then serve them", runDemo},
		{"config", "check a configuration file: warden config check", runConfig},
		{"policy", "check, explain and test policy: warden policy check|explain|test", runPolicy},
		{"audit", "list, show, verify and export audit events: warden audit list|show|verify|export|keygen", runAudit},
		{"replay", "print a session as a timeline, play or export its recordings: warden replay SESSION|EVENT_ID", runReplay},
		{"connect", "print how to use a proxy (psql, ssh) or write a kubeconfig: warden connect CONNECTION", runConnect},
		{"kube-credential", "the kubeconfig's credential plugin: print a token for the Kubernetes proxy", runKubeCredential},
		{"leases", "list just-in-time credential leases: warden leases list", runLeases},
		{"ssh-ca", "make the SSH user CA that signs ssh connections' certificates: warden ssh-ca init --out FILE", runSSHCA},
		{"approvals", "list and decide held calls on a running Warden: warden approvals list|show|approve|deny", runApprovals},
		{"version", "print the version", runVersion},
	}
}

func main() {
	// Warden's live heap is small and its garbage is short-lived (request
	// and result encodings): collecting less often costs little memory and
	// saves CPU on every call. GOGC, when set, wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is a command-line mistake: print it with usage, exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		// No command is a usage error, as most CLIs have it.
		usage(stderr)
		return 2
	case args[0] == "help" || args[0] == "-h" || args[0] == "--help":
		usage(stdout)
		return 0
	case args[0] == "--version" || args[0] == "-version":
		args = []string{"version"}
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, args[1:], stdout, stderr)
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.As(err, new(usageError)):
				fmt.Fprintf(stderr, "warden %s: %v\n", c.name, err)
				return 2
			case errors.Is(err, errSilent):
				return 1
			}
			// A configuration with problems: every one, as config check
			// prints them, then what failed.
			var es config.Errors
			if errors.As(err, &es) {
				printProblems(stderr, es)
				fmt.Fprintf(stderr, "warden %s: %d error%s\n", c.name, len(es), pluralS(len(es)))
				return 1
			}
			fmt.Fprintf(stderr, "warden %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "warden: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// errSilent ends a command with status 1 after it printed its own report.
var errSilent = errors.New("failed")

func usage(w io.Writer) {
	fmt.Fprintf(w, "Warden: a least-privilege gateway for AI agents.\n\nUsage: warden <command> [flags]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun `warden <command> --help` for a command's flags.\n")
}

func runVersion(_ context.Context, _ []string, stdout, _ io.Writer) error {
	fmt.Fprintf(stdout, "warden %s\n", version)
	return nil
}

// newFlags builds a flag set whose --help prints to stdout and whose errors
// become usage errors.
func newFlags(name, synopsis string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: warden %s\n\nFlags:\n", synopsis)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err // the flag package has printed the usage
		}
		return usageError{err.Error()}
	}
	return nil
}

// configFlag registers --config with its default from WARDEN_CONFIG.
func configFlag(fs *flag.FlagSet) *string {
	def := os.Getenv("WARDEN_CONFIG")
	if def == "" {
		def = "warden.yaml"
	}
	return fs.String("config", def, "configuration file (env WARDEN_CONFIG)")
}

// logFlags registers --log-level and --log-format.
func logFlags(fs *flag.FlagSet) func(w io.Writer) (*slog.Logger, error) {
	level := fs.String("log-level", envOr("WARDEN_LOG_LEVEL", "info"), "log level: debug, info, warn, error")
	format := fs.String("log-format", envOr("WARDEN_LOG_FORMAT", "text"), "log format: text or json")
	return func(w io.Writer) (*slog.Logger, error) {
		var l slog.Level
		if err := l.UnmarshalText([]byte(*level)); err != nil {
			return nil, usageError{fmt.Sprintf("--log-level: %v", err)}
		}
		opts := &slog.HandlerOptions{Level: l}
		switch strings.ToLower(*format) {
		case "text":
			return slog.New(slog.NewTextHandler(w, opts)), nil
		case "json":
			return slog.New(slog.NewJSONHandler(w, opts)), nil
		}
		return nil, usageError{fmt.Sprintf("--log-format: expected text or json, got %q", *format)}
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// writeJSONLines writes items as JSON lines (--json of the list commands).
func writeJSONLines[T any](w io.Writer, items []T) error {
	enc := json.NewEncoder(w)
	for _, it := range items {
		if err := enc.Encode(it); err != nil {
			return err
		}
	}
	return nil
}
