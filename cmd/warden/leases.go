package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/wardenhq/warden/audit"
)

func runLeases(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "list" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stdout, "Usage: warden leases list --config F [--state active|revoked|failed] [--connection C] [--limit N] [--json]")
			return nil
		}
		return usageError{"expected a subcommand: warden leases list"}
	}
	fs := newFlags("leases list", "leases list [flags]", stdout)
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print leases as JSON lines")
	var f audit.LeaseFilter
	fs.StringVar(&f.State, "state", "", "only leases in this state: active, revoked, failed")
	fs.StringVar(&f.Connection, "connection", "", "only leases of this connection")
	fs.IntVar(&f.Limit, "limit", 50, "most leases to show (newest first)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	store, err := openStore(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer store.Close()
	leases, err := store.Leases(ctx, f)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSONLines(stdout, leases)
	}
	if len(leases) == 0 {
		fmt.Fprintln(stdout, "No leases match.")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CREATED\tLEASE\tSTATE\tCONNECTION\tPRINCIPAL\tIDENTITY\tEXPIRES\tGRANTS\tLAST ERROR")
	for _, l := range leases {
		state := l.State
		if l.State == audit.LeaseFailed {
			state = "FAILED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.Created.Local().Format("2006-01-02 15:04:05"), l.ID, state,
			l.Connection, l.Principal, dash(l.Identity), l.Expires.Local().Format(time.DateTime), dash(l.Grants), oneLine(l.LastError, 60))
	}
	return tw.Flush()
}
