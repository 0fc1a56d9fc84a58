package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
)

// readmeBlock is one example of README.md: a tool call ("> tool {args}")
// or a command ("$ ./bin/warden ..."), and the output it shows.
type readmeBlock struct {
	line    int    // of the call, in README.md
	call    string // the > or $ line, without its prefix
	command bool   // $: a command of the warden binary
	want    []string
}

// readmeBlocks finds the fenced blocks of README.md that open with a call.
func readmeBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	var out []readmeBlock
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "```") || i+1 >= len(lines) {
			continue
		}
		first := lines[i+1]
		blk := readmeBlock{line: i + 2}
		switch {
		case strings.HasPrefix(first, "> "):
			blk.call = strings.TrimPrefix(first, "> ")
		case strings.HasPrefix(first, "$ ./bin/warden "):
			blk.call, blk.command = strings.TrimPrefix(first, "$ ./bin/warden "), true
		default:
			// Skip the block whole: its lines are not calls.
			for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
			}
			continue
		}
		for i += 2; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
			blk.want = append(blk.want, lines[i])
		}
		out = append(out, blk)
	}
	return out
}

var (
	readmeID       = regexp.MustCompile(`\b[0-9A-HJKMNP-TV-Z]{26}\b`)
	readmeTime     = regexp.MustCompile(`\b\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\b`)
	readmeDecimal  = regexp.MustCompile(`\b\d+\.\d+\b`)
	readmeSession  = regexp.MustCompile(`(^|\s)(<session>|(stdio|mcp-session|http|warden)-[0-9A-Za-z_-]+)(\s|$)`)
	readmeSpaceRun = regexp.MustCompile(`[ \t]+`)
)

// normalize leaves out what differs from run to run (audit IDs, times,
// durations, session IDs) and the padding of table columns.
func normalize(lines []string) []string {
	var out []string
	for _, l := range lines {
		l = readmeID.ReplaceAllString(l, "<id>")
		l = readmeTime.ReplaceAllString(l, "<time>")
		l = readmeDecimal.ReplaceAllString(l, "<n>")
		l = readmeSession.ReplaceAllString(l, "$1<session>$4")
		l = strings.TrimSpace(readmeSpaceRun.ReplaceAllString(l, " "))
		out = append(out, l)
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// TestReadme runs every example of README.md against the demo, in order,
// as an agent and an operator would, and compares what it prints with
// what the README shows: the README stays true to the demo.
func TestReadme(t *testing.T) {
	blocks := readmeBlocks(t)
	dir := t.TempDir()
	if out, err := exec.Command(wardenBin, "demo", "--dir", dir, "--setup-only").CombinedOutput(); err != nil {
		t.Fatalf("demo setup: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "warden.yaml")
	// make demo serves MCP over HTTP with the demo's configuration.
	url, _, _ := serveWarden(t, "--config", cfg, "--listen", "127.0.0.1:0")
	c, err := client.NewStreamableHttpClient(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	initialize(t, c)
	tools, commands := 0, 0
	for _, blk := range blocks {
		var got string
		if blk.command {
			commands++
			args := strings.Fields(strings.ReplaceAll(blk.call, "warden-demo/", dir+"/"))
			out, err := exec.Command(wardenBin, args...).CombinedOutput()
			if err != nil {
				t.Errorf("README.md:%d: warden %s: %v\n%s", blk.line, blk.call, err, out)
				continue
			}
			got = string(out)
		} else {
			tools++
			name, rawArgs, _ := strings.Cut(blk.call, " ")
			var args map[string]any
			if err := json.Unmarshal([]byte(rawArgs), &args); err != nil {
				t.Errorf("README.md:%d: the arguments of %s are not JSON: %v", blk.line, name, err)
				continue
			}
			_, text, _ := call(t, c, name, args)
			got = text
		}
		want, have := normalize(blk.want), normalize(strings.Split(got, "\n"))
		if strings.Join(want, "\n") != strings.Join(have, "\n") {
			t.Errorf("README.md:%d: %s shows\n%s\nbut the demo prints\n%s", blk.line, blk.call, strings.Join(blk.want, "\n"), got)
		}
	}
	if tools < 6 || commands < 1 {
		t.Errorf("README.md has %d tool calls and %d commands with their output; the tour and the masking example have more", tools, commands)
	}
}
