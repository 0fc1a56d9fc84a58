package kubernetes_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/testenv"
	"github.com/wardenhq/warden/recording"
)

// TestKubectlStreams: streams stay streams through the proxy, against a
// pod that runs (kwok serves its exec, port-forward and logs): kubectl
// exec with and without stdin, port-forward carrying TCP both ways, and
// logs -f showing a line written after it started; each decided by its
// tool and run as the session account.
func TestKubectlStreams(t *testing.T) {
	f := newFixture(t)
	kc := f.kubeconfig(t, f.token(t))

	// What the pod's port 8080 forwards to: an echo server on 127.0.0.1.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "marker"), []byte("in the pod's workdir\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &testenv.RunningPod{Namespace: f.ns[0], Name: "web", Logs: []string{"first line", "second line"}, WorkDir: work,
		Forward: map[int]int{8080: ln.Addr().(*net.TCPAddr).Port}}
	testenv.KubeRunningPod(t, f.admin, p)

	t.Run("exec", func(t *testing.T) {
		// Over WebSocket (kubectl's default) and over SPDY/3.1 (its
		// fallback, and older kubectls' only transport): the same
		// commands, told apart by what they print.
		transports := []struct {
			name string
			env  []string
		}{{"websocket", nil}, {"spdy", kubectlSPDY}}
		for _, tr := range transports {
			out, err := f.kubectlEnv(t, tr.env, kc, "", "exec", "web", "--", "sh", "-c", "echo out-"+tr.name+"; echo err >&2; cat marker; exit 3")
			if !strings.Contains(out, "out-"+tr.name+"\n") || !strings.Contains(out, "err\n") || !strings.Contains(out, "in the pod's workdir") {
				t.Fatalf("exec over %s: %v\n%s", tr.name, err, out)
			}
			// kwok reports a command's failure as an error naming its exit
			// status (a kubelet would send the status itself); kubectl, direct
			// or through Warden, exits 1 with that message.
			var ee *exec.ExitError
			if !errors.As(err, &ee) || !strings.Contains(out, "exit status 3") {
				t.Fatalf("exec's failure over %s: want kwok's exit status 3, got %v\n%s", tr.name, err, out)
			}
			// (kwok does not end a command at its stdin's end, so the command
			// reads what it needs rather than to EOF.)
			out, err = f.kubectlEnv(t, tr.env, kc, "line one\nline two\n", "exec", "-i", "web", "--", "sh", "-c", "read a; read b; echo \"$b|$a|"+tr.name+"\"")
			if err != nil || out != "line two|line one|"+tr.name+"\n" {
				t.Fatalf("exec -i over %s: %v %q", tr.name, err, out)
			}
		}
		// Each recorded as its exec operation's recording: output,
		// stdin, the exit status.
		casts := map[string]map[string]string{}
		for _, ev := range f.events(t, "kubectl_exec") {
			if ev.Rule != "exec-dev" {
				continue
			}
			rd, err := f.store.Recording(context.Background(), ev.ID)
			if err != nil {
				t.Fatalf("recording of %s (%s): %v", ev.ID, ev.Statement, err)
			}
			h, evs, err := recording.Decode(rd)
			if err != nil {
				t.Fatal(err)
			}
			// Frame boundaries are the pod's to choose (stdout and
			// stderr race, and two writes may share a frame), so each
			// kind is read as the concatenation of its events.
			byType := map[string]string{}
			for _, e := range evs {
				byType[e.Type] += e.Data
			}
			casts[h.Command] = byType
		}
		for _, tr := range transports {
			first := casts["sh -c echo out-"+tr.name+"; echo err >&2; cat marker; exit 3"]
			second := casts[`sh -c read a; read b; echo "$b|$a|`+tr.name+`"`]
			if first == nil || !strings.Contains(first["o"], "out-"+tr.name+"\n") || !strings.Contains(first["o"], "err\n") ||
				!strings.Contains(first["o"], "in the pod's workdir") || first["x"] != "1" ||
				second == nil || second["i"] != "line one\nline two\n" || second["o"] != "line two|line one|"+tr.name+"\n" || second["x"] != "0" {
				t.Fatalf("recordings over %s: %q", tr.name, casts)
			}
		}
	})

	t.Run("attach", func(t *testing.T) {
		// kwok attaches to the container's log from its end: lines
		// written after kubectl attached come out, over either transport,
		// and are recorded as the attach operation's output. (A pod of
		// its own, so that the log the next test follows is its own.)
		ap := &testenv.RunningPod{Namespace: f.ns[0], Name: "att"}
		testenv.KubeRunningPod(t, f.admin, ap)
		for _, tr := range []struct {
			name string
			env  []string
		}{{"websocket", nil}, {"spdy", kubectlSPDY}} {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			cmd := exec.CommandContext(ctx, f.kc.Kubectl, "--kubeconfig", kc, "--cache-dir", filepath.Join(f.dir, "cache"), "attach", "att")
			cmd.Env = append(os.Environ(), tr.env...)
			stdout, _ := cmd.StdoutPipe()
			var stderr syncBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := make(chan string)
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			want := "attached over " + tr.name
			seen := false
			for i := 0; !seen && i < 100; i++ {
				ap.AppendLog(t, want)
				select {
				case l, ok := <-lines:
					seen = ok && l == want
					if !ok {
						i = 100
					}
				case <-time.After(200 * time.Millisecond):
				}
			}
			cancel()
			cmd.Wait()
			if !seen {
				t.Fatalf("attach over %s: no %q; stderr:\n%s", tr.name, want, stderr.String())
			}
		}
		var recorded []string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			recorded = recorded[:0]
			for _, ev := range f.events(t, "kubectl_exec") {
				if !strings.Contains(ev.Statement, "attach") || ev.Status == "running" {
					continue
				}
				rd, err := f.store.Recording(context.Background(), ev.ID)
				if err != nil {
					continue
				}
				h, evs, err := recording.Decode(rd)
				if err != nil || h.Command != "" {
					t.Fatalf("attach recording of %s: %v %+v", ev.ID, err, h)
				}
				var out strings.Builder
				for _, e := range evs {
					if e.Type == "o" {
						out.WriteString(e.Data)
					}
				}
				recorded = append(recorded, out.String())
			}
			if len(recorded) == 2 || time.Now().After(deadline) {
				break
			}
		}
		joined := strings.Join(recorded, "|")
		if len(recorded) != 2 || !strings.Contains(joined, "attached over websocket") || !strings.Contains(joined, "attached over spdy") {
			t.Fatalf("attach recordings: %q", recorded)
		}
	})

	t.Run("port-forward", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, f.kc.Kubectl, "--kubeconfig", kc, "--cache-dir", filepath.Join(f.dir, "cache"),
			"port-forward", "--address", "127.0.0.1", "pod/web", ":8080")
		stdout, _ := cmd.StdoutPipe()
		var stderr syncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); cmd.Wait() }()
		line, err := bufio.NewReader(stdout).ReadString('\n')
		m := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> 8080`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("port-forward: %v %q %s", err, line, stderr.String())
		}
		for i := range 3 { // several connections over the one forward
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+m[1], 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(20 * time.Second))
			msg := strings.Repeat("ping ", 1000) + string(rune('0'+i)) + "\n"
			if _, err := io.WriteString(c, msg); err != nil {
				t.Fatal(err)
			}
			got, err := bufio.NewReaderSize(c, 1<<16).ReadString('\n')
			c.Close()
			if err != nil || got != msg {
				t.Fatalf("through the forward, connection %d: %v (%d bytes back, want %d)\n%s", i, err, len(got), len(msg), stderr.String())
			}
		}
	})

	t.Run("logs -f", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, f.kc.Kubectl, "--kubeconfig", kc, "--cache-dir", filepath.Join(f.dir, "cache"), "logs", "-f", "web")
		stdout, _ := cmd.StdoutPipe()
		var stderr syncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); cmd.Wait() }()
		r := bufio.NewReader(stdout)
		for _, want := range []string{"first line\n", "second line\n"} {
			if got, err := r.ReadString('\n'); got != want {
				t.Fatalf("logs -f: want %q, got %q %v %s", want, got, err, stderr.String())
			}
		}
		// Written after kubectl started following: arrives while it runs,
		// masked by the rule's detectors as kubectl_logs's are.
		p.AppendLog(t, "third line, later")
		if got, err := r.ReadString('\n'); got != "third line, later\n" {
			t.Fatalf("logs -f after a write: %q %v %s", got, err, stderr.String())
		}
		p.AppendLog(t, "signed in: alice@example.com")
		if got, err := r.ReadString('\n'); got != "signed in: [REDACTED:email]\n" {
			t.Fatalf("logs -f, a line with an address: %q %v %s", got, err, stderr.String())
		}
	})

	// The plain log masked too, and counted.
	out, err := f.kubectl(t, kc, "", "logs", "web")
	if err != nil || strings.Contains(out, "alice@") || !strings.Contains(out, "signed in: [REDACTED:email]\n") || !strings.HasPrefix(out, "first line\n") {
		t.Fatalf("logs: %v\n%s", err, out)
	}
	var maskedLogs int64
	for _, ev := range f.events(t, "kubectl_logs") {
		maskedLogs += ev.Masked["detector:email"]
	}
	if maskedLogs < 1 {
		t.Errorf("no masked address counted in the kubectl_logs events")
	}
	// A stream's outcome is recorded when it ends, which for logs -f is
	// when kubectl is stopped: wait for it.
	for tool, rule := range map[string]string{"kubectl_exec": "exec-dev", "kubectl_port_forward": "forward-dev", "kubectl_logs": "read"} {
		var ran int
		for deadline := time.Now().Add(10 * time.Second); ran == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			for _, ev := range f.events(t, tool) {
				if ev.Rule == rule && ev.Credential != "" && ev.Status != "running" {
					ran++
				}
			}
		}
		if ran == 0 {
			for _, ev := range f.events(t, tool) {
				t.Logf("%s: %s rule=%s credential=%q", tool, ev.Status, ev.Rule, ev.Credential)
			}
			t.Errorf("%s: no call allowed by %s with a session credential", tool, rule)
		}
	}
}
