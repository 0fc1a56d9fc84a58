package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/audit"
	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
	"github.com/wardenhq/warden/internal/testenv"
	"github.com/wardenhq/warden/recording"
)

// sshEnv is `warden serve` with the SSH proxy on, in front of the test
// sshd, and what OpenSSH's client needs to log in: the known_hosts file
// `warden connect` pins, and an askpass program that gives the token.
type sshEnv struct {
	config, dir string
	server      string
	port        string
	knownHosts  string
	askpass     string
	token       string
	logs        *syncBuffer
}

func startSSHServe(t *testing.T) sshEnv {
	t.Helper()
	srv := testenv.SSH(t)
	testenv.Program(t, "ssh", "openssh-client")
	dir := t.TempDir()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := fmt.Sprintf(`listen:
  ssh: 127.0.0.1:%d
store: sqlite://./audit.db
ssh_ca: {private_key_file: %s}
identity:
  local: agent
  allow_anonymous_loopback: true
  users:
    - {name: agent, groups: [agents, ops]}
connections:
  - name: host
    kind: ssh
    address: %s
    host_key: %q
    principals: [%s]
masking:
  profiles:
    pii: {detectors: [email]}
rules:
  - {name: agents-read, subjects: {groups: [agents]}, tools: [exec_ssh], effect: allow, masking: pii, grants: {principal: %s}}
  - {name: ops-shell, subjects: {groups: [ops]}, tools: [ssh_shell], effect: allow, masking: pii, grants: {principal: %s, pty: true}}
  - {name: ops-sftp, subjects: {groups: [ops]}, tools: [ssh_sftp], effect: allow, grants: {principal: %s}}
`, port, srv.CAKeyFile, srv.Addr, srv.KnownHosts, strings.Join(srv.Users, ", "), srv.Users[0], srv.Users[0], srv.Users[0])
	path := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	u, logs, _ := serveWarden(t, "--config", path, "--listen", "127.0.0.1:0")
	e := sshEnv{config: path, dir: dir, server: u, logs: logs}

	out, err := exec.Command(wardenBin, "connect", "host", "--server", u, "--json").Output()
	if err != nil {
		t.Fatalf("warden connect: %v", err)
	}
	var info struct {
		Kind, Port, Password, Command string
		KnownHosts                    string `json:"known_hosts"`
	}
	if err := json.Unmarshal(out, &info); err != nil || info.Kind != "ssh" || info.KnownHosts == "" || info.Password == "" {
		t.Fatalf("warden connect --json: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("ssh -p %d host@127.0.0.1", port); info.Command != want {
		t.Errorf("command %q, want %q", info.Command, want)
	}
	e.port, e.token = info.Port, info.Password
	e.knownHosts = filepath.Join(dir, "known_hosts")
	os.WriteFile(e.knownHosts, []byte(info.KnownHosts+"\n"), 0o600)
	e.askpass = filepath.Join(dir, "askpass")
	os.WriteFile(e.askpass, []byte("#!/bin/sh\necho '"+info.Password+"'\n"), 0o700)
	return e
}

// ssh runs OpenSSH's client through the proxy with extra options (which
// win: OpenSSH keeps an option's first value), then the destination and
// the command (none: a shell).
func (e sshEnv) ssh(ctx context.Context, opts []string, args ...string) *exec.Cmd {
	base := []string{"-F", "/dev/null", "-p", e.port, "-o", "UserKnownHostsFile=" + e.knownHosts,
		"-o", "StrictHostKeyChecking=yes", "-o", "PreferredAuthentications=keyboard-interactive,password",
		"-o", "PubkeyAuthentication=no", "-o", "ConnectTimeout=10"}
	all := append(append(append([]string{}, opts...), base...), args...)
	cmd := exec.CommandContext(ctx, "ssh", all...)
	cmd.Env = append(os.Environ(), "SSH_ASKPASS="+e.askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=none")
	return cmd
}

func (e sshEnv) events(t *testing.T) []audit.Event {
	t.Helper()
	store, err := auditsqlite.Open(context.Background(), filepath.Join(e.dir, "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	evs, err := store.List(context.Background(), audit.Filter{Limit: audit.MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestSSHProxyOpenSSH: the OpenSSH client unchanged, through the proxy:
// warden connect's known_hosts line pins the proxy, a token logs in, a
// read command runs with its output masked and its exit status kept, a
// write is refused with exit 126 and the reason, and -L, -R and -A are
// refused and audited.
func TestSSHProxyOpenSSH(t *testing.T) {
	e := startSSHServe(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	out, err := e.ssh(ctx, nil, "host@127.0.0.1", "echo contact alice.smith@example.com").CombinedOutput()
	if err != nil || strings.Contains(string(out), "alice.smith@example.com") || !strings.Contains(string(out), "contact") {
		t.Errorf("exec: %v\n%s", err, out)
	}
	err = e.ssh(ctx, nil, "host@127.0.0.1", "ls /no/such/dir").Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Errorf("a failing command: %v, want exit status 2 (ls's)", err)
	}
	out, err = e.ssh(ctx, nil, "host@127.0.0.1", "rm -rf /tmp/warden-e2e").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 126 || !strings.Contains(string(out), "warden: ") {
		t.Errorf("a write: %v\n%s; want exit 126 and Warden's reason", err, out)
	}

	// A changed host key is refused by the client: Warden's pin is what
	// it trusts, not whatever answers.
	bad := filepath.Join(e.dir, "bad_known_hosts")
	os.WriteFile(bad, []byte(fmt.Sprintf("[127.0.0.1]:%s %s\n", e.port, testenv.SSH(t).HostKey)), 0o600)
	if out, err := e.ssh(ctx, []string{"-o", "UserKnownHostsFile=" + bad}, "host@127.0.0.1", "true").CombinedOutput(); err == nil || !strings.Contains(string(out), "IDENTIFICATION HAS CHANGED") {
		t.Errorf("a changed host key: %v\n%s", err, out)
	}

	// -R: the server refuses the forward; with ExitOnForwardFailure the
	// client gives up.
	if out, err := e.ssh(ctx, []string{"-o", "ExitOnForwardFailure=yes", "-R", "127.0.0.1:0:127.0.0.1:22"}, "host@127.0.0.1", "true").CombinedOutput(); err == nil {
		t.Errorf("-R was allowed:\n%s", out)
	}
	// -L: the client listens; a connection through it is refused.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	lport := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	fwd := e.ssh(ctx, []string{"-N", "-L", fmt.Sprintf("127.0.0.1:%d:%s", lport, testenv.SSH(t).Addr)}, "host@127.0.0.1")
	if err := fwd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { fwd.Process.Kill(); fwd.Wait() }()
	var through bool
	for i := 0; i < 100; i++ {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", lport))
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64)
		n, _ := c.Read(buf)
		c.Close()
		through = strings.HasPrefix(string(buf[:n]), "SSH-")
		break
	}
	if through {
		t.Error("-L reached the host's sshd")
	}
	// -A: with an agent to forward, the request is refused.
	sock := filepath.Join(e.dir, "agent.sock")
	agent := exec.CommandContext(ctx, "ssh-agent", "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatalf("ssh-agent: %v", err)
	}
	{
		defer func() { agent.Process.Kill(); agent.Wait() }()
		for i := 0; i < 50; i++ {
			if _, err := os.Stat(sock); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		a := e.ssh(ctx, []string{"-A"}, "host@127.0.0.1", "printenv SSH_AUTH_SOCK")
		a.Env = append(a.Env, "SSH_AUTH_SOCK="+sock)
		if out, _ := a.CombinedOutput(); strings.Contains(string(out), "/") {
			t.Errorf("-A: the host has an agent socket:\n%s", out)
		}
	}

	var forwards, agents, execs int
	deadline := time.Now().Add(10 * time.Second)
	for {
		forwards, agents, execs = 0, 0, 0
		for _, ev := range e.events(t) {
			switch ev.Tool {
			case "ssh.forward":
				forwards++
			case "ssh.agent":
				agents++
			case "exec_ssh":
				execs++
				if ev.Transport != "ssh-proxy" || ev.Identity != "agent" {
					t.Errorf("exec event %+v", ev)
				}
			}
		}
		if (forwards >= 2 && agents >= 1 && execs >= 4) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if forwards < 2 || agents < 1 || execs < 4 {
		t.Errorf("audit: %d forward refusals (want -R and -L), %d agent refusals, %d exec_ssh events", forwards, agents, execs)
	}

	// Neither the CA's private key nor the login token is in the logs
	// or the audit store.
	caKey, err := os.ReadFile(testenv.SSH(t).CAKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for _, line := range strings.Split(string(caKey), "\n") {
		if len(line) > 40 && !strings.HasPrefix(line, "-----") {
			secrets = append(secrets, line)
		}
	}
	secrets = append(secrets, e.token)
	db, _ := os.ReadFile(filepath.Join(e.dir, "audit.db"))
	wal, _ := os.ReadFile(filepath.Join(e.dir, "audit.db-wal"))
	for _, secret := range secrets {
		for where, text := range map[string]string{"logs": e.logs.String(), "audit.db": string(db) + string(wal)} {
			if strings.Contains(text, secret) {
				t.Errorf("a secret (%.8s...) is in the %s", secret, where)
			}
		}
	}
}

// TestSSHProxySFTP: sftp, which a rule names explicitly (ssh_sftp), goes
// through to the host's sftp server as the rule's account.
func TestSSHProxySFTP(t *testing.T) {
	e := startSSHServe(t)
	testenv.Program(t, "sftp", "openssh-client")
	ssh := e.ssh(context.Background(), nil)
	args := []string{"-P", e.port}       // commands on stdin: -b would forbid the token prompt
	for i := 1; i < len(ssh.Args); i++ { // the ssh options, without -p
		if ssh.Args[i] == "-p" {
			i++
			continue
		}
		args = append(args, ssh.Args[i])
	}
	cmd := exec.Command("sftp", append(args, "host@127.0.0.1")...)
	cmd.Env = ssh.Env
	cmd.Stdin = strings.NewReader("pwd\nbye\n")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "/home/"+testenv.SSH(t).Users[0]) {
		t.Fatalf("sftp: %v\n%s\nlogs:\n%s", err, out, e.logs)
	}
	var sftps int
	for _, ev := range e.events(t) {
		if ev.Tool == "ssh_sftp" && ev.Status == audit.StatusOK {
			sftps++
		}
	}
	if sftps != 1 {
		t.Errorf("%d ssh_sftp events ok, want 1", sftps)
	}
}

// TestSSHProxyInteractiveShell: an interactive shell through the proxy,
// driven in a real terminal (tmux): the prompt shows, output is masked,
// a resize reaches the host, exit ends the session.
func TestSSHProxyInteractiveShell(t *testing.T) {
	e := startSSHServe(t)
	testenv.Program(t, "tmux", "tmux")
	sock := filepath.Join(e.dir, "tmux.sock")
	tmux := func(args ...string) string {
		out, err := exec.Command("tmux", append([]string{"-S", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	ssh := e.ssh(context.Background(), []string{"-t"}, "host@127.0.0.1")
	line := "env SSH_ASKPASS=" + e.askpass + " SSH_ASKPASS_REQUIRE=force DISPLAY=none " + strings.Join(ssh.Args, " ")
	tmux("new-session", "-d", "-x", "100", "-y", "30", line)
	defer exec.Command("tmux", "-S", sock, "kill-server").Run()
	screen := func(want string) string {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			s := tmux("capture-pane", "-p", "-S", "-100")
			if strings.Contains(s, want) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %q on the screen:\n%s\nlogs:\n%s", want, s, e.logs)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	screen("~$")
	tmux("send-keys", "echo mail bob.jones@example.org; stty size", "Enter")
	s := screen("30 100")
	if strings.Contains(strings.ReplaceAll(s, "echo mail bob.jones@example.org", ""), "bob.jones@example.org") {
		t.Errorf("the address came through unmasked:\n%s", s)
	}
	tmux("resize-window", "-x", "120", "-y", "40")
	time.Sleep(300 * time.Millisecond)
	tmux("send-keys", "clear; stty size", "Enter")
	screen("40 120")
	tmux("send-keys", "exit", "Enter")
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := exec.Command("tmux", "-S", sock, "has-session").Run(); err != nil {
			break // the session ended with the shell
		}
		if time.Now().After(deadline) {
			t.Fatalf("the session did not end after exit:\n%s", tmux("capture-pane", "-p"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	var shells []audit.Event
	for _, ev := range e.events(t) {
		if ev.Tool == "ssh_shell" && ev.Status == audit.StatusOK {
			shells = append(shells, ev)
		}
	}
	if len(shells) != 1 {
		t.Fatalf("%d ssh_shell events ok, want 1", len(shells))
	}

	// The session was recorded as the client saw it: warden replay
	// exports a cast asciinema plays, its output masked, its input and
	// resize and exit there.
	cast := filepath.Join(e.dir, "shell.cast")
	if out, err := exec.Command(wardenBin, "replay", shells[0].ID, "--config", e.config, "--export", cast).CombinedOutput(); err != nil {
		t.Fatalf("replay --export: %v\n%s", err, out)
	}
	f, err := os.Open(cast)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, evs, err := recording.Decode(f)
	if err != nil {
		t.Fatalf("the exported cast does not decode: %v", err)
	}
	var output, input strings.Builder
	var resized, exited bool
	for _, ev := range evs {
		switch ev.Type {
		case recording.TypeOutput:
			output.WriteString(ev.Data)
		case recording.TypeInput:
			input.WriteString(ev.Data)
		case recording.TypeResize:
			resized = resized || ev.Data == "120x40"
		case recording.TypeExit:
			exited = true
		}
	}
	if h.Width != 100 || h.Height != 30 || !strings.Contains(output.String(), "30 100") || !strings.Contains(output.String(), "40 120") ||
		strings.Contains(output.String(), "bob.jones@example.org") || !strings.Contains(input.String(), "stty size") || !resized || !exited {
		t.Errorf("recording: header %+v, resized %v, exited %v\noutput %q\ninput %q", h, resized, exited, output.String(), input.String())
	}
	if out, err := exec.Command(wardenBin, "replay", shells[0].ID, "--config", e.config, "--play", "--speed", "1000").CombinedOutput(); err != nil || !strings.Contains(string(out), "40 120") {
		t.Errorf("replay --play: %v\n%s", err, out)
	}
	if out, err := exec.Command(wardenBin, "replay", shells[0].Session, "--config", e.config).CombinedOutput(); err != nil || !strings.Contains(string(out), shells[0].ID) {
		t.Errorf("replay SESSION does not show the recording: %v\n%s", err, out)
	}
}
