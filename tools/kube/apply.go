package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/pmezard/go-difflib/difflib"
	"sigs.k8s.io/yaml"

	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/kubernetes/kubemask"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/policy/kubeclass"
	"github.com/wardenhq/warden/tools"
)

// FieldManager is the field manager of Warden's server-side applies.
const FieldManager = "warden"

// ApplyArgs are the arguments of kubectl_apply.
type ApplyArgs struct {
	Connection    string `json:"connection"`
	Manifest      string `json:"manifest"`
	Namespace     string `json:"namespace,omitempty"`
	Justification string `json:"justification,omitempty"`
}

// ApplyResult is the structured result of kubectl_apply.
type ApplyResult struct {
	Connection string          `json:"connection"`
	Objects    []AppliedObject `json:"objects"`
	// Diff is the unified diff of the live objects against the server's
	// dry-run of the apply (managed fields, resourceVersion, uid,
	// generation, creationTimestamp and status left out; Secret values
	// masked).
	Diff      string   `json:"diff"`
	Warnings  []string `json:"warnings,omitempty"`
	ElapsedMs float64  `json:"elapsed_ms"`
	AuditID   string   `json:"audit_id,omitempty"`
}

// AppliedObject is one object of the manifest and what the apply did.
type AppliedObject struct {
	Resource  string   `json:"resource"`
	Namespace string   `json:"namespace,omitempty"`
	Name      string   `json:"name"`
	Action    string   `json:"action"` // created, configured, unchanged
	Risks     []string `json:"risks,omitempty"`
}

// ApplyTool is kubectl_apply.
var ApplyTool = tools.Tool{
	Name:     ToolApply,
	Title:    "Apply a manifest to a Kubernetes cluster",
	Needs:    connectors.CapKube,
	Governed: true,
	Describe: func(g *gateway.Gateway) (tools.Spec, bool) {
		if !anyCluster(g) || !g.Decider().AllowsWrites(ToolApply) {
			return tools.Spec{}, false
		}
		return tools.Spec{Description: "Apply a manifest (YAML or JSON, one or more documents) to a Kubernetes cluster with server-side apply. " +
			"Every object is classified first (kind, namespace, name, risky fields such as privileged or hostPath); policy decides; " +
			"then the API server dry-runs the apply and the diff of live against dry-run is returned (and shown to the human approver " +
			"when the change needs approval). A dry-run that fails is never applied.",
			InputSchema: applyInputSchema, OutputSchema: applyOutputSchema, Destructive: true, Idempotent: true}, true
	},
	Run: func(ctx context.Context, c *tools.Catalogue, caller gateway.Caller, args json.RawMessage) (*tools.Result, error) {
		var a ApplyArgs
		if err := tools.DecodeArgs(args, &a); err != nil {
			return nil, tools.Invalid(ctx, c.Gateway().Session(caller, a.Connection), gateway.Operation{Tool: ToolApply, Arguments: args}, err)
		}
		return Apply(ctx, c.Gateway(), caller, a, args)
	},
}

// Apply runs kubectl_apply through the whole pipeline.
func Apply(ctx context.Context, g *gateway.Gateway, caller gateway.Caller, a ApplyArgs, raw json.RawMessage) (*tools.Result, error) {
	s, op, k, err := begin(ctx, g, caller, ToolApply, a.Connection, a, raw)
	if k == nil {
		return nil, err
	}
	if e := checkApply(a); e != nil {
		return nil, s.Invalid(ctx, op, e)
	}
	ns := a.Namespace
	if ns == "" {
		ns = defaultNamespace(k)
	}
	objs, facts, err := kubeclass.Manifest([]byte(a.Manifest), ns, resolver{ctx: ctx, k: k})
	if err != nil {
		return nil, manifestRefusal(ctx, s, op, err)
	}
	p := &plan{k: k, objs: objs}
	if p.hasSecret() {
		// The audit trail keeps the objects with their values masked; the
		// approval keeps the call as sent, to run it once approved.
		r := a
		r.Manifest = p.manifest()
		op.Redacted = mustJSON(r)
	}
	for _, o := range objs {
		if o.Name == "" {
			return nil, s.Invalid(ctx, op, gateway.NewError(gateway.CodeInvalidArgument, "Give the object a metadata.name",
				"%s with only generateName %q: server-side apply needs a name", o.Resource.Name(), o.GenerateName))
		}
		p.need = append(p.need, need("get", connRes(o.Resource), "", o.Namespace, o.Name, "create", "patch"))
	}
	op.Facts = facts
	op.Statement = p.statement()
	op.Require = connectors.KubeGrants{Rules: p.need}
	op.Preview = func(ctx context.Context, cred connectors.Credential) (string, error) {
		d, err := p.dryRun(ctx, cred, nil)
		if err != nil {
			return "", fmt.Errorf("the server-side dry-run failed, so this change cannot be previewed: %w", err)
		}
		return "server-side dry-run diff (live -> applied):\n" + d.text(), nil
	}
	gr, err := s.Authorize(ctx, op)
	if err != nil {
		return nil, err
	}
	if e := maskedWrites(objs, masksOf(gr.Decision)); e != nil {
		return nil, gr.Finish(ctx, gateway.Outcome{Err: e})
	}
	// What is applied is what the decision saw and the dry-run accepted,
	// now: a dry-run that fails stops the call, whatever policy said.
	d, err := p.dryRun(ctx, gr.Credential, gr.Gate)
	if err != nil {
		return nil, gr.Finish(ctx, gateway.Outcome{Err: dryRunError(err)})
	}
	r := &ApplyResult{Connection: a.Connection, Diff: d.text(), Warnings: d.warnings}
	for i, o := range objs {
		action := "configured"
		switch {
		case d.live[i] == "":
			action = "created"
		case d.live[i] == d.after[i]:
			action = "unchanged"
		}
		if action != "unchanged" {
			resp, err := p.apply(ctx, gr.Credential, o, false)
			if err != nil {
				return nil, gr.Finish(ctx, gateway.Outcome{Rows: int64(i), Err: apiError(err,
					fmt.Sprintf("applying %s %s/%s (the objects before it in the manifest were applied): ", o.Resource.Name(), o.Namespace, o.Name))})
			}
			r.Warnings = append(r.Warnings, resp.Warnings...)
		}
		r.Objects = append(r.Objects, AppliedObject{Resource: o.Resource.Name(), Namespace: o.Namespace, Name: o.Name, Action: action, Risks: o.Risks})
	}
	if e := gr.Finish(ctx, gateway.Outcome{Rows: int64(len(objs)), Masked: d.masked}); e != nil {
		return nil, e
	}
	r.ElapsedMs = float64(time.Since(gr.Started()).Microseconds()) / 1000
	r.AuditID = gr.AuditID()
	return &tools.Result{Structured: r, Text: renderApply(r)}, nil
}

func checkApply(a ApplyArgs) *gateway.Error {
	switch {
	case a.Connection == "":
		return gateway.NewError(gateway.CodeInvalidArgument, "Call list_connections to see the connections you may use", "argument \"connection\" is required")
	case strings.TrimSpace(a.Manifest) == "":
		return gateway.NewError(gateway.CodeInvalidArgument, "kubectl_apply takes {connection, manifest, namespace?}", "argument \"manifest\" is empty")
	case len(a.Manifest) > kubeclass.MaxManifestBytes:
		return gateway.NewError(gateway.CodeInvalidArgument, "Apply fewer objects per call",
			"the manifest is %d bytes, over the limit of %d", len(a.Manifest), kubeclass.MaxManifestBytes)
	}
	return checkName("namespace", a.Namespace, false)
}

// manifestRefusal records and words a manifest the classifier refused.
func manifestRefusal(ctx context.Context, s *gateway.Session, op gateway.Operation, err error) error {
	if errors.Is(err, policy.ErrSyntax) {
		return s.Invalid(ctx, op, gateway.NewError(gateway.CodeInvalidArgument, "Fix the manifest and send it again", "%s", err.Error()))
	}
	if errors.Is(err, policy.ErrNotUnderstood) {
		return s.Refuse(ctx, op, gateway.CodeDenied, "refused: Warden applies only manifests it fully understands, and "+err.Error())
	}
	return s.Invalid(ctx, op, resolveError("", err))
}

// plan is an apply's objects and what it needs.
type plan struct {
	k    connectors.KubeAPI
	objs []kubeclass.Object
	need []connectors.KubeRule
}

// statement is the objects as they will be sent (Secret values masked),
// for the audit trail and the approver.
func (p *plan) statement() string {
	return "apply --server-side --field-manager=" + FieldManager + "\n" + p.manifest()
}

// hasSecret reports whether an object of the manifest is a Secret.
func (p *plan) hasSecret() bool {
	for _, o := range p.objs {
		if isSecrets(connRes(o.Resource)) {
			return true
		}
	}
	return false
}

// manifest is the objects as YAML documents, Secret values masked.
func (p *plan) manifest() string {
	var b strings.Builder
	for _, o := range p.objs {
		body := cloneJSON(o.Body)
		maskObject(body, isSecrets(connRes(o.Resource)), false, masks{})
		y, _ := yaml.Marshal(body)
		b.WriteString("---\n")
		b.Write(y)
	}
	return b.String()
}

// dryRunResult is the live objects and the server's dry-run of applying
// the manifest, as YAML, noise stripped and Secret values masked.
type dryRunResult struct {
	objs        []kubeclass.Object
	live, after []string
	warnings    []string
	masked      map[string]int64
}

// dryRun gets each live object and dry-runs its apply, as cred; gate,
// when set, is passed before the first request.
func (p *plan) dryRun(ctx context.Context, cred connectors.Credential, gate func(context.Context) error) (*dryRunResult, error) {
	d := &dryRunResult{objs: p.objs}
	for _, o := range p.objs {
		res := connRes(o.Resource)
		secret := isSecrets(res)
		resp, err := p.k.Kube(ctx, connectors.KubeRequest{Verb: "get", Resource: res, Namespace: o.Namespace, Name: o.Name, Credential: cred, Gate: gate})
		gate = nil
		live := ""
		switch {
		case err == nil:
			if live, err = p.canonical(resp.Body, secret, d); err != nil {
				return nil, err
			}
		case isReason(err, "NotFound"):
		default:
			return nil, fmt.Errorf("get %s %s/%s: %w", res.GroupResource(), o.Namespace, o.Name, err)
		}
		resp, err = p.apply(ctx, cred, o, true)
		if err != nil {
			return nil, fmt.Errorf("dry-run %s %s/%s: %w", res.GroupResource(), o.Namespace, o.Name, err)
		}
		after, err := p.canonical(resp.Body, secret, d)
		if err != nil {
			return nil, err
		}
		d.live, d.after = append(d.live, live), append(d.after, after)
		d.warnings = append(d.warnings, resp.Warnings...)
	}
	return d, nil
}

// apply sends one object's server-side apply: the parsed object,
// re-serialised, never the manifest's text.
func (p *plan) apply(ctx context.Context, cred connectors.Credential, o kubeclass.Object, dryRun bool) (connectors.KubeResponse, error) {
	body, err := json.Marshal(o.Body)
	if err != nil {
		return connectors.KubeResponse{}, fmt.Errorf("kubernetes: encode %s: %w", o.Name, err)
	}
	q := url.Values{"fieldManager": {FieldManager}, "fieldValidation": {"Strict"}}
	if dryRun {
		q.Set("dryRun", "All")
	}
	return p.k.Kube(ctx, connectors.KubeRequest{Verb: "patch", Resource: connRes(o.Resource), Namespace: o.Namespace, Name: o.Name,
		Query: q, ContentType: "application/apply-patch+yaml", Body: body, Credential: cred})
}

// canonical is an object as the diff shows it.
func (p *plan) canonical(body []byte, secret bool, d *dryRunResult) (string, error) {
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		return "", fmt.Errorf("kubernetes: the API server's answer: %w", err)
	}
	if n := maskObject(obj, secret, true, masks{}); n > 0 {
		if d.masked == nil {
			d.masked = map[string]int64{}
		}
		d.masked["secret"] += n
	}
	y, err := yaml.Marshal(obj)
	return string(y), err
}

// text is the unified diff of every object, live against dry-run.
func (d *dryRunResult) text() string {
	var b strings.Builder
	for i, o := range d.objs {
		name := o.Resource.Name() + " " + strings.Trim(o.Namespace+"/"+o.Name, "/")
		if d.live[i] == d.after[i] {
			fmt.Fprintf(&b, "%s: unchanged\n", name)
			continue
		}
		from := "live " + name
		if d.live[i] == "" {
			from = "/dev/null (" + name + " does not exist)"
		}
		u, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{A: difflib.SplitLines(d.live[i]), B: difflib.SplitLines(d.after[i]),
			FromFile: from, ToFile: "applied " + name, Context: 3})
		b.WriteString(u)
	}
	return b.String()
}

// dryRunError words a dry-run that failed: nothing was applied.
func dryRunError(err error) error {
	var ge *gateway.Error
	if errors.As(err, &ge) {
		return err
	}
	return gateway.NewError(gateway.CodeTargetError, "Fix what the API server names and send the manifest again",
		"the server-side dry-run failed, so nothing was applied: %s", err.Error())
}

func isReason(err error, reason string) bool {
	var te *connectors.TargetError
	return errors.As(err, &te) && te.Code == reason
}

// cloneJSON deep-copies a JSON value.
func cloneJSON(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	json.Unmarshal(b, &out)
	return out
}

func renderApply(r *ApplyResult) string {
	var b strings.Builder
	for _, o := range r.Objects {
		fmt.Fprintf(&b, "%s/%s %s", o.Resource, o.Name, o.Action)
		if o.Namespace != "" {
			fmt.Fprintf(&b, " (namespace %s)", o.Namespace)
		}
		b.WriteByte('\n')
	}
	if r.Diff != "" {
		b.WriteString("--- diff (live -> applied) ---\n" + r.Diff)
	}
	for _, w := range r.Warnings {
		b.WriteString("warning: " + w + "\n")
	}
	return b.String()
}

var applyInputSchema = json.RawMessage(`{
  "type": "object",
  "properties": {
    "connection": {"type": "string", "description": "The Kubernetes connection (list_connections shows yours)."},
    "manifest": {"type": "string", "description": "The objects: YAML or JSON, one or several documents (---)."},
    "namespace": {"type": "string", "description": "The namespace of objects that name none (default: the connection's default namespace)."},
    "justification": {"type": "string", "description": "Why, for the audit trail and the human approver."}
  },
  "required": ["connection", "manifest"],
  "additionalProperties": false
}`)

var applyOutputSchema = json.RawMessage(`{
  "type": "object",
  "properties": {
    "connection": {"type": "string"},
    "objects": {"type": "array", "items": {"type": "object", "properties": {
      "resource": {"type": "string"}, "namespace": {"type": "string"}, "name": {"type": "string"},
      "action": {"type": "string", "enum": ["created", "configured", "unchanged"]},
      "risks": {"type": "array", "items": {"type": "string"}}}}},
    "diff": {"type": "string"},
    "warnings": {"type": "array", "items": {"type": "string"}},
    "elapsed_ms": {"type": "number"},
    "audit_id": {"type": "string"}
  },
  "required": ["connection", "objects", "diff"]
}`)

// maskedWrites refuses a manifest that would write a value back as the
// mask a read under the same rule shows (kubemask.MaskedWrites): applied,
// it would replace the real value with "***".
func maskedWrites(objs []kubeclass.Object, m masks) *gateway.Error {
	for _, o := range objs {
		if fields := kubemask.MaskedWrites(o.Body, isSecrets(connRes(o.Resource)), m); len(fields) > 0 {
			return gateway.NewError(gateway.CodeInvalidArgument,
				"Send the real values, or leave those keys out of the manifest (server-side apply keeps what it does not name)",
				"%s %s/%s: %s %s Warden's mask (%s), what a read under this rule shows; applied, it would replace the real value",
				o.Resource.Name(), o.Namespace, o.Name, strings.Join(fields, ", "), map[bool]string{true: "is", false: "are"}[len(fields) == 1], kubemask.Masked)
		}
	}
	return nil
}
