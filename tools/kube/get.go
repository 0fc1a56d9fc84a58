package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/tools"
)

// GetArgs are the arguments of kubectl_get.
type GetArgs struct {
	Connection    string `json:"connection"`
	Resource      string `json:"resource"`
	Namespace     string `json:"namespace,omitempty"`
	Name          string `json:"name,omitempty"`
	LabelSelector string `json:"label_selector,omitempty"`
	FieldSelector string `json:"field_selector,omitempty"`
	Limit         *int   `json:"limit,omitempty"`
	Output        string `json:"output,omitempty"` // table (default) or yaml
	Justification string `json:"justification,omitempty"`
}

// GetResult is the structured result of kubectl_get.
type GetResult struct {
	Connection string `json:"connection"`
	// Resource is what discovery resolved the argument to
	// (deployments.apps); Kind its object kind.
	Resource  string `json:"resource"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	// Columns and Rows are the server's table (output table); Output the
	// rendering, or the YAML.
	Columns   []string   `json:"columns,omitempty"`
	Rows      [][]string `json:"rows,omitempty"`
	Items     int        `json:"items"`
	Output    string     `json:"output"`
	Truncated bool       `json:"truncated"`
	// Continue is set when the server has more (limit): there are more
	// items than returned.
	Continue  string           `json:"continue,omitempty"`
	Masked    map[string]int64 `json:"masked,omitempty"`
	ElapsedMs float64          `json:"elapsed_ms"`
	AuditID   string           `json:"audit_id,omitempty"`
}

// tableAccept asks the API server for its Table rendering (what kubectl
// get prints), falling back to JSON.
const tableAccept = "application/json;as=Table;g=meta.k8s.io;v=v1,application/json"

// GetTool is kubectl_get.
var GetTool = tools.Tool{
	Name:     ToolGet,
	Title:    "List or get Kubernetes objects",
	Needs:    connectors.CapKube,
	Governed: true,
	Rows:     true,
	Describe: func(g *gateway.Gateway) (tools.Spec, bool) {
		if !anyCluster(g) {
			return tools.Spec{}, false
		}
		return tools.Spec{Description: "List or get objects of one resource on a Kubernetes cluster, as kubectl get does: " +
			"a table (the API server's own columns) or YAML. The resource may be a plural (pods), a short name (po), a kind (Pod) " +
			"or resource.group (deployments.apps). Secret values come back as ***.",
			InputSchema: getInputSchema, OutputSchema: getOutputSchema, ReadOnly: true, Idempotent: true}, true
	},
	Run: func(ctx context.Context, c *tools.Catalogue, caller gateway.Caller, args json.RawMessage) (*tools.Result, error) {
		var a GetArgs
		if err := tools.DecodeArgs(args, &a); err != nil {
			return nil, tools.Invalid(ctx, c.Gateway().Session(caller, a.Connection), gateway.Operation{Tool: ToolGet, Arguments: args}, err)
		}
		return Get(ctx, c.Gateway(), caller, a, args)
	},
}

// Get runs kubectl_get through the whole pipeline.
func Get(ctx context.Context, g *gateway.Gateway, caller gateway.Caller, a GetArgs, raw json.RawMessage) (*tools.Result, error) {
	s, op, k, err := begin(ctx, g, caller, ToolGet, a.Connection, a, raw)
	if k == nil {
		return nil, err
	}
	if e := checkGet(a); e != nil {
		return nil, s.Invalid(ctx, op, e)
	}
	res, err := k.ResolveName(ctx, a.Resource)
	if err != nil {
		return nil, s.Invalid(ctx, op, resolveError(a.Resource, err))
	}
	ns := a.Namespace
	if !res.Namespaced {
		ns = ""
	} else if ns == "" {
		ns = defaultNamespace(k)
	}
	verb := "list"
	if a.Name != "" {
		verb = "get"
	}
	var extra []string
	q := url.Values{}
	if a.LabelSelector != "" {
		q.Set("labelSelector", a.LabelSelector)
		extra = append(extra, "-l", a.LabelSelector)
	}
	if a.FieldSelector != "" {
		q.Set("fieldSelector", a.FieldSelector)
		extra = append(extra, "--field-selector", a.FieldSelector)
	}
	if a.Limit != nil {
		q.Set("limit", strconv.Itoa(*a.Limit))
		extra = append(extra, "--limit", strconv.Itoa(*a.Limit))
	}
	op.Statement = statement("get", res, ns, a.Name, extra...)
	op.Facts = requestFacts(verb, res, "", ns, a.Name)
	op.Require = connectors.KubeGrants{Rules: []connectors.KubeRule{need(verb, res, "", ns, a.Name)}}
	gr, err := s.Authorize(ctx, op)
	if err != nil {
		return nil, err
	}
	yamlOut := a.Output == "yaml"
	accept := tableAccept
	if yamlOut {
		accept = "application/json"
	}
	resp, err := k.Kube(ctx, connectors.KubeRequest{Verb: verb, Resource: res, Namespace: ns, Name: a.Name, Query: q,
		Accept: accept, Credential: gr.Credential, Timeout: gr.Timeout, Gate: gr.Gate})
	if err != nil {
		return nil, gr.Finish(ctx, gateway.Outcome{Err: apiError(err, "")})
	}
	r := &GetResult{Connection: a.Connection, Resource: res.GroupResource(), Kind: res.Kind, Namespace: ns}
	var text []byte
	var masked int64
	if yamlOut {
		text, r.Items, r.Continue, masked, err = renderYAML(resp.Body, isSecrets(res), masksOf(gr.Decision))
	} else {
		text, err = renderTable(resp.Body, r)
	}
	if err != nil {
		return nil, gr.Finish(ctx, gateway.Outcome{Err: fmt.Errorf("kubernetes: the API server's answer: %w", err)})
	}
	out, summary, err := maskText(ctx, gr, text)
	if err != nil {
		return nil, gr.Finish(ctx, gateway.Outcome{Err: apiError(err, "")})
	}
	if masked > 0 {
		if summary == nil {
			summary = map[string]int64{}
		}
		summary["secret"] += masked
	}
	if len(summary) > 0 && !yamlOut {
		// The cells were masked in the text; the structured rows must not
		// carry what the text does not.
		r.Rows = nil
	}
	r.Output, r.Truncated, r.Masked = out.String(), out.truncated(), summary
	if e := gr.Finish(ctx, gateway.Outcome{Rows: int64(r.Items), Truncated: r.Truncated || r.Continue != "", Masked: summary}); e != nil {
		return nil, e
	}
	r.ElapsedMs = float64(time.Since(gr.Started()).Microseconds()) / 1000
	r.AuditID = gr.AuditID()
	return &tools.Result{Structured: r, Text: renderGet(r)}, nil
}

func checkGet(a GetArgs) *gateway.Error {
	hint := "kubectl_get takes {connection, resource, namespace?, name?, label_selector?, field_selector?, limit?, output? (table|yaml)}"
	switch {
	case a.Connection == "":
		return gateway.NewError(gateway.CodeInvalidArgument, "Call list_connections to see the connections you may use", "argument \"connection\" is required")
	case a.Resource == "":
		return gateway.NewError(gateway.CodeInvalidArgument, hint, "argument \"resource\" is required")
	case a.Output != "" && a.Output != "table" && a.Output != "yaml":
		return gateway.NewError(gateway.CodeInvalidArgument, hint, "argument \"output\" must be table or yaml, got %q", a.Output)
	case a.Limit != nil && *a.Limit < 1:
		return gateway.NewError(gateway.CodeInvalidArgument, hint, "argument \"limit\" must be at least 1, got %d", *a.Limit)
	case a.Name != "" && (a.LabelSelector != "" || a.FieldSelector != "" || a.Limit != nil):
		return gateway.NewError(gateway.CodeInvalidArgument, hint, "a name gets one object: label_selector, field_selector and limit are for lists")
	}
	for _, v := range []struct{ what, v string }{{"namespace", a.Namespace}, {"name", a.Name}} {
		if e := checkName(v.what, v.v, false); e != nil {
			return e
		}
	}
	return nil
}

// table is the part of a meta.k8s.io/v1 Table that is rendered.
type table struct {
	Kind    string `json:"kind"`
	Columns []struct {
		Name     string `json:"name"`
		Priority int    `json:"priority"`
	} `json:"columnDefinitions"`
	Rows []struct {
		Cells []any `json:"cells"`
	} `json:"rows"`
	Metadata struct {
		Continue string `json:"continue"`
	} `json:"metadata"`
}

// renderTable renders the server's Table as kubectl does: the columns of
// priority 0, upper-case headers, aligned.
func renderTable(body []byte, r *GetResult) ([]byte, error) {
	var t table
	if err := json.Unmarshal(body, &t); err != nil {
		return nil, err
	}
	if t.Kind != "Table" {
		return nil, fmt.Errorf("expected a Table, got %q", t.Kind)
	}
	var idx []int
	for i, c := range t.Columns {
		if c.Priority == 0 {
			idx = append(idx, i)
			r.Columns = append(r.Columns, strings.ToUpper(c.Name))
		}
	}
	for _, row := range t.Rows {
		cells := make([]string, 0, len(idx))
		for _, i := range idx {
			s := ""
			if i < len(row.Cells) {
				s = cellText(row.Cells[i])
			}
			cells = append(cells, s)
		}
		r.Rows = append(r.Rows, cells)
	}
	r.Items, r.Continue = len(t.Rows), t.Metadata.Continue
	var b strings.Builder
	if len(r.Rows) == 0 {
		return nil, nil
	}
	tw := tabwriter.NewWriter(&b, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(r.Columns, "\t"))
	for _, row := range r.Rows {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	return []byte(b.String()), nil
}

// cellText formats a table cell as kubectl does (<none> for empty).
func cellText(v any) string {
	switch x := v.(type) {
	case nil:
		return "<none>"
	case string:
		if x == "" {
			return "<none>"
		}
		return strings.Map(func(r rune) rune {
			if r == '\n' || r == '\t' || r == '\r' {
				return ' '
			}
			return r
		}, x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// renderYAML renders an object or list as YAML, managed fields stripped
// and what m says masked (Secret values, ConfigMap keys); it returns the items, the list's continue
// token, and how many values it masked.
func renderYAML(body []byte, secrets bool, m masks) ([]byte, int, string, int64, error) {
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, 0, "", 0, err
	}
	var masked int64
	items := 1
	cont := ""
	if list, ok := obj["items"].([]any); ok && strings.HasSuffix(fmt.Sprint(obj["kind"]), "List") {
		items = len(list)
		for _, it := range list {
			if item, ok := it.(map[string]any); ok {
				masked += maskObject(item, secrets, false, m)
			}
		}
		if md, ok := obj["metadata"].(map[string]any); ok {
			cont, _ = md["continue"].(string)
		}
	} else {
		masked += maskObject(obj, secrets, false, m)
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, 0, "", 0, err
	}
	y, err := yaml.JSONToYAML(b)
	return y, items, cont, masked, err
}

func renderGet(r *GetResult) string {
	var b strings.Builder
	if r.Items == 0 {
		fmt.Fprintf(&b, "No %s found", r.Resource)
		if r.Namespace != "" {
			fmt.Fprintf(&b, " in namespace %s", r.Namespace)
		}
		b.WriteString(".\n")
	} else {
		b.WriteString(r.Output)
		if !strings.HasSuffix(r.Output, "\n") {
			b.WriteByte('\n')
		}
	}
	if r.Truncated {
		b.WriteString("(output truncated)\n")
	}
	if r.Continue != "" {
		b.WriteString("(there are more: the list was limited)\n")
	}
	if n := sumOf(r.Masked); n > 0 {
		fmt.Fprintf(&b, "(masked: %d value(s))\n", n)
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

var getInputSchema = json.RawMessage(`{
  "type": "object",
  "properties": {
    "connection": {"type": "string", "description": "The Kubernetes connection (list_connections shows yours)."},
    "resource": {"type": "string", "description": "The resource: a plural (pods), short name (po), kind (Pod) or resource.group (deployments.apps)."},
    "namespace": {"type": "string", "description": "The namespace (default: the connection's default namespace); ignored for cluster-scoped resources."},
    "name": {"type": "string", "description": "One object's name; without it, the list."},
    "label_selector": {"type": "string", "description": "A label selector, as kubectl -l (app=web,tier!=db)."},
    "field_selector": {"type": "string", "description": "A field selector, as kubectl --field-selector (status.phase=Running)."},
    "limit": {"type": "integer", "minimum": 1, "description": "At most this many objects."},
    "output": {"type": "string", "enum": ["table", "yaml"], "description": "table (default, like kubectl get) or yaml (the objects)."},
    "justification": {"type": "string", "description": "Why, for the audit trail and any human approver."}
  },
  "required": ["connection", "resource"],
  "additionalProperties": false
}`)

var getOutputSchema = json.RawMessage(`{
  "type": "object",
  "properties": {
    "connection": {"type": "string"},
    "resource": {"type": "string"},
    "kind": {"type": "string"},
    "namespace": {"type": "string"},
    "columns": {"type": "array", "items": {"type": "string"}},
    "rows": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
    "items": {"type": "integer"},
    "output": {"type": "string"},
    "truncated": {"type": "boolean"},
    "continue": {"type": "string"},
    "masked": {"type": "object", "additionalProperties": {"type": "integer"}},
    "elapsed_ms": {"type": "number"},
    "audit_id": {"type": "string"}
  },
  "required": ["connection", "resource", "items", "output", "truncated"]
}`)
