package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	xssh "golang.org/x/crypto/ssh"
)

// sessionsPerConn is how many sessions a direct client opens on one
// connection before it dials another, as Warden's connector does: half
// sshd's MaxSessions (10), since sshd frees a closed session's slot only
// after it has read the next request.
const sessionsPerConn = 5

// sshDirectTarget is the latency baseline: x/crypto/ssh, one connection
// per sessionsPerConn clients, reused, a new session per call.
func sshDirectTarget(h *sshHost) target {
	return target{name: sshDirectName, open: func(ctx context.Context, clients int, command string) ([]caller, func(), error) {
		var conns []*xssh.Client
		closeAll := func() {
			for _, c := range conns {
				c.Close()
			}
		}
		for range (clients + sessionsPerConn - 1) / sessionsPerConn {
			c, err := h.dial()
			if err != nil {
				closeAll()
				return nil, nil, err
			}
			conns = append(conns, c)
		}
		callers := make([]caller, clients)
		for i := range callers {
			c := conns[i/sessionsPerConn]
			callers[i] = func(context.Context) error {
				sess, err := c.NewSession()
				if err != nil {
					return err
				}
				defer sess.Close()
				sess.Stdout, sess.Stderr = io.Discard, io.Discard
				return sess.Run(command)
			}
		}
		return callers, closeAll, nil
	}}
}

// wardenSSH is `warden serve` with MCP over HTTP and the SSH proxy, in
// front of the test sshd, and what a client needs to use either.
type wardenSSH struct {
	cmd        *exec.Cmd
	url        string
	mcpConfig  string // the same connections and rules for `warden mcp` (its own store)
	warden     string
	proxyArgs  func(connection string) []string // OpenSSH client options and destination
	proxyEnv   map[string][]string              // by connection: SSH_ASKPASS giving its token
	stopServer func()
}

func (w *wardenSSH) pid() int { return w.cmd.Process.Pid }
func (w *wardenSSH) stop()    { w.stopServer() }

// wardenSSHConfig is Warden's configuration for the SSH benchmarks: two
// connections to the same host, "host" whose rule masks with every
// detector and "plain" whose rule names no masking profile.
func wardenSSHConfig(h *sshHost, listen, store string) string {
	return fmt.Sprintf(`%sstore: sqlite://%s
ssh_ca: {private_key_file: %s}
identity:
  local: bench
  allow_anonymous_loopback: true
  users: [{name: bench, groups: [bench]}]
limits: {statement_timeout: 10m}
connections:
  - {name: host, kind: ssh, address: %q, host_key: %q, principals: [%s]}
  - {name: plain, kind: ssh, address: %q, host_key: %q, principals: [%s]}
masking:
  profiles:
    detectors: {detectors: [all]}
rules:
  - {name: bench-masked, subjects: {groups: [bench]}, connections: {names: [host]}, tools: [exec_ssh], effect: allow, masking: detectors, grants: {principal: %s}}
  - {name: bench-plain, subjects: {groups: [bench]}, connections: {names: [plain]}, tools: [exec_ssh], effect: allow, grants: {principal: %s}}
`, listen, store, h.caKeyFile, h.addr, h.knownHosts, h.user, h.addr, h.knownHosts, h.user, h.user, h.user)
}

// startWardenSSH starts warden serve and gets a proxy token for each
// connection with `warden connect CONNECTION --json`.
func startWardenSSH(ctx context.Context, o options, h *sshHost, dir string) (*wardenSSH, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(cfg, []byte(wardenSSHConfig(h, fmt.Sprintf("listen:\n  ssh: 127.0.0.1:%d\n", port), filepath.Join(dir, "serve.db"))), 0o600); err != nil {
		return nil, err
	}
	w := &wardenSSH{mcpConfig: filepath.Join(dir, "mcp.yaml"), warden: o.warden, proxyEnv: map[string][]string{}}
	if err := os.WriteFile(w.mcpConfig, []byte(wardenSSHConfig(h, "", filepath.Join(dir, "mcp.db"))), 0o600); err != nil {
		return nil, err
	}
	args := []string{"serve", "--config", cfg, "--listen", "127.0.0.1:0", "--log-level", "warn"}
	if *sshProfile != "" {
		args = append(args, "--cpuprofile", *sshProfile)
	}
	w.cmd = exec.Command(o.warden, args...)
	w.cmd.Stderr = os.Stderr
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := w.cmd.Start(); err != nil {
		return nil, err
	}
	w.stopServer = func() { interruptAndWait(w.cmd, 15*time.Second) }
	if w.url, err = readURL(out); err != nil {
		w.stop()
		return nil, err
	}
	if err := waitPort(fmt.Sprintf("127.0.0.1:%d", port), 20*time.Second); err != nil {
		w.stop()
		return nil, err
	}
	knownHosts := filepath.Join(dir, "proxy_known_hosts")
	var lines []string
	for _, conn := range []string{"host", "plain"} {
		b, err := exec.CommandContext(ctx, o.warden, "connect", conn, "--server", w.url, "--json").Output()
		if err != nil {
			w.stop()
			return nil, fmt.Errorf("warden connect %s: %w", conn, err)
		}
		var info struct {
			Port, Password string
			KnownHosts     string `json:"known_hosts"`
		}
		if err := json.Unmarshal(b, &info); err != nil || info.Password == "" || info.KnownHosts == "" {
			w.stop()
			return nil, fmt.Errorf("warden connect %s --json: %v: %s", conn, err, b)
		}
		askpass := filepath.Join(dir, "askpass-"+conn)
		if err := os.WriteFile(askpass, []byte("#!/bin/sh\necho '"+info.Password+"'\n"), 0o700); err != nil {
			w.stop()
			return nil, err
		}
		w.proxyEnv[conn] = []string{"SSH_ASKPASS=" + askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=none"}
		lines = append(lines, info.KnownHosts)
	}
	if err := os.WriteFile(knownHosts, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		w.stop()
		return nil, err
	}
	w.proxyArgs = func(conn string) []string {
		return []string{"-F", "/dev/null", "-p", strconv.Itoa(port), "-o", "UserKnownHostsFile=" + knownHosts,
			"-o", "StrictHostKeyChecking=yes", "-o", "PreferredAuthentications=keyboard-interactive,password",
			"-o", "PubkeyAuthentication=no", conn + "@127.0.0.1"}
	}
	return w, nil
}

// execCaller calls exec_ssh on connection host and fails on a tool error
// or a non-zero exit status.
func execCaller(c *client.Client, command string) caller {
	return func(ctx context.Context) error {
		_, err := callExec(ctx, c, "host", command)
		return err
	}
}

// execOutcome is what the benchmark reads of exec_ssh's result.
type execOutcome struct {
	ExitStatus  int              `json:"exit_status"`
	StdoutBytes int64            `json:"stdout_bytes"`
	Masked      map[string]int64 `json:"masked"`
}

func callExec(ctx context.Context, c *client.Client, conn, command string) (execOutcome, error) {
	var out execOutcome
	req := mcpgo.CallToolRequest{}
	req.Params.Name = "exec_ssh"
	req.Params.Arguments = map[string]any{"connection": conn, "command": command}
	res, err := c.CallTool(ctx, req)
	if err != nil {
		return out, err
	}
	if res.IsError {
		var msg string
		for _, ct := range res.Content {
			if tc, ok := ct.(mcpgo.TextContent); ok {
				msg += tc.Text
			}
		}
		return out, errors.New(msg)
	}
	raw := res.RawStructuredContent
	if raw == nil {
		raw, _ = json.Marshal(res.StructuredContent)
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return out, fmt.Errorf("exec_ssh's structured result: %w", err)
	}
	if out.ExitStatus != 0 {
		return out, fmt.Errorf("exit status %d", out.ExitStatus)
	}
	return out, nil
}

// wardenExecStdioTarget drives its own `warden mcp`: one session, so one
// certificate, whose connection the concurrent calls share (8 sessions a
// connection, as for the direct client).
func wardenExecStdioTarget(o options, w *wardenSSH) target {
	var mu sync.Mutex
	var cmd *exec.Cmd
	cpu := func() int64 {
		mu.Lock()
		defer mu.Unlock()
		if cmd == nil || cmd.Process == nil {
			return 0
		}
		return pidCPU(cmd.Process.Pid)
	}
	return target{name: "warden exec_ssh MCP stdio", serverCPU: cpu, open: func(ctx context.Context, clients int, command string) ([]caller, func(), error) {
		keep := func(ctx context.Context, command string, env []string, args []string) (*exec.Cmd, error) {
			c := exec.CommandContext(ctx, command, args...)
			c.Env = env
			mu.Lock()
			cmd = c
			mu.Unlock()
			return c, nil
		}
		c, err := client.NewStdioMCPClientWithOptions(w.warden, os.Environ(),
			append([]string{"mcp", "--config", w.mcpConfig, "--log-level", "warn"}, profileArgs("ssh-stdio", clients)...),
			transport.WithCommandStderrWriter(os.Stderr), transport.WithCommandFunc(keep))
		if err != nil {
			return nil, nil, err
		}
		if err := initialize(ctx, c); err != nil {
			c.Close()
			return nil, nil, err
		}
		return repeat(execCaller(c, command), clients), func() { c.Close() }, nil
	}}
}

// wardenExecHTTPTarget drives the running warden serve; each client has
// its own MCP session, so its own certificate and connection.
func wardenExecHTTPTarget(w *wardenSSH) target {
	return target{name: "warden exec_ssh MCP HTTP", serverCPU: func() int64 { return pidCPU(w.pid()) },
		open: func(ctx context.Context, clients int, command string) ([]caller, func(), error) {
			cs, err := mcpHTTPClients(ctx, w.url, clients)
			if err != nil {
				return nil, nil, err
			}
			callers := make([]caller, clients)
			for i, c := range cs {
				callers[i] = execCaller(c, command)
			}
			return callers, func() {
				for _, c := range cs {
					c.Close()
				}
			}, nil
		}}
}

func mcpHTTPClients(ctx context.Context, url string, n int) ([]*client.Client, error) {
	var cs []*client.Client
	for range n {
		c, err := client.NewStreamableHttpClient(url)
		if err == nil {
			err = c.Start(ctx)
		}
		if err == nil {
			err = initialize(ctx, c)
		}
		if err != nil {
			for _, c := range cs {
				c.Close()
			}
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// streamTargets are the ways the benchmark cats the file.
func streamTargets(h *sshHost, w *wardenSSH, dir string, f streamFile) []streamTarget {
	cat := "cat " + f.path
	// OpenSSH's client, on a master connection made before the runs.
	viaMaster := func(env []string, opts func() ([]string, error), middle func() int) func(ctx context.Context) (streamRunner, func(), error) {
		return func(ctx context.Context) (streamRunner, func(), error) {
			o, err := opts()
			if err != nil {
				return nil, nil, err
			}
			m, err := startSSHMaster(dir, env, o)
			if err != nil {
				return nil, nil, err
			}
			// A first session: through Warden, it mints the
			// session's certificate and dials the host.
			if _, _, err := m.run(ctx, "true"); err != nil {
				m.close()
				return nil, nil, err
			}
			return func(ctx context.Context) (streamRun, error) {
				var mid0 int64
				if middle != nil {
					mid0 = pidCPU(middle())
				}
				d, cpu, err := m.run(ctx, cat)
				r := streamRun{elapsed: d, clientCPU: cpu}
				if middle != nil {
					r.middleCPU = pidCPU(middle()) - mid0
				}
				return r, err
			}, m.close, nil
		}
	}
	direct := func() ([]string, error) { return h.writeClientFiles(dir) }
	ts := []streamTarget{
		{name: "ssh direct", path: "ssh → sshd", open: viaMaster(nil, direct, nil)},
		{name: "x/crypto/ssh direct", path: "Go client → sshd", open: func(ctx context.Context) (streamRunner, func(), error) {
			c, err := h.dial()
			if err != nil {
				return nil, nil, err
			}
			return func(ctx context.Context) (streamRun, error) {
				sess, err := c.NewSession()
				if err != nil {
					return streamRun{}, err
				}
				defer sess.Close()
				var out countingWriter
				sess.Stdout = &out
				cpu0, start := selfCPU(), time.Now()
				if err := sess.Run(cat); err != nil {
					return streamRun{}, err
				}
				r := streamRun{elapsed: time.Since(start), clientCPU: selfCPU() - cpu0}
				if out.n != f.size {
					return r, fmt.Errorf("read %d bytes of %d", out.n, f.size)
				}
				return r, nil
			}, func() { c.Close() }, nil
		}},
		{name: "go-relay", path: "ssh → Go relay → sshd", open: func(ctx context.Context) (streamRunner, func(), error) {
			relay, port, stop, err := startSSHRelay()
			if err != nil {
				return nil, nil, err
			}
			opts := func() ([]string, error) {
				return []string{"-F", "/dev/null", "-p", port, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
					"-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "bench@127.0.0.1"}, nil
			}
			run, closeMaster, err := viaMaster(nil, opts, func() int { return relay })(ctx)
			if err != nil {
				stop()
				return nil, nil, err
			}
			return run, func() { closeMaster(); stop() }, nil
		}},
	}
	for _, conn := range []string{"host", "plain"} {
		name := "warden proxy, every detector"
		if conn == "plain" {
			name = "warden proxy, no masking"
		}
		opts := func() ([]string, error) { return w.proxyArgs(conn), nil }
		ts = append(ts, streamTarget{name: name, path: "ssh → Warden → sshd", open: viaMaster(w.proxyEnv[conn], opts, w.pid)})
	}
	for _, conn := range []string{"host", "plain"} {
		name := "warden exec_ssh, every detector"
		if conn == "plain" {
			name = "warden exec_ssh, no masking"
		}
		ts = append(ts, streamTarget{name: name, path: "MCP HTTP → Warden → sshd", open: func(ctx context.Context) (streamRunner, func(), error) {
			cs, err := mcpHTTPClients(ctx, w.url, 1)
			if err != nil {
				return nil, nil, err
			}
			// The session's certificate is minted by a first call.
			if _, err := callExec(ctx, cs[0], conn, "true"); err != nil {
				cs[0].Close()
				return nil, nil, err
			}
			return func(ctx context.Context) (streamRun, error) {
				cpu0, mid0, start := selfCPU(), pidCPU(w.pid()), time.Now()
				out, err := callExec(ctx, cs[0], conn, cat)
				r := streamRun{elapsed: time.Since(start), clientCPU: selfCPU() - cpu0, middleCPU: pidCPU(w.pid()) - mid0,
					delivered: out.StdoutBytes}
				for _, n := range out.Masked {
					r.masked += n
				}
				if err == nil && conn == "host" && out.Masked["detector:email"] != int64(f.emails) {
					err = fmt.Errorf("masked %v, want %d e-mail addresses", out.Masked, f.emails)
				}
				return r, err
			}, func() { cs[0].Close() }, nil
		}})
	}
	return ts
}

// startSSHRelay runs this binary as the go-relay SSH target and returns
// its pid and port.
func startSSHRelay() (int, string, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return 0, "", nil, err
	}
	cmd := exec.Command(self, "-ssh-relay-serve")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return 0, "", nil, err
	}
	stop := func() { interruptAndWait(cmd, 5*time.Second) }
	line, _ := bufio.NewReader(out).ReadString('\n')
	port := strings.TrimSpace(line)
	if _, err := strconv.Atoi(port); err != nil {
		stop()
		return 0, "", nil, errors.New("go-relay did not start")
	}
	if err := waitPort(net.JoinHostPort("127.0.0.1", port), 10*time.Second); err != nil {
		stop()
		return 0, "", nil, err
	}
	return cmd.Process.Pid, port, stop, nil
}
