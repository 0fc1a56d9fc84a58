package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/audit"
	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
	"github.com/wardenhq/warden/recording"
)

// replayEnv is a configuration whose store holds two SSH sessions, as
// the SSH proxy records them: "ssh-one" with a refused command and a
// shell with its recording; "ssh-two" with two recorded commands.
type replayEnv struct {
	dir, config string
	shell       string // the shell's event ID
	output      string // what the shell showed
	cast        []byte // its recording as stored
	twoIDs      [2]string
}

func newReplayEnv(t *testing.T) replayEnv {
	t.Helper()
	dir := t.TempDir()
	e := replayEnv{dir: dir, config: filepath.Join(dir, "warden.yaml")}
	if err := os.WriteFile(e.config, []byte("store: sqlite://./audit.db\nidentity:\n  local: alice\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := auditsqlite.Open(ctx, filepath.Join(dir, "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	base := audit.Event{Session: "ssh-one", Transport: "ssh-proxy", Identity: "alice", Connection: "web-1", Decision: audit.DecisionAllow}
	refused := base
	refused.Tool, refused.Statement, refused.Decision, refused.Status = "exec_ssh", "rm -rf /var/www", audit.DecisionDeny, audit.StatusDenied
	if err := store.Record(ctx, &refused); err != nil {
		t.Fatal(err)
	}

	// The shell: its intent, a recorder fed as the proxy feeds it (output
	// split inside UTF-8 sequences, keystrokes, a resize), its outcome.
	shell := base
	shell.Tool = "ssh_shell"
	if err := store.Begin(ctx, &shell); err != nil {
		t.Fatal(err)
	}
	e.shell = shell.ID
	rec, err := recording.Start(ctx, store, shell.ID, recording.Header{Width: 100, Height: 30,
		Env: map[string]string{"TERM": "xterm-256color", "SHELL": "/bin/bash", "PGPASSWORD": "hunter2"}}, recording.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var shown strings.Builder
	out := func(p string) {
		rec.Output([]byte(p))
		shown.WriteString(p)
	}
	out("\x1b[1;32malice@web-1\x1b[0m:~$ ")
	rec.Input([]byte("cat notes\r"))
	out("cat notes\r\n")
	note := []byte("café: 4111 **** **** 1111 → \"paid\" €\r\n")
	for i := range note { // byte by byte: every sequence split
		rec.Output(note[i : i+1])
	}
	shown.Write(note)
	rec.Resize(120, 40)
	out("\x1b[1;32malice@web-1\x1b[0m:~$ ")
	rec.Input([]byte("exit\r"))
	out("logout\r\n")
	rec.Exit(0)
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	e.output = shown.String()
	done := shell
	done.Status, done.Duration = audit.StatusOK, 1500*time.Millisecond
	if err := store.Finish(ctx, &done); err != nil {
		t.Fatal(err)
	}
	r, err := store.Recording(ctx, shell.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e.cast, err = io.ReadAll(r); err != nil {
		t.Fatal(err)
	}

	// Two commands of one session, each recorded, the second with a long
	// pause (that --idle-limit shortens).
	for i, cmd := range []string{"uptime", "df -h"} {
		ev := audit.Event{Session: "ssh-two", Transport: "ssh-proxy", Identity: "bob", Connection: "web-2", Tool: "exec_ssh", Statement: cmd, Status: audit.StatusOK}
		if err := store.Record(ctx, &ev); err != nil {
			t.Fatal(err)
		}
		e.twoIDs[i] = ev.ID
		var cast bytes.Buffer
		if err := recording.Encode(&cast, recording.Header{Width: 80, Height: 24, Command: cmd}, []recording.Event{
			{Time: 10 * time.Millisecond, Type: recording.TypeOutput, Data: cmd + " output\r\n"},
			{Time: 30 * time.Second, Type: recording.TypeOutput, Data: "done\r\n"},
			{Time: 30 * time.Second, Type: recording.TypeExit, Data: "1"},
		}); err != nil {
			t.Fatal(err)
		}
		lines := bytes.SplitAfter(cast.Bytes(), []byte("\n"))
		for seq, l := range lines[:len(lines)-1] { // a chunk a line
			if err := store.AppendRecording(ctx, ev.ID, seq, l); err != nil {
				t.Fatal(err)
			}
		}
	}
	return e
}

// warden runs the binary and returns its stdout, stderr and exit code.
func (e replayEnv) warden(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(wardenBin, append(args, "--config", e.config)...)
	cmd.Dir = e.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

func (e replayEnv) mustWarden(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := e.warden(t, args...)
	if code != 0 {
		t.Fatalf("warden %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func TestReplayRecordings(t *testing.T) {
	e := newReplayEnv(t)
	outputOf := func(t *testing.T, cast []byte) string {
		t.Helper()
		_, evs, err := recording.Decode(bytes.NewReader(cast))
		if err != nil {
			t.Fatalf("not a cast file: %v\n%s", err, cast)
		}
		var b strings.Builder
		for _, ev := range evs {
			if ev.Type == recording.TypeOutput {
				b.WriteString(ev.Data)
			}
		}
		return b.String()
	}
	if got := outputOf(t, e.cast); got != e.output {
		t.Fatalf("stored recording shows %q, want %q", got, e.output)
	}
	if bytes.Contains(e.cast, []byte("hunter2")) {
		t.Fatal("the recording holds an environment variable other than TERM and SHELL")
	}

	t.Run("timeline marks the recorded event", func(t *testing.T) {
		out := e.mustWarden(t, "replay", "ssh-one")
		lines := strings.Split(out, "\n")
		var shellLine, refusedLine string
		for _, l := range lines {
			switch {
			case strings.Contains(l, "ssh_shell"):
				shellLine = l
			case strings.Contains(l, "rm -rf"):
				refusedLine = l
			}
		}
		if !strings.Contains(out, "REC") || !strings.Contains(shellLine, "▶ "+e.shell) || strings.Contains(refusedLine, "▶") {
			t.Errorf("timeline does not mark the shell's recording alone:\n%s", out)
		}
		if !strings.Contains(out, "1 recording (REC). Play it: warden replay ssh-one --play") {
			t.Errorf("timeline does not say how to play:\n%s", out)
		}
	})

	t.Run("timeline as JSON", func(t *testing.T) {
		out := e.mustWarden(t, "replay", "ssh-one", "--json")
		var recorded []string
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			var line struct {
				ID        string `json:"id"`
				Tool      string `json:"tool"`
				Recording *struct {
					Chunks int   `json:"chunks"`
					Size   int64 `json:"size"`
				} `json:"recording"`
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatalf("%v: %s", err, sc.Text())
			}
			if line.Recording != nil {
				recorded = append(recorded, line.ID)
				if line.Recording.Size != int64(len(e.cast)) || line.Recording.Chunks < 1 {
					t.Errorf("recording of %s: %+v, want %d bytes", line.ID, line.Recording, len(e.cast))
				}
			}
		}
		if len(recorded) != 1 || recorded[0] != e.shell {
			t.Errorf("events with a recording: %v, want [%s]", recorded, e.shell)
		}
	})

	t.Run("export", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "shell.cast")
		out := e.mustWarden(t, "replay", "ssh-one", "--export", path)
		if !strings.Contains(out, "Exported recording "+e.shell) || !strings.Contains(out, "asciinema play "+path) {
			t.Errorf("export said:\n%s", out)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, e.cast) {
			t.Errorf("exported file differs from the stored recording")
		}
		h, evs, err := recording.Decode(bytes.NewReader(got))
		if err != nil || h.Width != 100 || h.Height != 30 || evs[len(evs)-1].Type != recording.TypeExit {
			t.Errorf("exported file: %+v, %d events, %v", h, len(evs), err)
		}
		// An existing file is never overwritten.
		if _, errOut, code := e.warden(t, "replay", e.shell, "--export", path); code != 1 || !strings.Contains(errOut, "exists already") {
			t.Errorf("export over an existing file: exit %d, %s", code, errOut)
		}
		if stdout := e.mustWarden(t, "replay", e.shell, "--export", "-"); stdout != string(e.cast) {
			t.Errorf("--export - wrote %d bytes, want the recording's %d", len(stdout), len(e.cast))
		}
		// asciinema itself reads it, where asciinema 2 is installed.
		if got, ok := asciinemaOutput(t, path); ok && got != e.output {
			t.Errorf("asciinema reads the exported file as showing\n %q\nwant\n %q", got, e.output)
		}
	})

	t.Run("play", func(t *testing.T) {
		out, errOut, code := e.warden(t, "replay", "ssh-one", "--play", "--speed", "100")
		if code != 0 || out != e.output {
			t.Fatalf("--play: exit %d, showed %q, want %q\n%s", code, out, e.output, errOut)
		}
		if !strings.Contains(errOut, "end of recording "+e.shell+" (exit status 0)") {
			t.Errorf("--play ended with %q", errOut)
		}
		// A 30 s pause, cut to 10 ms, played 100 times faster.
		out = e.mustWarden(t, "replay", e.twoIDs[1], "--play", "--speed", "100", "--idle-limit", "10ms")
		if out != "df -h output\r\ndone\r\n" {
			t.Errorf("--play of %s showed %q", e.twoIDs[1], out)
		}
	})

	t.Run("describe a recording", func(t *testing.T) {
		out := e.mustWarden(t, "replay", e.shell)
		for _, want := range []string{"recording:", e.shell, "ssh_shell on web-1 by alice", "terminal:", "100x30", "exit status:", "o=", "warden replay " + e.shell + " --play"} {
			if !strings.Contains(out, want) {
				t.Errorf("description lacks %q:\n%s", want, out)
			}
		}
		var sum struct {
			ID     string         `json:"id"`
			Width  int            `json:"width"`
			Events map[string]int `json:"events"`
			Exit   string         `json:"exit_status"`
			Bytes  int64          `json:"bytes"`
		}
		if err := json.Unmarshal([]byte(e.mustWarden(t, "replay", e.shell, "--json")), &sum); err != nil {
			t.Fatal(err)
		}
		if sum.ID != e.shell || sum.Width != 100 || sum.Events["r"] != 1 || sum.Exit != "0" || sum.Bytes != int64(len(e.cast)) {
			t.Errorf("--json description: %+v", sum)
		}
	})

	t.Run("a session of several recordings needs a choice", func(t *testing.T) {
		_, errOut, code := e.warden(t, "replay", "ssh-two", "--play")
		if code != 2 || !strings.Contains(errOut, "has 2 recordings") || !strings.Contains(errOut, e.twoIDs[0]) || !strings.Contains(errOut, e.twoIDs[1]) {
			t.Errorf("--play of a session with two recordings: exit %d\n%s", code, errOut)
		}
		if !strings.Contains(errOut, "exec_ssh: uptime") {
			t.Errorf("the choice does not say what each recording is:\n%s", errOut)
		}
	})

	t.Run("bad use", func(t *testing.T) {
		for _, tt := range []struct {
			args []string
			code int
			want string
		}{
			{[]string{"replay", "ssh-one", "--play", "--speed", "0"}, 2, "--speed 0"},
			{[]string{"replay", "ssh-one", "--speed", "2"}, 2, "go with --play"},
			{[]string{"replay", "ssh-one", "--play", "--export", "x.cast"}, 2, "choose one"},
			{[]string{"replay", "ssh-one", "--play", "--json"}, 2, "no --json"},
			{[]string{"replay", "no-such-session"}, 1, `no session and no event "no-such-session"`},
			{[]string{"replay", refusedID(t, e), "--play"}, 1, "has no recording"},
		} {
			_, errOut, code := e.warden(t, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Errorf("warden %v: exit %d, %q; want exit %d and %q", tt.args, code, errOut, tt.code, tt.want)
			}
		}
	})

	// warden replay --help sends people to the SESSION column of warden
	// audit list: it is there.
	t.Run("audit list shows sessions", func(t *testing.T) {
		help := e.mustWarden(t, "replay", "--help")
		if !strings.Contains(help, "SESSION column") {
			t.Fatalf("replay --help no longer mentions the SESSION column:\n%s", help)
		}
		out := e.mustWarden(t, "audit", "list")
		if header, _, _ := strings.Cut(out, "\n"); !strings.Contains(header, "SESSION") || !strings.Contains(out, "ssh-one") || !strings.Contains(out, "ssh-two") {
			t.Errorf("audit list has no SESSION column:\n%s", out)
		}
	})
}

// refusedID is the ID of ssh-one's refused command.
func refusedID(t *testing.T, e replayEnv) string {
	t.Helper()
	out := e.mustWarden(t, "audit", "list", "--session", "ssh-one", "--status", "denied", "--json")
	var ev audit.Event
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &ev); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return ev.ID
}

// asciinemaOutput reads a cast file with asciinema 2's own reader (its
// "cat" and "play" need a terminal) and returns what it would show;
// false if asciinema 2 is not installed.
func asciinemaOutput(t *testing.T, path string) (string, bool) {
	t.Helper()
	bin, err := exec.LookPath("asciinema")
	if err != nil {
		t.Log("asciinema is not installed: the exported file is checked with recording.Decode only")
		return "", false
	}
	script, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	shebang, _, _ := strings.Cut(string(script), "\n")
	python, ok := strings.CutPrefix(shebang, "#!")
	if !ok || !strings.Contains(python, "python") {
		t.Logf("%s is not asciinema 2 (Python): the exported file is checked with recording.Decode only", bin)
		return "", false
	}
	const read = `import sys
from asciinema.asciicast import v2
with open(sys.argv[1], encoding="utf-8") as f:
    with v2.open_from_file(f.readline(), f) as a:
        sys.stdout.write("".join(e[2] for e in a.stdout_events()))`
	out, err := exec.Command(strings.TrimSpace(python), "-c", read, path).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("asciinema cannot read %s: %v\n%s", path, err, stderr)
	}
	return string(out), true
}
