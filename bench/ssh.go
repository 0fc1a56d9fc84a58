package main

// The SSH benchmarks, against scripts/sshd.sh's sshd:
//
//   - exec_ssh `true` over MCP (stdio and HTTP) against the same command
//     with x/crypto/ssh directly, one reused connection and a new session
//     per call (what exec_ssh does on its lease's connection): latency,
//     calls/s and the CPU each side spends per call.
//   - `cat` of a file of log lines (an e-mail address every 4 KB) through
//     exec_ssh and through the SSH proxy with OpenSSH's client, masked by
//     every detector, against OpenSSH's client direct, x/crypto/ssh's
//     client direct, and a Go relay of x/crypto/ssh server and client
//     that copies and does nothing else (the floor for a proxy in Go):
//     MB/s and CPU per MB.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

var (
	sshOnly       = flag.Bool("ssh", false, "run only the SSH benchmarks (exec_ssh latency; streaming through exec_ssh and the SSH proxy) against direct SSH")
	sshClients    = flag.String("ssh-clients", "1,16", "concurrent clients of the exec_ssh latency benchmark, comma-separated")
	sshStreamMB   = flag.Int("ssh-stream-mb", 100, "size of the file the streaming benchmark cats, in MB")
	sshStreamRuns = flag.Int("ssh-stream-runs", 3, "runs per streaming target; the fastest is reported")
	sshTargets    = flag.String("ssh-targets", "", "measure only the SSH targets whose name contains one of these, comma-separated (default: all)")
	sshProfile    = flag.String("ssh-cpuprofile", "", "write the CPU profile of warden serve (HTTP exec_ssh, the proxy) to this file")
)

// sshWanted reports whether -ssh-targets selects target name.
func sshWanted(name string) bool {
	if *sshTargets == "" {
		return true
	}
	for _, s := range strings.Split(*sshTargets, ",") {
		if s = strings.TrimSpace(s); s != "" && strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// The latency baselines: for Warden's MCP tool, and for its proxy.
const (
	sshDirectName = "x/crypto/ssh direct"
	sshMasterName = "ssh direct (ControlMaster)"
)

// sshBaseline is the direct target a latency target compares with.
func sshBaseline(target string) string {
	if strings.HasPrefix(target, "ssh ") {
		return sshMasterName
	}
	return sshDirectName
}

func runSSHBench(o options) error {
	ctx := context.Background()
	h, err := loadSSHHost()
	if err != nil {
		return err
	}
	if _, err := exec.LookPath("ssh"); err != nil {
		return errors.New("OpenSSH's ssh client is not installed (apt-get install openssh-client)")
	}
	direct, err := h.dial()
	if err != nil {
		return fmt.Errorf("log in to the test sshd with a certificate of its CA: %w", err)
	}
	defer direct.Close()
	file, err := h.ensureStreamFile(direct, *sshStreamMB)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "warden-bench-ssh")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	w, err := startWardenSSH(ctx, o, h, dir)
	if err != nil {
		return fmt.Errorf("start warden serve: %w", err)
	}
	defer w.stop()

	var clients []int
	for _, c := range strings.Split(*sshClients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			return fmt.Errorf("-ssh-clients: bad value %q", c)
		}
		clients = append(clients, n)
	}
	var lat []result
	for _, n := range clients {
		for _, t := range sshLatencyTargets(o, h, w, dir) {
			if t.name != sshDirectName && t.name != sshMasterName && !sshWanted(t.name) {
				continue
			}
			// Concurrent sessions on OpenSSH's ControlMaster queue
			// behind each other (a median of half a second at 16
			// clients, direct): that measures OpenSSH, not Warden.
			if strings.Contains(t.name, "ControlMaster") && n > 1 {
				continue
			}
			fmt.Fprintf(os.Stderr, "bench: exec true %-28s %2d client(s) ...", t.name, n)
			r := measure(ctx, o, t, "true", n)
			r.Query = "exec true"
			fmt.Fprintf(os.Stderr, " %d calls, median %.3f ms\n", r.Calls, r.MedianMs)
			lat = append(lat, r)
		}
	}
	printSSHLatency(lat)
	fmt.Println()

	var ts []streamTarget
	for _, t := range streamTargets(h, w, dir, file) {
		if sshWanted(t.name) || t.name == "ssh direct" {
			ts = append(ts, t)
		}
	}
	streams := measureStreams(ctx, ts, file)
	printStreams(streams, file)
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(map[string]any{"exec_latency": lat, "streaming": streams}, "", "  ")
		os.MkdirAll(filepath.Dir(o.jsonOut), 0o755)
		if err := os.WriteFile(o.jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// sshLatencyTargets are the latency targets: the direct client first.
func sshLatencyTargets(o options, h *sshHost, w *wardenSSH, dir string) []target {
	directOpts := func() []string {
		opts, err := h.writeClientFiles(dir)
		if err != nil {
			log.Fatal(err)
		}
		return opts
	}
	return []target{
		sshDirectTarget(h),
		wardenExecInProcessTarget(h, dir),
		wardenExecStdioTarget(o, w),
		wardenExecHTTPTarget(w),
		sshMastersTarget(sshMasterName, dir, nil, func() []string { return nil }, directOpts),
		sshMastersTarget("ssh via Warden proxy (ControlMaster)", dir, func() int64 { return pidCPU(w.pid()) },
			func() []string { return w.proxyEnv["host"] }, func() []string { return w.proxyArgs("host") }),
	}
}

func printSSHLatency(rs []result) {
	fmt.Println("== exec_ssh `true`: Warden over MCP vs x/crypto/ssh direct (one reused connection, a new session per call)")
	fmt.Println("   Warden: classification, policy, audit intent + outcome, a certificate per session (minted in warm-up), detectors on the output")
	fmt.Println("   in process: Warden's pipeline called in this benchmark process, no MCP: its CPU is all in the client column")
	fmt.Println("   CPU per call: client = this benchmark process (MCP client, or the direct SSH client); Warden = the warden process")
	fmt.Println("   OpenSSH's client: a master connection, an ssh process per call (ControlMaster), direct and through Warden's proxy; 1 client only")
	direct := map[string]result{}
	for _, r := range rs {
		if r.Target == sshDirectName || r.Target == sshMasterName {
			direct[fmt.Sprint(r.Target, r.Clients)] = r
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "clients\ttarget\tmedian ms\tp99 ms\tcalls/s\tmedian +ms vs direct\tcalls/s ×direct\tclient CPU µs/call\tWarden CPU µs/call\terrors\t")
	for _, r := range rs {
		d := direct[fmt.Sprint(sshBaseline(r.Target), r.Clients)]
		added, tput := "-", "-"
		if r.Target != d.Target && d.MedianMs > 0 && r.MedianMs > 0 {
			added = fmt.Sprintf("%+.3f", r.MedianMs-d.MedianMs)
			tput = fmt.Sprintf("%.2f", r.PerSecond/d.PerSecond)
		}
		server := "-"
		if r.ServerCPUUs > 0 {
			server = fmt.Sprintf("%.0f", r.ServerCPUUs)
		}
		fmt.Fprintf(tw, "%d\t%s\t%.3f\t%.3f\t%.0f\t%s\t%s\t%.0f\t%s\t%d\t\n", r.Clients, r.Target, r.MedianMs, r.P99Ms, r.PerSecond, added, tput, r.ClientCPUUs, server, r.Errors)
	}
	tw.Flush()
	for _, r := range rs {
		if r.Note != "" {
			fmt.Printf("note: %s, %d clients: %s\n", r.Target, r.Clients, r.Note)
		}
	}
}

// streamResult is the best run of one streaming target.
type streamResult struct {
	Target  string  `json:"target"`
	Path    string  `json:"path"`
	Seconds float64 `json:"seconds"`
	MBps    float64 `json:"mb_per_second"`
	// CPU per MB of the file, in ms: the client's (ssh, or this process)
	// and the process in the middle's (Warden, or the Go relay).
	ClientCPUMsPerMB float64 `json:"client_cpu_ms_per_mb,omitempty"`
	MiddleCPUMsPerMB float64 `json:"middle_cpu_ms_per_mb,omitempty"`
	// Masked and Delivered are what exec_ssh reports (values masked,
	// bytes of the masked stream); proxy runs do not report them.
	Masked    int64  `json:"masked,omitempty"`
	Delivered int64  `json:"delivered_bytes,omitempty"`
	Runs      int    `json:"runs"`
	Note      string `json:"note,omitempty"`
}

// streamRun is what one run of a streaming target measured.
type streamRun struct {
	elapsed              time.Duration
	clientCPU, middleCPU int64 // ns
	masked, delivered    int64
}

// streamTarget cats the file: open sets it up (a connection, a
// session's certificate), and each call of the runner it returns is one
// run.
type streamTarget struct {
	name, path string
	open       func(ctx context.Context) (streamRunner, func(), error)
}

type streamRunner func(ctx context.Context) (streamRun, error)

// measureStreams sets every target up, then runs them in turn, one run
// of each per round, so that a burst of other load on the machine falls
// on one run of several targets rather than on every run of one; the
// fastest run of each is kept.
func measureStreams(ctx context.Context, ts []streamTarget, f streamFile) []streamResult {
	type state struct {
		run  streamRunner
		best streamRun
		res  streamResult
	}
	var ss []*state
	for _, t := range ts {
		st := &state{res: streamResult{Target: t.name, Path: t.path}}
		run, cleanup, err := t.open(ctx)
		if err != nil {
			st.res.Note = "setup failed: " + err.Error()
		} else {
			defer cleanup()
			st.run = run
		}
		ss = append(ss, st)
	}
	for round := range max(1, *sshStreamRuns) {
		for _, st := range ss {
			if st.run == nil {
				continue
			}
			run, err := st.run(ctx)
			if err != nil {
				st.res.Note, st.run = err.Error(), nil
				continue
			}
			st.res.Runs++
			fmt.Fprintf(os.Stderr, "bench: cat %d MB, round %d: %-34s %7.1f MB/s\n", *sshStreamMB, round+1, st.res.Target, float64(f.size)/1e6/run.elapsed.Seconds())
			if st.best.elapsed == 0 || run.elapsed < st.best.elapsed {
				st.best = run
			}
		}
	}
	var out []streamResult
	for _, st := range ss {
		r, best := st.res, st.best
		if best.elapsed > 0 {
			mb := float64(f.size) / 1e6
			r.Seconds = best.elapsed.Seconds()
			r.MBps = mb / r.Seconds
			r.ClientCPUMsPerMB = float64(best.clientCPU) / 1e6 / mb
			r.MiddleCPUMsPerMB = float64(best.middleCPU) / 1e6 / mb
			r.Masked, r.Delivered = best.masked, best.delivered
		}
		out = append(out, r)
	}
	return out
}

func printStreams(rs []streamResult, f streamFile) {
	fmt.Printf("== cat of a %.0f MB log file (an e-mail address every 4 KB, %d in all), best of %d runs taken in turn: Warden with every detector vs direct\n",
		float64(f.size)/1e6, f.emails, *sshStreamRuns)
	fmt.Println("   ssh: OpenSSH's client (stdout to /dev/null); go-relay: an x/crypto/ssh server relaying to an x/crypto/ssh client, nothing else")
	fmt.Println("   CPU per MB of the file: client = ssh (or this process for x/crypto/ssh and MCP); middle = warden or the relay")
	base := 0.0
	for _, r := range rs {
		if r.Target == "ssh direct" {
			base = r.MBps
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tpath\tMB/s\t×ssh direct\tclient CPU ms/MB\tmiddle CPU ms/MB\tmasked\t")
	for _, r := range rs {
		ratio, middle, masked := "-", "-", "-"
		if base > 0 && r.MBps > 0 {
			ratio = fmt.Sprintf("%.2f", r.MBps/base)
		}
		if r.MiddleCPUMsPerMB > 0 {
			middle = fmt.Sprintf("%.2f", r.MiddleCPUMsPerMB)
		}
		if r.Masked > 0 {
			masked = strconv.FormatInt(r.Masked, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%s\t%.2f\t%s\t%s\t\n", r.Target, r.Path, r.MBps, ratio, r.ClientCPUMsPerMB, middle, masked)
	}
	tw.Flush()
	for _, r := range rs {
		if r.Note != "" {
			fmt.Printf("note: %s: %s\n", r.Target, r.Note)
		}
	}
}

// sshCommand runs OpenSSH's client with args, its stdout to /dev/null,
// and returns how long it took and the CPU it spent.
func sshCommand(ctx context.Context, env []string, args ...string) (time.Duration, int64, error) {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return 0, 0, err
	}
	defer devnull.Close()
	cmd := exec.CommandContext(ctx, "ssh", args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = devnull, &stderr
	start := time.Now()
	err = cmd.Run()
	d := time.Since(start)
	if err != nil {
		return d, 0, fmt.Errorf("ssh: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return d, cmd.ProcessState.UserTime().Nanoseconds() + cmd.ProcessState.SystemTime().Nanoseconds(), nil
}
