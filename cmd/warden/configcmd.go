package main

import (
	"context"
	"encoding/json"
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
	cfg, engine, err := loadConfig(*cfgPath)
	type report struct {
		OK            bool     `json:"ok"`
		File          string   `json:"file"`
		Errors        []string `json:"errors,omitempty"`
		Warnings      []string `json:"warnings,omitempty"`
		Connections   int      `json:"connections"`
		Rules         int      `json:"rules"`
		PolicyVersion string   `json:"policy_version,omitempty"`
		Store         string   `json:"store,omitempty"`
	}
	r := report{OK: err == nil, File: *cfgPath}
	if err != nil {
		if es := config.AsErrors(err); es != nil {
			for _, e := range es {
				r.Errors = append(r.Errors, e.Error())
			}
		} else {
			r.Errors = []string{err.Error()}
		}
	} else {
		r.Warnings = cfg.Warnings()
		r.Connections, r.Rules = len(cfg.Connections), len(cfg.Rules)
		r.PolicyVersion, r.Store = engine.Version(), cfg.Store
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(r)
	} else {
		for _, e := range r.Errors {
			fmt.Fprintf(stdout, "error: %s\n", e)
		}
		for _, w := range r.Warnings {
			fmt.Fprintf(stdout, "warning: %s\n", w)
		}
		if r.OK {
			fmt.Fprintf(stdout, "%s: ok (%d connection%s, %d rule%s, policy %s, store %s)\n",
				r.File, r.Connections, pluralS(r.Connections), r.Rules, pluralS(r.Rules), r.PolicyVersion, r.Store)
		} else {
			fmt.Fprintf(stdout, "%s: %d error%s\n", r.File, len(r.Errors), pluralS(len(r.Errors)))
		}
	}
	if !r.OK {
		return errSilent
	}
	return nil
}

func pluralS(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
