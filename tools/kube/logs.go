package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/tools"
)

// LogsArgs are the arguments of kubectl_logs.
type LogsArgs struct {
	Connection    string `json:"connection"`
	Namespace     string `json:"namespace"`
	Pod           string `json:"pod"`
	Container     string `json:"container,omitempty"`
	TailLines     *int64 `json:"tail_lines,omitempty"`
	SinceSeconds  *int64 `json:"since_seconds,omitempty"`
	Justification string `json:"justification,omitempty"`
}

// LogsResult is the structured result of kubectl_logs.
type LogsResult struct {
	Connection string           `json:"connection"`
	Namespace  string           `json:"namespace"`
	Pod        string           `json:"pod"`
	Container  string           `json:"container,omitempty"`
	Logs       string           `json:"logs"`
	Truncated  bool             `json:"truncated"`
	Bytes      int64            `json:"bytes"`
	Masked     map[string]int64 `json:"masked,omitempty"`
	ElapsedMs  float64          `json:"elapsed_ms"`
	AuditID    string           `json:"audit_id,omitempty"`
}

var podsResource = connectors.KubeResource{Version: "v1", Resource: "pods", Kind: "Pod", Namespaced: true}

// LogsTool is kubectl_logs.
var LogsTool = tools.Tool{
	Name:     ToolLogs,
	Title:    "Read a pod's logs",
	Needs:    connectors.CapKube,
	Governed: true,
	Describe: func(g *gateway.Gateway) (tools.Spec, bool) {
		if !anyCluster(g) {
			return tools.Spec{}, false
		}
		return tools.Spec{Description: "Read the logs of a pod's container on a Kubernetes cluster, as kubectl logs does (no follow). " +
			"Output is masked and capped at 1 MiB; truncation is flagged.",
			InputSchema: logsInputSchema, OutputSchema: logsOutputSchema, ReadOnly: true}, true
	},
	Run: func(ctx context.Context, c *tools.Catalogue, caller gateway.Caller, args json.RawMessage) (*tools.Result, error) {
		var a LogsArgs
		if err := tools.DecodeArgs(args, &a); err != nil {
			return nil, tools.Invalid(ctx, c.Gateway().Session(caller, a.Connection), gateway.Operation{Tool: ToolLogs, Arguments: args}, err)
		}
		return Logs(ctx, c.Gateway(), caller, a, args)
	},
}

// Logs runs kubectl_logs through the whole pipeline: the pods/log
// subresource, read as a token that may get only that pod's log.
func Logs(ctx context.Context, g *gateway.Gateway, caller gateway.Caller, a LogsArgs, raw json.RawMessage) (*tools.Result, error) {
	s, op, k, err := begin(ctx, g, caller, ToolLogs, a.Connection, a, raw)
	if k == nil {
		return nil, err
	}
	if e := checkLogs(a); e != nil {
		return nil, s.Invalid(ctx, op, e)
	}
	q := url.Values{}
	var extra []string
	if a.Container != "" {
		q.Set("container", a.Container)
		extra = append(extra, "-c", a.Container)
	}
	if a.TailLines != nil {
		q.Set("tailLines", strconv.FormatInt(*a.TailLines, 10))
		extra = append(extra, "--tail", strconv.FormatInt(*a.TailLines, 10))
	}
	if a.SinceSeconds != nil {
		q.Set("sinceSeconds", strconv.FormatInt(*a.SinceSeconds, 10))
		extra = append(extra, fmt.Sprintf("--since=%ds", *a.SinceSeconds))
	}
	// The server stops one byte past the cap: enough to know there was more.
	q.Set("limitBytes", strconv.Itoa(MaxOutputBytes+1))
	op.Statement = strings.Join(append([]string{"logs", a.Pod, "-n", a.Namespace}, extra...), " ")
	op.Facts = requestFacts("get", podsResource, "log", a.Namespace, a.Pod)
	op.Require = connectors.KubeGrants{Rules: []connectors.KubeRule{need("get", podsResource, "log", a.Namespace, a.Pod)}}
	gr, err := s.Authorize(ctx, op)
	if err != nil {
		return nil, err
	}
	var out capped
	w, err := gr.Stream(ctx, &out)
	if err != nil {
		return nil, gr.Finish(ctx, gateway.Outcome{Err: apiError(err, "")})
	}
	// What the server sent is counted before masking, which may shorten
	// it: one byte past the cap is what says there was more.
	sent := &counter{w: w}
	_, err = k.Kube(ctx, connectors.KubeRequest{Verb: "get", Resource: podsResource, Namespace: a.Namespace, Name: a.Pod, Subresource: "log",
		Query: q, Accept: "*/*", Credential: gr.Credential, Timeout: gr.Timeout, Output: sent, Gate: gr.Gate})
	w.Close()
	masked := w.Summary()
	if err != nil {
		return nil, gr.Finish(ctx, gateway.Outcome{Err: apiError(err, ""), Masked: masked})
	}
	r := &LogsResult{Connection: a.Connection, Namespace: a.Namespace, Pod: a.Pod, Container: a.Container,
		Logs: out.String(), Truncated: out.truncated() || sent.n > MaxOutputBytes, Bytes: out.total, Masked: masked}
	if e := gr.Finish(ctx, gateway.Outcome{Truncated: r.Truncated, Masked: masked}); e != nil {
		return nil, e
	}
	r.ElapsedMs = float64(time.Since(gr.Started()).Microseconds()) / 1000
	r.AuditID = gr.AuditID()
	text := r.Logs
	if r.Truncated {
		text += fmt.Sprintf("\n(logs truncated: the first %d bytes are shown)\n", len(r.Logs))
	}
	if n := sumOf(masked); n > 0 {
		text += fmt.Sprintf("(masked: %d value(s))\n", n)
	}
	return &tools.Result{Structured: r, Text: text}, nil
}

func checkLogs(a LogsArgs) *gateway.Error {
	hint := "kubectl_logs takes {connection, namespace, pod, container?, tail_lines?, since_seconds?}"
	if a.Connection == "" {
		return gateway.NewError(gateway.CodeInvalidArgument, "Call list_connections to see the connections you may use", "argument \"connection\" is required")
	}
	for _, v := range []struct {
		what, v string
		req     bool
	}{{"namespace", a.Namespace, true}, {"pod", a.Pod, true}, {"container", a.Container, false}} {
		if e := checkName(v.what, v.v, v.req); e != nil {
			return e
		}
	}
	switch {
	case a.TailLines != nil && *a.TailLines < 0:
		return gateway.NewError(gateway.CodeInvalidArgument, hint, "argument \"tail_lines\" must be 0 or more, got %d", *a.TailLines)
	case a.SinceSeconds != nil && *a.SinceSeconds < 1:
		return gateway.NewError(gateway.CodeInvalidArgument, hint, "argument \"since_seconds\" must be at least 1, got %d", *a.SinceSeconds)
	}
	return nil
}

var logsInputSchema = json.RawMessage(`{
  "type": "object",
  "properties": {
    "connection": {"type": "string", "description": "The Kubernetes connection (list_connections shows yours)."},
    "namespace": {"type": "string", "description": "The pod's namespace."},
    "pod": {"type": "string", "description": "The pod's name."},
    "container": {"type": "string", "description": "The container (default: the pod's only one)."},
    "tail_lines": {"type": "integer", "minimum": 0, "description": "Only the last N lines."},
    "since_seconds": {"type": "integer", "minimum": 1, "description": "Only lines newer than this many seconds."},
    "justification": {"type": "string", "description": "Why, for the audit trail and any human approver."}
  },
  "required": ["connection", "namespace", "pod"],
  "additionalProperties": false
}`)

var logsOutputSchema = json.RawMessage(`{
  "type": "object",
  "properties": {
    "connection": {"type": "string"},
    "namespace": {"type": "string"},
    "pod": {"type": "string"},
    "container": {"type": "string"},
    "logs": {"type": "string"},
    "truncated": {"type": "boolean"},
    "bytes": {"type": "integer"},
    "masked": {"type": "object", "additionalProperties": {"type": "integer"}},
    "elapsed_ms": {"type": "number"},
    "audit_id": {"type": "string"}
  },
  "required": ["connection", "namespace", "pod", "logs", "truncated"]
}`)

// counter counts the bytes written through it.
type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.w.Write(p)
}
