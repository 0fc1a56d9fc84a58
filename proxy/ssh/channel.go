package ssh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sync"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/wardenhq/warden/approvals"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/masking"
	sshtools "github.com/wardenhq/warden/tools/ssh"
)

// Exit statuses the proxy reports for a command that did not run, as
// shells do: 126 refused (by policy, approval or input), 255 for Warden's
// or the host's failure (OpenSSH's own code for a failed connection).
const (
	exitRefused = 126
	exitFailed  = 255
)

// flushAfter is how long output may pause before what masking holds back
// is passed on (an interactive prompt must appear).
const flushAfter = 15 * time.Millisecond

// channel is one session channel: its requests, and the one operation
// (exec, shell or subsystem) it runs.
type channel struct {
	c   *client
	ch  xssh.Channel
	env map[string]string
	pty *connectors.Terminal

	started bool
	control chan connectors.Control
	done    chan struct{}

	holdTold bool
	pending  func() // the operation to start after the reply to its request

	recMu sync.Mutex
	rec   Recording // the running operation's, once it has one
}

// run answers the channel's requests until it closes.
func (s *channel) run(ctx context.Context, reqs <-chan *xssh.Request) {
	defer func() {
		if s.started {
			<-s.done
		}
		s.ch.Close()
	}()
	for r := range reqs {
		ok := s.request(ctx, r)
		if r.WantReply {
			r.Reply(ok, nil)
		}
		// The operation starts once the client has its reply: a quick
		// refusal's exit status must not arrive before it.
		if s.pending != nil {
			run := s.pending
			s.pending = nil
			run()
		}
	}
}

// request handles one channel request and says whether it succeeded.
func (s *channel) request(ctx context.Context, r *xssh.Request) bool {
	switch r.Type {
	case "pty-req":
		var p struct {
			Term          string
			Columns, Rows uint32
			Width, Height uint32
			Modes         string
		}
		if s.started || xssh.Unmarshal(r.Payload, &p) != nil {
			return false
		}
		s.pty = &connectors.Terminal{Term: p.Term, Width: int(p.Columns), Height: int(p.Rows), Modes: parseModes(p.Modes)}
		return true
	case "env":
		var kv struct{ Name, Value string }
		if s.started || xssh.Unmarshal(r.Payload, &kv) != nil {
			return false
		}
		if !s.c.e.envAllowed(kv.Name) {
			s.c.refusal(ctx, opEnv, kv.Name, fmt.Sprintf("environment variable %s is not passed through Warden", kv.Name))
			return false
		}
		s.env[kv.Name] = kv.Value
		return true
	case "window-change":
		var w struct{ Columns, Rows, Width, Height uint32 }
		if xssh.Unmarshal(r.Payload, &w) != nil {
			return false
		}
		if !s.started {
			if s.pty != nil {
				s.pty.Width, s.pty.Height = int(w.Columns), int(w.Rows)
			}
			return true
		}
		s.send(connectors.Control{Width: int(w.Columns), Height: int(w.Rows)})
		s.recMu.Lock()
		if s.rec != nil {
			s.rec.Resize(int(w.Columns), int(w.Rows))
		}
		s.recMu.Unlock()
		return true
	case "signal":
		var sig struct{ Name string }
		if !s.started || xssh.Unmarshal(r.Payload, &sig) != nil {
			return false
		}
		s.send(connectors.Control{Signal: sig.Name})
		return true
	case "exec":
		var cmd struct{ Command string }
		if s.started || xssh.Unmarshal(r.Payload, &cmd) != nil {
			return false
		}
		s.start(ctx, sshtools.ToolExecSSH, cmd.Command)
		return true
	case "shell":
		if s.started {
			return false
		}
		s.start(ctx, ToolShell, "")
		return true
	case "subsystem":
		var sub struct{ Name string }
		if s.started || xssh.Unmarshal(r.Payload, &sub) != nil {
			return false
		}
		if sub.Name != "sftp" {
			s.c.refusal(ctx, opRequest, "subsystem "+sub.Name, fmt.Sprintf("subsystem %q is not available through Warden", sub.Name))
			return false
		}
		s.start(ctx, ToolSFTP, "")
		return true
	case "auth-agent-req@openssh.com":
		s.c.refusal(ctx, opAgent, "agent forwarding", "agent forwarding is not allowed through Warden")
		return false
	case "x11-req":
		s.c.refusal(ctx, opX11, "X11 forwarding", "X11 forwarding is not allowed through Warden")
		return false
	}
	return false
}

// send passes a control event to the running operation, dropping it if
// the operation is not reading (it has ended).
func (s *channel) send(c connectors.Control) {
	select {
	case s.control <- c:
	case <-s.done:
	}
}

// start runs the channel's operation in the background; the channel's
// requests are still read meanwhile (window changes, signals).
func (s *channel) start(ctx context.Context, tool, command string) {
	s.started = true
	s.control = make(chan connectors.Control, 8)
	s.done = make(chan struct{})
	s.pending = func() { go s.operateAndExit(ctx, tool, command) }
}

// operateAndExit runs the operation and reports how it ended.
func (s *channel) operateAndExit(ctx context.Context, tool, command string) {
	defer close(s.done)
	{
		status, signal := s.operate(ctx, tool, command)
		if signal != "" {
			s.ch.SendRequest("exit-signal", false, xssh.Marshal(struct {
				Signal     string
				CoreDumped bool
				Message    string
				Lang       string
			}{Signal: signal}))
		} else {
			s.ch.SendRequest("exit-status", false, xssh.Marshal(struct{ Status uint32 }{uint32(status)}))
		}
		s.ch.CloseWrite()
		s.ch.Close()
	}
}

// say writes a message of Warden's to the client's stderr.
func (s *channel) say(msg string) {
	nl := "\n"
	if s.pty != nil {
		nl = "\r\n"
	}
	io.WriteString(s.ch.Stderr(), "warden: "+msg+nl)
}

// operate takes the channel's operation through the pipeline and runs it.
// It returns the exit status (or signal) to report.
func (s *channel) operate(ctx context.Context, tool, command string) (int, string) {
	c := s.c
	gs, err := c.gateway(ctx, tool)
	if err != nil {
		s.say(gateway.AsError(err).Error())
		return exitRefused, ""
	}
	args, _ := json.Marshal(struct {
		Connection string `json:"connection"`
		Command    string `json:"command,omitempty"`
		User       string `json:"user,omitempty"`
		PTY        bool   `json:"pty,omitempty"`
	}{c.login.connection, command, c.login.remoteUser, s.pty != nil})
	op := gateway.Operation{Tool: tool, Arguments: args, Statement: command, Needs: connectors.CapExec, Credential: true,
		OnHold: s.tellHold, HoldContext: s.holdContext}
	if tool == sshtools.ToolExecSSH {
		if err := sshtools.CheckCommand(command, gs.Limits().MaxSQLBytes); err != nil {
			s.say(gs.Invalid(ctx, op, err).Error())
			return exitRefused, ""
		}
	}
	gr, err := gs.Authorize(ctx, op)
	if err != nil {
		s.say(gateway.AsError(err).Error())
		return exitRefused, ""
	}
	cert := gr.Credential.SSHCertificate
	if want := c.login.remoteUser; want != "" && (cert == nil || cert.Principal != want) {
		granted := "no account"
		if cert != nil {
			granted = "the account " + cert.Principal
		}
		e := gateway.NewError(gateway.CodeDenied, "Log in as "+c.login.connection+" to use the account policy grants",
			"you asked for the account %s on %s; policy grants %s", want, c.login.connection, granted)
		s.say(gr.Finish(ctx, gateway.Outcome{Err: e}).Error())
		return exitRefused, ""
	}
	req := connectors.ExecRequest{Credential: gr.Credential, Env: s.env, Control: s.control}
	switch tool {
	case sshtools.ToolExecSSH:
		req.Command, req.Timeout = gr.Facts.Canonical, gr.Timeout
		if req.Command == "" {
			s.say(gr.Finish(ctx, gateway.Outcome{Err: gateway.NewError(gateway.CodeInternal, "",
				"the command's classifier gave no canonical form, so it was not run (Warden fails closed)")}).Error())
			return exitFailed, ""
		}
	case ToolShell:
		req.Shell = true
	case ToolSFTP:
		if gr.Decision.Masking != "" {
			s.say(gr.Finish(ctx, gateway.Outcome{Err: gateway.NewError(gateway.CodeDenied, "",
				"sftp transfers files Warden cannot mask, and rule %q names masking profile %q", gr.Decision.Rule, gr.Decision.Masking)}).Error())
			return exitRefused, ""
		}
		req.Subsystem = "sftp"
	}
	if s.pty != nil && gr.Decision.GrantPTY && tool != ToolSFTP {
		req.PTY, req.Terminal = true, s.pty
	} else if s.pty != nil && tool == ToolShell {
		s.say("policy grants no terminal on " + c.login.connection + ": the shell runs without one")
	}

	var rec Recording
	if c.e.o.Record != nil && tool != ToolSFTP {
		start := RecordingStart{ID: gr.AuditID(), Command: req.Command, Time: time.Now()}
		if s.pty != nil {
			start.Width, start.Height, start.Term = s.pty.Width, s.pty.Height, s.pty.Term
		}
		if rec, err = c.e.o.Record(ctx, start); err != nil {
			e := gateway.NewError(gateway.CodeUnavailable, "", "the session cannot be recorded, so it was not started (Warden fails closed)").WithCause(err)
			s.say(gr.Finish(ctx, gateway.Outcome{Err: e}).Error())
			return exitFailed, ""
		}
		s.recMu.Lock()
		s.rec = rec
		s.recMu.Unlock()
	}

	var stdout, stderr io.Writer = s.ch, s.ch.Stderr()
	if rec != nil {
		stdout, stderr = recorded{s.ch, rec}, recorded{s.ch.Stderr(), rec}
	}
	var out, errs *paced
	if tool == ToolSFTP {
		req.Stdout, req.Stderr, req.Stdin = stdout, stderr, s.ch
	} else {
		so, err := gr.Stream(ctx, stdout)
		if err != nil {
			s.say(gr.Finish(ctx, gateway.Outcome{Err: err}).Error())
			return exitRefused, ""
		}
		se, err := gr.Stream(ctx, stderr)
		if err != nil {
			s.say(gr.Finish(ctx, gateway.Outcome{Err: err}).Error())
			return exitRefused, ""
		}
		out, errs = newPaced(so), newPaced(se)
		defer out.close()
		defer errs.close()
		req.Stdout, req.Stderr = out, errs
		req.Stdin = s.ch
		if rec != nil {
			req.Stdin = input{s.ch, rec}
		}
	}
	req.Gate = gr.Gate
	c.e.log.Info("ssh operation", "session", c.caller.Session, "tool", tool, "audit", gr.AuditID(), "command", req.Command)
	res, err := gs.Connector().(connectors.Exec).Exec(ctx, req)
	var masked map[string]int64
	if out != nil {
		out.close()
		errs.close()
		masked = merge(out.w.Summary(), errs.w.Summary())
	}
	status, signal := res.ExitStatus, res.Signal
	outcome := gateway.Outcome{Masked: masked}
	switch {
	case err != nil:
		outcome.Err = err
		status, signal = exitFailed, ""
	case signal != "":
		outcome.Failed = "ended by signal " + signal
	case status != 0:
		outcome.Failed = fmt.Sprintf("exited with status %d", status)
	}
	if rec != nil {
		s.recMu.Lock()
		s.rec = nil
		s.recMu.Unlock()
		rec.Exit(status)
		if cerr := rec.Close(); cerr != nil {
			c.e.log.Error("ssh session recording incomplete", "session", c.caller.Session, "audit", gr.AuditID(), "err", cerr)
		}
	}
	if e := gr.Finish(ctx, outcome); e != nil {
		if err != nil && !errors.Is(err, context.Canceled) {
			s.say(e.Error())
		}
		return exitFailed, ""
	}
	return status, signal
}

// tellHold tells the client, once, which approval request its operation
// waits for.
func (s *channel) tellHold(msg string) {
	if s.holdTold {
		return
	}
	s.holdTold = true
	s.say(msg)
}

// holdContext bounds a held operation's wait by the configured approval
// wait; it ends when the client goes.
func (s *channel) holdContext(ctx context.Context) (context.Context, func()) {
	if w := s.c.e.o.ApprovalWait; w > 0 {
		return approvals.WithWait(ctx, w), func() {}
	}
	return ctx, func() {}
}

// envAllowed reports whether a client may pass variable name.
func (e *Engine) envAllowed(name string) bool {
	for _, p := range e.o.Env {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// parseModes decodes RFC 4254's encoded terminal modes: opcode (byte),
// value (uint32), ended by TTY_OP_END (0).
func parseModes(s string) map[uint8]uint32 {
	b := []byte(s)
	modes := map[uint8]uint32{}
	for len(b) >= 5 {
		op := b[0]
		if op == 0 || op >= 160 {
			break
		}
		modes[op] = uint32(b[1])<<24 | uint32(b[2])<<16 | uint32(b[3])<<8 | uint32(b[4])
		b = b[5:]
	}
	if len(modes) == 0 {
		return nil
	}
	return modes
}

// recorded writes to the client and, as output, to the recording.
type recorded struct {
	w   io.Writer
	rec Recording
}

func (r recorded) Write(p []byte) (int, error) {
	// A recording that can no longer be stored ends the session: nothing
	// reaches the client that the record does not hold (fail closed).
	if f, ok := r.rec.(interface{ Err() error }); ok {
		if err := f.Err(); err != nil {
			return 0, fmt.Errorf("the session recording failed: %w", err)
		}
	}
	r.rec.Output(p)
	return r.w.Write(p)
}

// input reads the client's input and records it.
type input struct {
	r   io.Reader
	rec Recording
}

func (in input) Read(p []byte) (int, error) {
	n, err := in.r.Read(p)
	if n > 0 {
		in.rec.Input(p[:n])
	}
	return n, err
}

// paced is a masked stream that passes on what masking holds back once
// output pauses for flushAfter, so an interactive program's prompt shows.
type paced struct {
	mu     sync.Mutex
	w      masking.StreamWriter
	timer  *time.Timer
	closed bool
}

func newPaced(w masking.StreamWriter) *paced { return &paced{w: w} }

func (p *paced) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.timer == nil {
		p.timer = time.AfterFunc(flushAfter, p.flush)
	} else {
		p.timer.Reset(flushAfter)
	}
	return p.w.Write(b)
}

func (p *paced) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.w.Flush()
	}
}

// close passes on everything held.
func (p *paced) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	if p.timer != nil {
		p.timer.Stop()
	}
	p.w.Close()
}

func merge(a, b map[string]int64) map[string]int64 {
	if len(b) == 0 {
		return a
	}
	if a == nil {
		a = map[string]int64{}
	}
	for k, n := range b {
		a[k] += n
	}
	return a
}
