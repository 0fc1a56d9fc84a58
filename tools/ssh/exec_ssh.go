package ssh

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/tools"
)

// ToolExecSSH is the tool's name.
const ToolExecSSH = "exec_ssh"

// MaxOutputBytes bounds what a call returns of stdout and of stderr each;
// the rest is counted and flagged as truncated, never returned.
const MaxOutputBytes = 1 << 20

// ExecArgs are the arguments of exec_ssh.
type ExecArgs struct {
	Connection     string `json:"connection"`
	Command        string `json:"command"`
	TimeoutSeconds *int   `json:"timeout_seconds,omitempty"`
	Justification  string `json:"justification,omitempty"`
}

// ExecResult is the structured result of exec_ssh.
type ExecResult struct {
	Connection      string           `json:"connection"`
	Command         string           `json:"command"` // as it ran: re-quoted from its parse
	ExitStatus      int              `json:"exit_status"`
	Signal          string           `json:"signal,omitempty"`
	Stdout          string           `json:"stdout"`
	Stderr          string           `json:"stderr"`
	StdoutTruncated bool             `json:"stdout_truncated"`
	StderrTruncated bool             `json:"stderr_truncated"`
	StdoutBytes     int64            `json:"stdout_bytes"`
	StderrBytes     int64            `json:"stderr_bytes"`
	ElapsedMs       float64          `json:"elapsed_ms"`
	Masked          map[string]int64 `json:"masked,omitempty"`
	AuditID         string           `json:"audit_id,omitempty"`
}

// ExecTool is exec_ssh: authorize, the host's Exec, finish.
var ExecTool = tools.Tool{
	Name:     ToolExecSSH,
	Title:    "Run a command on a host",
	Needs:    connectors.CapExec,
	Governed: true,
	Describe: func(g *gateway.Gateway) (tools.Spec, bool) {
		if !anyHost(g) {
			return tools.Spec{}, false // no host to run commands on
		}
		writes := g.Decider().AllowsWrites(ToolExecSSH)
		desc := "Run one shell command line on an SSH host and return its exit status, stdout and stderr. " +
			"The command is parsed and classified (programs, arguments, files read and written); policy decides what may run, " +
			"and what cannot be understood statically (eval, sh -c, substitutions in the program position) is refused. "
		if !writes {
			desc += "On this Warden only commands that read are allowed for you. "
		}
		desc += "Output is masked and capped; refusals explain why and what to do instead."
		return tools.Spec{Description: desc, InputSchema: execInputSchema, OutputSchema: execOutputSchema,
			ReadOnly: !writes, Destructive: writes, OpenWorld: false}, true
	},
	Run: func(ctx context.Context, c *tools.Catalogue, caller gateway.Caller, args json.RawMessage) (*tools.Result, error) {
		var a ExecArgs
		if err := tools.DecodeArgs(args, &a); err != nil {
			return nil, tools.Invalid(ctx, c.Gateway().Session(caller, a.Connection), gateway.Operation{Tool: ToolExecSSH, Arguments: args}, err)
		}
		return Exec(ctx, c.Gateway(), caller, a, args)
	},
}

// Exec runs one command through the whole pipeline. raw are the
// arguments as received (recorded and bound into an approval).
func Exec(ctx context.Context, g *gateway.Gateway, caller gateway.Caller, a ExecArgs, raw json.RawMessage) (*tools.Result, error) {
	if raw == nil {
		raw, _ = json.Marshal(a)
	}
	s := g.Session(caller, a.Connection)
	op := gateway.Operation{Tool: ToolExecSSH, Arguments: raw, Statement: a.Command, Needs: connectors.CapExec, Credential: true}
	if err := checkArgs(a, g.Limits().MaxSQLBytes); err != nil {
		return nil, s.Invalid(ctx, op, err)
	}
	gr, err := s.Authorize(ctx, op)
	if err != nil {
		return nil, err
	}
	command := gr.Facts.Canonical
	if command == "" {
		// Only the classifier's rewrite runs, never the caller's text.
		return nil, gr.Finish(ctx, gateway.Outcome{Err: gateway.NewError(gateway.CodeInternal, "",
			"the command's classifier gave no canonical form, so it was not run (Warden fails closed)")})
	}
	timeout := gr.Timeout
	if a.TimeoutSeconds != nil {
		timeout = min(timeout, time.Duration(*a.TimeoutSeconds)*time.Second)
	}
	var stdout, stderr capped
	so, err := gr.Stream(ctx, &stdout)
	if err != nil {
		return nil, gr.Finish(ctx, gateway.Outcome{Err: err})
	}
	se, err := gr.Stream(ctx, &stderr)
	if err != nil {
		return nil, gr.Finish(ctx, gateway.Outcome{Err: err})
	}
	host := s.Connector().(connectors.Exec)
	xctx, cancel := context.WithTimeout(ctx, timeout+10*time.Second)
	defer cancel()
	res, err := host.Exec(xctx, connectors.ExecRequest{Command: command, Timeout: timeout, Credential: gr.Credential,
		PTY: false, Stdout: so, Stderr: se, Gate: gr.Gate})
	// Whatever happened, what the streams hold back is masked and kept.
	so.Close()
	se.Close()
	masked := merge(so.Summary(), se.Summary())
	out := gateway.Outcome{Truncated: stdout.truncated() || stderr.truncated(), Masked: masked}
	if err != nil {
		out.Err = err
		return nil, gr.Finish(ctx, out)
	}
	if res.ExitStatus != 0 {
		out.Failed = fmt.Sprintf("the command exited with status %d", res.ExitStatus)
		if res.Signal != "" {
			out.Failed = "the command was ended by signal " + res.Signal
		}
	}
	if e := gr.Finish(ctx, out); e != nil {
		return nil, e
	}
	r := &ExecResult{
		Connection: a.Connection, Command: command, ExitStatus: res.ExitStatus, Signal: res.Signal,
		Stdout: stdout.String(), Stderr: stderr.String(),
		StdoutTruncated: stdout.truncated(), StderrTruncated: stderr.truncated(),
		StdoutBytes: stdout.total, StderrBytes: stderr.total,
		ElapsedMs: float64(time.Since(gr.Started()).Microseconds()) / 1000,
		Masked:    masked, AuditID: gr.AuditID(),
	}
	return &tools.Result{Structured: r, Text: render(r)}, nil
}

// anyHost reports whether some connection runs commands.
func anyHost(g *gateway.Gateway) bool {
	for _, name := range g.Connections() {
		if c, ok := g.Connection(name); ok && connectors.Has(c, connectors.CapExec) {
			return true
		}
	}
	return false
}

func checkArgs(a ExecArgs, maxBytes int) *gateway.Error {
	hint := "exec_ssh takes {connection, command, timeout_seconds?, justification?}"
	switch {
	case a.Connection == "":
		return gateway.NewError(gateway.CodeInvalidArgument, "Call list_connections to see the connections you may use", "argument \"connection\" is required")
	case a.TimeoutSeconds != nil && *a.TimeoutSeconds < 1:
		return gateway.NewError(gateway.CodeInvalidArgument, hint, "argument \"timeout_seconds\" must be at least 1, got %d", *a.TimeoutSeconds)
	}
	return CheckCommand(a.Command, maxBytes)
}

// CheckCommand refuses a command line no classifier should see: empty,
// over maxBytes, with a NUL byte, not UTF-8. The SSH proxy checks its
// clients' exec requests with it too.
func CheckCommand(command string, maxBytes int) *gateway.Error {
	hint := "Send one shell command line as UTF-8 text"
	switch {
	case strings.TrimSpace(command) == "":
		return gateway.NewError(gateway.CodeInvalidArgument, hint, "the command is empty")
	case len(command) > maxBytes:
		return gateway.NewError(gateway.CodeInvalidArgument, "Send a shorter command",
			"the command is %d bytes, over this Warden's limit of %d bytes", len(command), maxBytes)
	case strings.ContainsRune(command, 0):
		return gateway.NewError(gateway.CodeInvalidArgument, hint, "the command contains a NUL byte")
	case !utf8.ValidString(command):
		return gateway.NewError(gateway.CodeInvalidArgument, hint, "the command is not valid UTF-8 text")
	}
	return nil
}

// capped keeps the first MaxOutputBytes of a stream and counts the rest.
// Write is its only way in: an embedded strings.Builder would lend it a
// WriteString that io.WriteString (the masked stream's) takes past the
// cap and the count.
type capped struct {
	b     strings.Builder
	total int64
}

func (c *capped) Write(p []byte) (int, error) {
	c.total += int64(len(p))
	if room := MaxOutputBytes - c.b.Len(); room > 0 {
		c.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *capped) String() string { return c.b.String() }

func (c *capped) truncated() bool { return c.total > int64(c.b.Len()) }

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

// render is the result as text for agents that read text.
func render(r *ExecResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ %s\nexit status %d", r.Command, r.ExitStatus)
	if r.Signal != "" {
		fmt.Fprintf(&b, " (signal %s)", r.Signal)
	}
	b.WriteByte('\n')
	for _, s := range []struct {
		name, text string
		cut        bool
		total      int64
	}{{"stdout", r.Stdout, r.StdoutTruncated, r.StdoutBytes}, {"stderr", r.Stderr, r.StderrTruncated, r.StderrBytes}} {
		if s.total == 0 {
			continue
		}
		fmt.Fprintf(&b, "--- %s ---\n%s", s.name, s.text)
		if !strings.HasSuffix(s.text, "\n") {
			b.WriteByte('\n')
		}
		if s.cut {
			fmt.Fprintf(&b, "(%s truncated: %d of %d bytes shown)\n", s.name, len(s.text), s.total)
		}
	}
	if len(r.Masked) > 0 {
		fmt.Fprintf(&b, "(masked: %d value(s))\n", sumOf(r.Masked))
	}
	return b.String()
}

func sumOf(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

var execInputSchema = json.RawMessage(`{
  "type": "object",
  "properties": {
    "connection": {"type": "string", "description": "The SSH connection (list_connections shows yours)."},
    "command": {"type": "string", "description": "One shell command line, e.g. \"df -h /var\" or \"journalctl -u nginx --since today | tail -n 50\"."},
    "timeout_seconds": {"type": "integer", "minimum": 1, "description": "Stop the command after this long (never longer than policy allows)."},
    "justification": {"type": "string", "description": "Why, for the audit trail and any human approver."}
  },
  "required": ["connection", "command"],
  "additionalProperties": false
}`)

var execOutputSchema = json.RawMessage(`{
  "type": "object",
  "properties": {
    "connection": {"type": "string"},
    "command": {"type": "string"},
    "exit_status": {"type": "integer"},
    "signal": {"type": "string"},
    "stdout": {"type": "string"},
    "stderr": {"type": "string"},
    "stdout_truncated": {"type": "boolean"},
    "stderr_truncated": {"type": "boolean"},
    "stdout_bytes": {"type": "integer"},
    "stderr_bytes": {"type": "integer"},
    "elapsed_ms": {"type": "number"},
    "masked": {"type": "object", "additionalProperties": {"type": "integer"}},
    "audit_id": {"type": "string"}
  },
  "required": ["connection", "command", "exit_status", "stdout", "stderr", "stdout_truncated", "stderr_truncated"]
}`)
