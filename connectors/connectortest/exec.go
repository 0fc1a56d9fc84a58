package connectortest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardenhq/warden/connectors"
)

// ExecHarness tells RunExec how to reach one host kind. The host runs
// commands with a POSIX shell and has a writable /tmp.
type ExecHarness struct {
	// Open returns a connector to the host and a credential to run as. It
	// registers its own cleanup with t; RunExec may also Close the
	// connector itself.
	Open func(t *testing.T) ExecFixture
}

// ExecFixture is one connector with the credential its commands run as.
type ExecFixture struct {
	Conn       connectors.Exec
	Credential connectors.Credential
}

// execTimeout bounds the suite's own commands; generous, never asserted.
const execTimeout = 30 * time.Second

// RunExec runs the contract suite of the Exec capability.
func RunExec(t *testing.T, h ExecHarness) {
	t.Run("Output", func(t *testing.T) { testExecOutput(t, h) })
	t.Run("NonZeroExit", func(t *testing.T) { testExecNonZero(t, h) })
	t.Run("Stdin", func(t *testing.T) { testExecStdin(t, h) })
	t.Run("Streams", func(t *testing.T) { testExecStreams(t, h) })
	t.Run("Gate", func(t *testing.T) { testExecGate(t, h) })
	t.Run("Timeout", func(t *testing.T) { testExecTimeout(t, h) })
	t.Run("Concurrent", func(t *testing.T) { testExecConcurrent(t, h) })
	t.Run("Close", func(t *testing.T) { testExecClose(t, h) })
}

// run executes command and returns its output and result.
func run(t *testing.T, f ExecFixture, command string) (stdout, stderr string, res connectors.ExecResult, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), execTimeout)
	defer cancel()
	var o, e bytes.Buffer
	res, err = f.Conn.Exec(ctx, connectors.ExecRequest{Command: command, Timeout: execTimeout, Credential: f.Credential, Stdout: &o, Stderr: &e})
	return o.String(), e.String(), res, err
}

func scratch() string {
	var b [8]byte
	rand.Read(b[:])
	return "/tmp/warden-contract-" + hex.EncodeToString(b[:])
}

func testExecOutput(t *testing.T, h ExecHarness) {
	f := h.Open(t)
	out, errOut, res, err := run(t, f, "echo hello; echo oops >&2; printf 'a b'")
	if err != nil {
		t.Fatal(err)
	}
	if out != "hello\na b" || errOut != "oops\n" {
		t.Errorf("stdout %q, stderr %q; want %q and %q (kept apart)", out, errOut, "hello\na b", "oops\n")
	}
	if res.ExitStatus != 0 || res.Signal != "" || res.TimedOut {
		t.Errorf("result %+v, want exit 0", res)
	}
}

func testExecNonZero(t *testing.T, h ExecHarness) {
	f := h.Open(t)
	out, _, res, err := run(t, f, "echo before; exit 3")
	if err != nil {
		t.Fatalf("a non-zero exit is a result, not an error: %v", err)
	}
	if res.ExitStatus != 3 || out != "before\n" {
		t.Errorf("result %+v, stdout %q; want exit 3 and the output", res, out)
	}
	if _, _, res, err := run(t, f, "kill -9 $$"); err != nil || res.Signal != "KILL" || res.ExitStatus != -1 {
		t.Errorf("a command killed by a signal: %+v, %v; want Signal KILL, ExitStatus -1", res, err)
	}
}

func testExecStdin(t *testing.T, h ExecHarness) {
	f := h.Open(t)
	ctx, cancel := context.WithTimeout(context.Background(), execTimeout)
	defer cancel()
	var o bytes.Buffer
	_, err := f.Conn.Exec(ctx, connectors.ExecRequest{Command: "tr a-z A-Z", Timeout: execTimeout, Credential: f.Credential,
		Stdin: strings.NewReader("some input\n"), Stdout: &o})
	if err != nil || o.String() != "SOME INPUT\n" {
		t.Errorf("stdin: %q, %v", o.String(), err)
	}
}

// notifyWriter reports the first write.
type notifyWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	first chan struct{}
	once  sync.Once
}

func (w *notifyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	w.once.Do(func() { close(w.first) })
	return len(p), nil
}

func (w *notifyWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// testExecStreams: output reaches the writer while the command still
// runs. The command cannot end before the suite closes its input, which
// it does only once the first line has arrived.
func testExecStreams(t *testing.T, h ExecHarness) {
	f := h.Open(t)
	ctx, cancel := context.WithTimeout(context.Background(), execTimeout)
	defer cancel()
	pr, pw := io.Pipe()
	w := &notifyWriter{first: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := f.Conn.Exec(ctx, connectors.ExecRequest{Command: "echo first; cat", Timeout: execTimeout, Credential: f.Credential, Stdin: pr, Stdout: w})
		done <- err
	}()
	select {
	case <-w.first:
	case err := <-done:
		t.Fatalf("the command ended before its input was closed: %v", err)
	case <-ctx.Done():
		t.Fatal("no output arrived while the command ran")
	}
	io.WriteString(pw, "second\n")
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if w.String() != "first\nsecond\n" {
		t.Errorf("stdout %q", w.String())
	}
}

// testExecGate: the gate is called before the command runs; when it
// refuses, its error comes back unchanged and the command never ran.
func testExecGate(t *testing.T, h ExecHarness) {
	f := h.Open(t)
	file := scratch()
	t.Cleanup(func() { run(t, f, "rm -f "+file) })
	refuse := errors.New("the audit intent could not be written")
	ctx, cancel := context.WithTimeout(context.Background(), execTimeout)
	defer cancel()
	calls := 0
	_, err := f.Conn.Exec(ctx, connectors.ExecRequest{Command: "touch " + file, Timeout: execTimeout, Credential: f.Credential,
		Gate: func(context.Context) error { calls++; return refuse }})
	if !errors.Is(err, refuse) || calls != 1 {
		t.Fatalf("refusing gate: err %v (calls %d), want the gate's error", err, calls)
	}
	if _, _, res, err := run(t, f, "test -e "+file); err != nil || res.ExitStatus != 1 {
		t.Fatalf("the command ran although the gate refused (test -e: %+v, %v)", res, err)
	}
	calls = 0
	_, err = f.Conn.Exec(ctx, connectors.ExecRequest{Command: "test ! -e " + file + " && touch " + file, Timeout: execTimeout, Credential: f.Credential,
		Gate: func(context.Context) error { calls++; return nil }})
	if err != nil || calls != 1 {
		t.Fatalf("allowing gate: %v (calls %d)", err, calls)
	}
	if _, _, res, err := run(t, f, "test -e "+file); err != nil || res.ExitStatus != 0 {
		t.Errorf("the command did not run after the gate allowed it (%+v, %v)", res, err)
	}
}

// testExecTimeout: at its time limit the command and what it started are
// ended on the host, and the result says so.
func testExecTimeout(t *testing.T, h ExecHarness) {
	f := h.Open(t)
	ctx, cancel := context.WithTimeout(context.Background(), execTimeout)
	defer cancel()
	var o bytes.Buffer
	res, err := f.Conn.Exec(ctx, connectors.ExecRequest{Command: "sleep 300 & echo $!; wait", Timeout: time.Second, Credential: f.Credential, Stdout: &o})
	if !errors.Is(err, connectors.ErrTimeout) || !res.TimedOut || res.ExitStatus != -1 {
		t.Fatalf("Exec past its timeout: %+v, %v; want TimedOut, ExitStatus -1 and ErrTimeout", res, err)
	}
	pid, perr := strconv.Atoi(strings.TrimSpace(o.String()))
	if perr != nil {
		t.Fatalf("the command's output %q is not its child's pid", o.String())
	}
	for {
		_, _, res, err := run(t, f, fmt.Sprintf("kill -0 %d 2>/dev/null", pid))
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitStatus != 0 {
			return // gone
		}
		if ctx.Err() != nil {
			t.Fatalf("process %d started by the timed-out command still runs", pid)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func testExecConcurrent(t *testing.T, h ExecHarness) {
	f := h.Open(t)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, _, res, err := run(t, f, fmt.Sprintf("sleep 0.2; echo %d", i))
			if err != nil || res.ExitStatus != 0 || out != fmt.Sprintf("%d\n", i) {
				t.Errorf("concurrent exec %d: %q, %+v, %v", i, out, res, err)
			}
		}()
	}
	wg.Wait()
}

// testExecClose: Close ends a running command; later calls fail with
// ErrClosed; closing twice is fine.
func testExecClose(t *testing.T, h ExecHarness) {
	f := h.Open(t)
	started := &notifyWriter{first: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), execTimeout)
		defer cancel()
		_, err := f.Conn.Exec(ctx, connectors.ExecRequest{Command: "echo started; sleep 300", Timeout: execTimeout, Credential: f.Credential, Stdout: started})
		done <- err
	}()
	select {
	case <-started.first:
	case err := <-done:
		t.Fatalf("the command ended early: %v", err)
	}
	if err := f.Conn.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("a command ended by Close returned no error")
		}
	case <-time.After(execTimeout):
		t.Fatal("Close did not end the running command")
	}
	if _, _, _, err := run(t, f, "true"); !errors.Is(err, connectors.ErrClosed) {
		t.Errorf("Exec after Close: %v, want ErrClosed", err)
	}
	if err := f.Conn.Ping(context.Background()); !errors.Is(err, connectors.ErrClosed) {
		t.Errorf("Ping after Close: %v, want ErrClosed", err)
	}
	if err := f.Conn.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
