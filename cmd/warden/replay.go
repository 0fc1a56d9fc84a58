package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/recording"
)

// runReplay prints one session's events as a timeline, or plays or
// exports one of its recordings.
func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("replay", `replay SESSION|EVENT_ID [--config F] [--json]
       warden replay SESSION|EVENT_ID --play [--speed N] [--idle-limit D]
       warden replay SESSION|EVENT_ID --export FILE [--json]

Prints what happened in one session in order: time, statement, decision,
rows and masked values; events with a session recording (a shell or a
command on an SSH connection, as the client saw it, masked) are marked in
the REC column. A session is a proxy client connection, a stdio process
(stdio-...), an MCP session (mcp-session-..., protocol revisions with
Mcp-Session-Id), or a stateless HTTP client's use of Warden (http-...,
revision 2026-07-28: one identity and client, ended by --stateless-idle of
warden serve). The session id is in every audit event (the SESSION column
of warden audit list) and in Warden's log line for each stdio process and
client connection.

Given the ID of an event with a recording (or a unique prefix of 6+
characters), it describes the recording. --play shows it in the terminal
at the pace it was recorded; --export writes it as an asciicast v2 file
that asciinema plays (asciinema play FILE). A SESSION works for both when
it has exactly one recording.`, stdout)
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print the events (or the recording, or what was exported) as JSON")
	width := fs.Int("width", 80, "cut statements longer than this many characters (0: never)")
	play := fs.Bool("play", false, "play the recording in the terminal")
	speed := fs.Float64("speed", 1, "with --play: play this many times faster")
	idle := fs.Duration("idle-limit", 0, "with --play: shorten every pause to at most this (2s; 0: never)")
	export := fs.String("export", "", "write the recording to this new file (- for standard output), as asciicast v2")
	target, err := parsePositional(fs, args)
	if err != nil {
		return err
	}
	switch {
	case target == "":
		return usageError{"expected one argument: the session id, or the id of an event with a recording"}
	case *play && *export != "":
		return usageError{"--play and --export: choose one"}
	case *play && *asJSON:
		return usageError{"--play shows the recording: it has no --json"}
	case !(*speed > 0):
		return usageError{fmt.Sprintf("--speed %v: want a number above 0", *speed)}
	case *idle < 0:
		return usageError{fmt.Sprintf("--idle-limit %v: want a duration of 0 or more", *idle)}
	case !*play && (*speed != 1 || *idle != 0):
		return usageError{"--speed and --idle-limit go with --play"}
	}
	store, err := openStore(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer store.Close()

	t, err := findReplay(ctx, store, target)
	if err != nil {
		return err
	}
	if !*play && *export == "" && t.event == nil {
		return printTimeline(stdout, t, *asJSON, *width)
	}
	rec, err := t.pick()
	if err != nil {
		return err
	}
	cast, err := readRecording(ctx, store, rec.ID)
	if err != nil {
		return err
	}
	h, evs, err := recording.Decode(bytes.NewReader(cast))
	if err != nil {
		return fmt.Errorf("recording %s is not a valid asciicast file: %w", rec.ID, err)
	}
	ev := t.eventOf(rec.ID)
	sum := summarize(rec, ev, h, evs)
	switch {
	case *play:
		if err := recording.Play(ctx, stdout, evs, recording.PlayOptions{Speed: *speed, IdleLimit: *idle}); err != nil {
			if ctx.Err() != nil {
				return nil // interrupted: the person has seen enough
			}
			return err
		}
		fmt.Fprintf(stderr, "\r\nwarden replay: end of recording %s%s\n", rec.ID, sum.ending())
		return nil
	case *export != "":
		if err := writeNewFile(*export, cast, stdout); err != nil {
			return err
		}
		if *export == "-" {
			return nil
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(struct {
				File string `json:"file"`
				recordingSummary
			}{*export, sum})
		}
		fmt.Fprintf(stdout, "Exported recording %s (%s, %s) to %s.\nPlay it: asciinema play %s\n",
			rec.ID, sum.what(), sum.size(), *export, *export)
		return nil
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(sum)
	}
	sum.print(stdout)
	return nil
}

// replayTarget is what the argument of warden replay named: a session
// (its events, oldest first, and recordings), or one event (with its
// session's).
type replayTarget struct {
	session string
	events  []audit.Event
	recs    []audit.RecordingInfo
	event   *audit.Event // set if the argument was an event ID
}

// findReplay reads the session target names, or the event it names (an
// ID or a unique prefix) and that event's session.
func findReplay(ctx context.Context, store audit.Store, target string) (*replayTarget, error) {
	t := &replayTarget{session: target}
	events, err := sessionEvents(ctx, store, target)
	if err != nil {
		return nil, err
	}
	if len(events) == 0 {
		if len(target) < audit.MinIDPrefix {
			return nil, fmt.Errorf("no events for session %q", target)
		}
		e, err := store.Get(ctx, target)
		if errors.Is(err, audit.ErrNotFound) {
			return nil, fmt.Errorf("no session and no event %q", target)
		}
		if err != nil {
			return nil, err
		}
		t.event, t.session = &e, e.Session
		if e.Session != "" {
			if events, err = sessionEvents(ctx, store, e.Session); err != nil {
				return nil, err
			}
		}
		if !slices.ContainsFunc(events, func(x audit.Event) bool { return x.ID == e.ID }) {
			events = append(events, e)
		}
	}
	t.events = events
	if t.session != "" {
		if t.recs, err = store.SessionRecordings(ctx, t.session); err != nil {
			return nil, err
		}
	}
	if t.event != nil && !slices.ContainsFunc(t.recs, func(r audit.RecordingInfo) bool { return r.ID == t.event.ID }) {
		// An event of no session has its recording listed by none.
		if _, err := store.Recording(ctx, t.event.ID); err == nil {
			t.recs = append(t.recs, audit.RecordingInfo{ID: t.event.ID})
		} else if !errors.Is(err, audit.ErrNotFound) {
			return nil, err
		}
	}
	return t, nil
}

// sessionEvents returns every event of session, oldest first.
func sessionEvents(ctx context.Context, store audit.Reader, session string) ([]audit.Event, error) {
	var events []audit.Event
	before := ""
	for {
		page, err := store.List(ctx, audit.Filter{Session: session, Limit: audit.MaxListLimit, Before: before})
		if err != nil {
			return nil, err
		}
		events = append(events, page...)
		if len(page) < audit.MaxListLimit {
			break
		}
		before = page[len(page)-1].ID
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].ID < events[j].ID })
	return events, nil
}

// pick is the recording to play or export: the event's, or the session's
// only one.
func (t *replayTarget) pick() (audit.RecordingInfo, error) {
	if t.event != nil {
		for _, r := range t.recs {
			if r.ID == t.event.ID {
				return r, nil
			}
		}
		msg := fmt.Sprintf("event %s has no recording (recordings are made of shells and commands on SSH connections)", t.event.ID)
		if len(t.recs) > 0 {
			msg += "; its session has:\n" + t.recordingList()
		}
		return audit.RecordingInfo{}, errors.New(msg)
	}
	switch len(t.recs) {
	case 1:
		return t.recs[0], nil
	case 0:
		return audit.RecordingInfo{}, fmt.Errorf("session %s has no recording (recordings are made of shells and commands on SSH connections)", t.session)
	}
	return audit.RecordingInfo{}, usageError{fmt.Sprintf("session %s has %d recordings: choose one by its event ID (warden replay EVENT_ID --play):\n%s",
		t.session, len(t.recs), t.recordingList())}
}

// recordingList lists the target's recordings, one a line.
func (t *replayTarget) recordingList() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, r := range t.recs {
		e := t.eventOf(r.ID)
		what := "-"
		if e != nil {
			what = oneLineText(eventWhat(*e), 60)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", r.ID, byteSize(r.Size), what)
	}
	tw.Flush()
	return strings.TrimRight(b.String(), "\n")
}

func (t *replayTarget) eventOf(id string) *audit.Event {
	for i := range t.events {
		if t.events[i].ID == id {
			return &t.events[i]
		}
	}
	return nil
}

// readRecording reads recording id whole.
func readRecording(ctx context.Context, store audit.Recordings, id string) ([]byte, error) {
	r, err := store.Recording(ctx, id)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read recording %s: %w", id, err)
	}
	return b, nil
}

// writeNewFile writes b to path, a file that must not exist yet; a
// failed write removes it. "-" is stdout.
func writeNewFile(path string, b []byte, stdout io.Writer) error {
	if path == "-" {
		_, err := stdout.Write(b)
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("export: %s exists already: remove it or choose another name", path)
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// recordingSummary describes one recording, for a person or as JSON.
type recordingSummary struct {
	ID         string         `json:"id"`
	Event      *audit.Event   `json:"event,omitempty"`
	Width      int            `json:"width"`
	Height     int            `json:"height"`
	Started    time.Time      `json:"started,omitzero"`
	Command    string         `json:"command,omitempty"`
	Title      string         `json:"title,omitempty"`
	DurationMS float64        `json:"duration_ms"`
	Events     map[string]int `json:"events"` // by type: o, i, r, m, x
	Bytes      int64          `json:"bytes"`
	Chunks     int            `json:"chunks"`
	ExitStatus string         `json:"exit_status,omitempty"`
	Markers    []string       `json:"markers,omitempty"` // e.g. what was not recorded
}

func summarize(rec audit.RecordingInfo, ev *audit.Event, h recording.Header, evs []recording.Event) recordingSummary {
	s := recordingSummary{ID: rec.ID, Event: ev, Width: h.Width, Height: h.Height, Started: h.Timestamp,
		Command: h.Command, Title: h.Title, Events: map[string]int{}, Bytes: rec.Size, Chunks: rec.Chunks}
	for _, e := range evs {
		s.Events[e.Type]++
		switch e.Type {
		case recording.TypeExit:
			s.ExitStatus = e.Data
		case recording.TypeMarker:
			s.Markers = append(s.Markers, e.Data)
		}
	}
	if len(evs) > 0 {
		s.DurationMS = float64(evs[len(evs)-1].Time) / float64(time.Millisecond)
	}
	return s
}

// what says what was recorded, in a few words.
func (s recordingSummary) what() string {
	var parts []string
	if s.Event != nil {
		w := oneLineText(eventWhat(*s.Event), 60)
		if s.Event.Connection != "" {
			w += " on " + s.Event.Connection
		}
		if s.Event.Identity != "" {
			w += " by " + s.Event.Identity
		}
		parts = append(parts, w)
	}
	n := 0
	for _, c := range s.Events {
		n += c
	}
	parts = append(parts, fmt.Sprintf("%s, %d events", (time.Duration(s.DurationMS*float64(time.Millisecond))).Round(time.Millisecond), n))
	return strings.Join(parts, ", ")
}

func (s recordingSummary) size() string {
	if s.Bytes == 0 {
		return "size unknown"
	}
	return byteSize(s.Bytes)
}

// ending is what Play prints after the last output.
func (s recordingSummary) ending() string {
	var b strings.Builder
	if s.ExitStatus != "" {
		fmt.Fprintf(&b, " (exit status %s)", s.ExitStatus)
	}
	for _, m := range s.Markers {
		fmt.Fprintf(&b, "\nmarker: %s", m)
	}
	return b.String()
}

func (s recordingSummary) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	row("recording", s.ID)
	row("what", s.what())
	if s.Event != nil {
		row("session", s.Event.Session)
	}
	if !s.Started.IsZero() {
		row("started", s.Started.Local().Format("2006-01-02 15:04:05"))
	}
	row("terminal", fmt.Sprintf("%dx%d", s.Width, s.Height))
	row("command", s.Command)
	row("title", s.Title)
	types := make([]string, 0, len(s.Events))
	for typ, n := range s.Events {
		types = append(types, fmt.Sprintf("%s=%d", typ, n))
	}
	slices.Sort(types)
	row("events", strings.Join(types, " ")+"  (o output, i input, r resize, m marker, x exit)")
	row("exit status", s.ExitStatus)
	row("size", s.size())
	for _, m := range s.Markers {
		row("marker", m)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nPlay it: warden replay %s --play [--speed N] [--idle-limit D]\nExport it: warden replay %[1]s --export FILE\n", s.ID)
}

// timelineEvent is an event of the timeline as JSON: the event's fields,
// and its recording if it has one.
type timelineEvent struct {
	audit.Event
	rec *audit.RecordingInfo
}

func (e timelineEvent) MarshalJSON() ([]byte, error) {
	b, err := e.Event.MarshalJSON()
	if err != nil || e.rec == nil {
		return b, err
	}
	r, err := json.Marshal(struct {
		Chunks int   `json:"chunks"`
		Size   int64 `json:"size"`
	}{e.rec.Chunks, e.rec.Size})
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSuffix(b, []byte("}"))
	return append(append(append(b, `,"recording":`...), r...), '}'), nil
}

// printTimeline prints the target session's events, oldest first.
func printTimeline(stdout io.Writer, t *replayTarget, asJSON bool, width int) error {
	events := t.events
	if len(events) == 0 {
		return fmt.Errorf("no events for session %q", t.session)
	}
	recs := make(map[string]*audit.RecordingInfo, len(t.recs))
	for i := range t.recs {
		recs[t.recs[i].ID] = &t.recs[i]
	}
	if asJSON {
		lines := make([]timelineEvent, len(events))
		for i, e := range events {
			lines[i] = timelineEvent{e, recs[e.ID]}
		}
		return writeJSONLines(stdout, lines)
	}
	first := events[0]
	fmt.Fprintf(stdout, "session %s: %s", t.session, first.Identity)
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
	header := "TIME\t+MS\tSTATEMENT\tDECISION\tSTATUS\tROWS\tMASKED\tMS"
	if len(recs) > 0 {
		header += "\tREC"
	}
	fmt.Fprintln(tw, header)
	for _, e := range events {
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
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%s\t%.1f", e.Time.Local().Format("15:04:05.000"),
			e.Time.Sub(first.Time).Milliseconds(), oneLineText(eventWhat(e), width), decision, status, e.Rows,
			maskedText(e.Masked), float64(e.Duration)/float64(time.Millisecond))
		if len(recs) > 0 {
			rec := "-"
			if r := recs[e.ID]; r != nil {
				rec = "▶ " + e.ID + " " + byteSize(r.Size)
			}
			fmt.Fprintf(tw, "\t%s", rec)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	switch len(recs) {
	case 0:
	case 1:
		fmt.Fprintf(stdout, "\n1 recording (REC). Play it: warden replay %s --play; export it: --export FILE\n", t.session)
	default:
		fmt.Fprintf(stdout, "\n%d recordings (REC). Play one: warden replay EVENT_ID --play; export it: --export FILE\n", len(recs))
	}
	return nil
}

// eventWhat is what an event did, for one line: its statement or
// command, with the tool's name unless it is a query.
func eventWhat(e audit.Event) string {
	what := e.Statement
	if what == "" {
		what = e.Tool
	}
	if e.Tool != "" && e.Tool != "run_query" && e.Statement != "" {
		what = e.Tool + ": " + e.Statement
	}
	return what
}

// byteSize is n bytes for a person: 812 B, 12.3 KiB, 4.0 MiB.
func byteSize(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
}

func oneLineText(s string, width int) string {
	s = strings.Join(strings.Fields(s), " ")
	if width > 0 && len(s) > width {
		i := max(width-3, 0)
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i] + "..."
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
