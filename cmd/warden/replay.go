package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wardenhq/warden/audit"
)

// runReplay prints one session's events, oldest first, as a timeline.
func runReplay(ctx context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlags("replay", `replay SESSION [--config F] [--json]

Prints what happened in one session in order: time, statement, decision,
rows and masked values. A session is a proxy client connection, a stdio
process (stdio-...), an MCP session (mcp-session-..., protocol revisions
with Mcp-Session-Id), or a stateless HTTP client's use of Warden (http-...,
revision 2026-07-28: one identity and client, ended by --stateless-idle of
warden serve). The session id is in every audit event (the SESSION column
of warden audit list) and in Warden's log line for each stdio process and
client connection.`, stdout)
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print the events as JSON lines")
	width := fs.Int("width", 80, "cut statements longer than this many characters (0: never)")
	session, err := parsePositional(fs, args)
	if err != nil {
		return err
	}
	if session == "" {
		return usageError{"expected one argument: the session id"}
	}
	store, err := openStore(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer store.Close()
	var events []audit.Event
	before := ""
	for {
		page, err := store.List(ctx, audit.Filter{Session: session, Limit: audit.MaxListLimit, Before: before})
		if err != nil {
			return err
		}
		events = append(events, page...)
		if len(page) < audit.MaxListLimit {
			break
		}
		before = page[len(page)-1].ID
	}
	if len(events) == 0 {
		return fmt.Errorf("no events for session %q", session)
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].ID < events[j].ID })
	if *asJSON {
		return writeJSONLines(stdout, events)
	}
	first := events[0]
	fmt.Fprintf(stdout, "session %s: %s", session, first.Identity)
	if len(first.Groups) > 0 {
		fmt.Fprintf(stdout, " (groups %s)", strings.Join(first.Groups, ", "))
	}
	// An MCP session may use several connections, and its first call
	// (list_connections) none.
	var conns []string
	for _, e := range events {
		if e.Connection != "" && !slices.Contains(conns, e.Connection) {
			conns = append(conns, e.Connection)
		}
	}
	slices.Sort(conns)
	on := "no connection"
	if len(conns) > 0 {
		on = strings.Join(conns, ", ")
	}
	fmt.Fprintf(stdout, " via %s on %s, %d events from %s\n\n", first.Transport, on, len(events),
		first.Time.Local().Format("2006-01-02 15:04:05"))
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\t+MS\tSTATEMENT\tDECISION\tSTATUS\tROWS\tMASKED\tMS")
	for _, e := range events {
		what := e.Statement
		if what == "" {
			what = e.Tool
		}
		if e.Tool != "" && e.Tool != "run_query" && e.Statement != "" {
			what = e.Tool + ": " + e.Statement
		}
		what = oneLineText(what, *width)
		decision := e.Decision
		if e.Rule != "" {
			decision += " (" + e.Rule + ")"
		}
		if e.Approval != "" {
			decision += " approval " + e.Approval
		}
		status := e.Status
		if e.Error != "" && e.Status != audit.StatusOK {
			status += ": " + oneLineText(e.Error, 60)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%s\t%.1f\n", e.Time.Local().Format("15:04:05.000"),
			e.Time.Sub(first.Time).Milliseconds(), what, decision, status, e.Rows, maskedText(e.Masked), float64(e.Duration)/float64(time.Millisecond))
	}
	return tw.Flush()
}

func oneLineText(s string, width int) string {
	s = strings.Join(strings.Fields(s), " ")
	if width > 0 && len(s) > width {
		s = s[:width-3] + "..."
	}
	return s
}

func maskedText(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, ",")
}
