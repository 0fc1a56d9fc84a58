package main

import (
	"context"
	"fmt"
	"io"

	"github.com/wardenhq/warden/config"
)

func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stdout, "Usage: warden config check --config warden.yaml [--json]")
			return nil
		}
		return usageError{"expected a subcommand: warden config check --config FILE"}
	}
	fs := newFlags("config check", "config check --config warden.yaml [--json]", stdout)
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	cfg, engine, err := checkConfig(*cfgPath)
	type report struct {
		OK   bool   `json:"ok"`
		File string `json:"file"`
		// Errors are every problem found (none when ok), in file and
		// line order: file, line, column, key and message.
		Errors   []*config.Error `json:"errors"`
		Warnings []string        `json:"warnings,omitempty"`
		// Connections and Rules count what was read, even with errors.
		Connections   int    `json:"connections"`
		Rules         int    `json:"rules"`
		PolicyVersion string `json:"policy_version,omitempty"`
		Store         string `json:"store,omitempty"`
	}
	r := report{OK: err == nil, File: *cfgPath, Errors: problems(*cfgPath, err)}
	if cfg != nil {
		r.Connections, r.Rules = len(cfg.Connections), len(cfg.Rules)
	}
	if err == nil {
		r.Warnings = cfg.Warnings()
		r.PolicyVersion, r.Store = engine.Version(), cfg.Store
	}
	if *asJSON {
		if err := writeJSON(stdout, r); err != nil {
			return err
		}
	} else {
		printProblems(stdout, r.Errors)
		for _, w := range r.Warnings {
			fmt.Fprintf(stdout, "warning: %s\n", w)
		}
		if r.OK {
			fmt.Fprintf(stdout, "%s: ok (%d connection%s, %d rule%s, policy %s, store %s)\n",
				r.File, r.Connections, pluralS(r.Connections), r.Rules, pluralS(r.Rules), r.PolicyVersion, r.Store)
		} else {
			fmt.Fprintf(stdout, "%s: %d error%s%s\n", r.File, len(r.Errors), pluralS(len(r.Errors)), readCounts(cfg))
		}
	}
	if !r.OK {
		return errSilent
	}
	return nil
}

// printProblems prints one line per problem, file:line:col first.
func printProblems(w io.Writer, es []*config.Error) {
	for _, e := range es {
		fmt.Fprintf(w, "error: %s\n", e)
	}
}

// readCounts says what a configuration with errors held, as far as it
// could be read.
func readCounts(cfg *config.Config) string {
	if cfg == nil {
		return ""
	}
	return fmt.Sprintf(" (read %d connection%s, %d rule%s)", len(cfg.Connections), pluralS(len(cfg.Connections)), len(cfg.Rules), pluralS(len(cfg.Rules)))
}

func pluralS(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
