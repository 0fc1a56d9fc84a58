package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// sshMaster is an OpenSSH client connection in ControlMaster mode: each
// `ssh -S SOCKET` after it is one more session on the same connection, so
// that what a run measures is the session, not the key exchange and the
// login (as for the Go client's reused connection).
type sshMaster struct {
	cmd  *exec.Cmd
	sock string
	env  []string
	opts []string // options and destination, for every client
}

var masters atomic.Int32

// startSSHMaster logs in with OpenSSH's client: opts are its options,
// ending with the destination; env is added to its environment.
func startSSHMaster(dir string, env, opts []string) (*sshMaster, error) {
	m := &sshMaster{sock: filepath.Join(dir, fmt.Sprintf("cm%d", masters.Add(1))), env: env, opts: opts}
	args := append([]string{"-M", "-S", m.sock, "-N", "-o", "ControlPersist=no"}, opts...)
	m.cmd = exec.Command("ssh", args...)
	m.cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	m.cmd.Stderr = &stderr
	if err := m.cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { m.cmd.Wait(); close(exited) }()
	deadline := time.After(20 * time.Second)
	for {
		if _, err := os.Stat(m.sock); err == nil {
			return m, nil
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("ssh master: %s", strings.TrimSpace(stderr.String()))
		case <-deadline:
			m.cmd.Process.Kill()
			return nil, errors.New("ssh master: no control socket after 20s")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// run runs command in a new session of the master's connection, its
// stdout to /dev/null; cpu is what the client side spent: the session's
// ssh process and the master.
func (m *sshMaster) run(ctx context.Context, command string) (time.Duration, int64, error) {
	cpu0 := pidCPU(m.cmd.Process.Pid)
	args := append([]string{"-S", m.sock, "-o", "ControlMaster=no"}, m.opts...)
	d, cpu, err := sshCommand(ctx, m.env, append(args, command)...)
	return d, cpu + pidCPU(m.cmd.Process.Pid) - cpu0, err
}

func (m *sshMaster) close() {
	m.cmd.Process.Signal(os.Interrupt)
	time.Sleep(10 * time.Millisecond)
	m.cmd.Process.Kill()
}

// sshMastersTarget is a latency target of OpenSSH's client: one master
// connection per sessionsPerConn clients, a new ssh process (and
// session) per call.
func sshMastersTarget(name, dir string, serverCPU func() int64, env func() []string, opts func() []string) target {
	var mu sync.Mutex
	var ms []*sshMaster
	mastersCPU := func() int64 {
		mu.Lock()
		defer mu.Unlock()
		var n int64
		for _, m := range ms {
			n += pidCPU(m.cmd.Process.Pid)
		}
		return n
	}
	return target{name: name, serverCPU: serverCPU, clientCPU: mastersCPU, open: func(ctx context.Context, clients int, command string) ([]caller, func(), error) {
		mu.Lock()
		defer mu.Unlock()
		ms = nil
		closeAll := func() {
			for _, m := range ms {
				m.close()
			}
		}
		for range (clients + sessionsPerConn - 1) / sessionsPerConn {
			m, err := startSSHMaster(dir, env(), opts())
			if err != nil {
				closeAll()
				return nil, nil, err
			}
			ms = append(ms, m)
			// A first session: through Warden, it mints the
			// session's certificate and dials the host.
			if _, _, err := m.run(ctx, "true"); err != nil {
				closeAll()
				return nil, nil, err
			}
		}
		callers := make([]caller, clients)
		for i := range callers {
			m := ms[i/sessionsPerConn]
			callers[i] = func(ctx context.Context) error {
				_, _, err := m.run(ctx, command)
				return err
			}
		}
		return callers, closeAll, nil
	}}
}
