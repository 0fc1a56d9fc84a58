package kubernetes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	apirequest "k8s.io/apiserver/pkg/endpoints/request"

	"github.com/wardenhq/warden/approvals"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/policy/kubeclass"
	kubetools "github.com/wardenhq/warden/tools/kube"
)

// Operations of the proxy that are not MCP tools, as rules name them.
const (
	ToolExec        = "kubectl_exec"         // exec and attach
	ToolPortForward = "kubectl_port_forward" // port-forward
)

// Tools are the tool names the proxy's requests are decided as besides
// the kubectl_* tools: policy must know them to compile rules naming them.
func Tools() []string { return []string{ToolExec, ToolPortForward} }

// ToolDiscovery names a discovery request in the audit trail.
const ToolDiscovery = "kubectl_discovery"

// cluster is what the proxy needs of a kubernetes connector.
type cluster interface {
	connectors.KubeAPI
	Upstream(cred connectors.Credential, http1 bool) (*url.URL, http.RoundTripper, error)
	ResolveResource(ctx context.Context, group, version, resource string) (connectors.KubeResource, error)
	Namespaces() []string
}

// infoFactory is the API server's own request-info parser.
var infoFactory = &apirequest.RequestInfoFactory{APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")}

// discoveryPath matches what kubectl reads to learn the API: the same for
// every caller (discovery is not filtered by RBAC).
var discoveryPath = regexp.MustCompile(`^/(version|api|apis|api/v[a-z0-9]+|apis/[a-z0-9.-]+|apis/[a-z0-9.-]+/v[a-z0-9]+|openapi/v2|openapi/v3|openapi/v3/[a-z0-9./-]+)$`)

// request is one API request as the proxy decides it.
type request struct {
	info      *apirequest.RequestInfo
	tool      string
	res       connectors.KubeResource
	statement string
	facts     *policy.Facts
	rule      connectors.KubeRule
	body      []byte
	// contentType, when set, replaces the client's (a protobuf body sent
	// on as the JSON classified).
	contentType string
	upgrade     bool
	// written is what a write sets, as classified: the object, or the
	// values a patch sets.
	written map[string]any
}

// refusal is a request refused before the gateway: code, reason, message.
type refusal struct {
	code   int
	reason metav1.StatusReason
	msg    string
}

func (r *refusal) Error() string { return r.msg }

func refuse(format string, args ...any) *refusal {
	return &refusal{code: http.StatusForbidden, reason: metav1.StatusReasonForbidden, msg: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) *refusal {
	return &refusal{code: http.StatusBadRequest, reason: metav1.StatusReasonBadRequest, msg: fmt.Sprintf(format, args...)}
}

// serve runs one authenticated request.
func (c *client) serve(w http.ResponseWriter, r *http.Request, p identity.Principal, connection, rest string) {
	ctx := r.Context()
	g := c.e.o.Gateway
	conn, _ := g.Connection(connection)
	k, ok := conn.(cluster)
	if !ok {
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("connection %q is not a cluster", connection))
		return
	}
	args := arguments(r, rest, nil)
	// Impersonation would let the client choose who the API server thinks
	// it is: never carried.
	for h := range r.Header {
		if strings.HasPrefix(strings.ToLower(h), "impersonate-") {
			msg := fmt.Sprintf("the %s header is refused: requests run as you, through Warden's policy, never as someone else", h)
			g.Session(c.caller(p), connection).Refuse(ctx, gateway.Operation{Tool: kubetools.ToolGet, Arguments: args,
				Statement: r.Method + " " + rest + " (" + h + ")"}, gateway.CodeDenied, msg)
			writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden, msg)
			return
		}
	}
	if r.Method == http.MethodGet && discoveryPath.MatchString(rest) && !isUpgrade(r) {
		c.discovery(w, r, p, connection, k, rest, args)
		return
	}
	req, rf := c.parse(ctx, r, k, rest)
	if req != nil {
		args = arguments(r, rest, req.body)
	}
	if rf != nil {
		tool := kubetools.ToolGet
		if req != nil && req.tool != "" {
			tool = req.tool
		}
		op := gateway.Operation{Tool: tool, Arguments: args, Statement: r.Method + " " + rest}
		if gs, err := c.gateway(ctx, p, connection, tool); err == nil {
			gs.Invalid(ctx, op, gateway.NewError(gateway.CodeInvalidArgument, "", "%s", rf.msg))
		} else {
			g.Session(c.caller(p), connection).Invalid(ctx, op, gateway.NewError(gateway.CodeInvalidArgument, "", "%s", rf.msg))
		}
		writeStatus(w, rf.code, rf.reason, rf.msg)
		return
	}
	gs, err := c.gateway(ctx, p, connection, req.tool)
	if err != nil {
		writeError(w, err)
		return
	}
	op := gateway.Operation{Tool: req.tool, Arguments: args, Statement: req.statement, Facts: req.facts,
		Needs: connectors.CapKube, Credential: true, Require: connectors.KubeGrants{Rules: []connectors.KubeRule{req.rule}},
		HoldContext: c.holdContext}
	gr, err := gs.Authorize(ctx, op)
	if err != nil {
		writeError(w, err)
		return
	}
	if req.contentType != "" {
		r.Header.Set("Content-Type", req.contentType)
	}
	if rf := maskedWrites(req, gr.Decision); rf != nil {
		gr.Finish(context.WithoutCancel(ctx), gateway.Outcome{Err: gateway.NewError(gateway.CodeInvalidArgument, "", "%s", rf.msg)})
		writeStatus(w, rf.code, rf.reason, rf.msg)
		return
	}
	// Reads and writes alike answer with the object: masked as the
	// deciding rule says.
	m, rf := newMasker(req, r.Header.Get("Accept"), gr.Decision)
	if rf != nil {
		gr.Finish(context.WithoutCancel(ctx), gateway.Outcome{Failed: rf.msg})
		writeStatus(w, rf.code, rf.reason, rf.msg)
		return
	}
	var rec Recording
	if req.tool == ToolExec && req.upgrade && c.e.o.Record != nil {
		if !isRecordable(r) {
			msg := fmt.Sprintf("exec and attach are recorded, which Warden can do over WebSocket (v5.channel.k8s.io) and SPDY/3.1, not %q", r.Header.Get("Upgrade"))
			gr.Finish(context.WithoutCancel(ctx), gateway.Outcome{Err: gateway.NewError(gateway.CodeDenied, "", "%s", msg)})
			writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden, msg)
			return
		}
		rec, err = c.e.o.Record(ctx, RecordingStart{ID: gr.AuditID(), Command: execCommand(r), TTY: r.URL.Query().Get("tty") == "true", Time: time.Now()})
		if err != nil {
			c.e.log.Error("kubernetes exec: recording could not start", "session", c.session, "err", err)
			gr.Finish(context.WithoutCancel(ctx), gateway.Outcome{Err: fmt.Errorf("the recording could not start: %w", err)})
			writeStatus(w, http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable, "the session recording could not start, so the exec does not run")
			return
		}
	}
	var logs *logMasker
	if req.res.Group == "" && req.res.Resource == "pods" && req.info.Subresource == "log" {
		logs = &logMasker{gr: gr}
	}
	c.forward(w, r, k, gr, rest, req.body, req.upgrade, m, rec, logs)
}

// discovery forwards a discovery read as Warden's own credential: its
// answer is the same for every caller, and it needs no rule. It is
// recorded as an operation of the session.
func (c *client) discovery(w http.ResponseWriter, r *http.Request, p identity.Principal, connection string, k cluster, rest string, args json.RawMessage) {
	gs, err := c.gateway(r.Context(), p, connection, kubetools.ToolGet)
	if err != nil {
		writeError(w, err)
		return
	}
	gr := gs.Control(r.Context(), gateway.Operation{Tool: ToolDiscovery, Arguments: args, Statement: "GET " + rest},
		"discovery: the API server's description of itself, the same for every caller")
	c.forward(w, r, k, gr, rest, nil, false, nil, nil, nil)
}

// arguments are the request as the audit trail records it and an
// approval binds it: method, path, query, content type, and the body's
// digest and size (a body may hold a Secret's values: never recorded).
func arguments(r *http.Request, rest string, body []byte) json.RawMessage {
	a := map[string]any{"method": r.Method, "path": rest}
	if r.URL.RawQuery != "" {
		a["query"] = r.URL.RawQuery
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		a["content_type"] = ct
	}
	if body != nil {
		d := sha256.Sum256(body)
		a["body_sha256"], a["body_bytes"] = hex.EncodeToString(d[:]), len(body)
	}
	b, _ := json.Marshal(a)
	return b
}

// isUpgrade reports whether r asks to switch protocols (SPDY, WebSocket).
func isUpgrade(r *http.Request) bool {
	for _, v := range r.Header.Values("Connection") {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), "upgrade") {
				return r.Header.Get("Upgrade") != ""
			}
		}
	}
	return false
}

// parse turns r into the request policy decides: what it does, on what,
// where, the facts (a write's body classified), and the rule its
// credential needs. What cannot be understood is refused.
func (c *client) parse(ctx context.Context, r *http.Request, k cluster, rest string) (*request, *refusal) {
	if path.Clean(rest) != rest || strings.Contains(rest, "//") {
		return nil, invalid("the path %q is not in its clean form", rest)
	}
	pr := r.Clone(ctx)
	pr.URL = &url.URL{Path: rest, RawQuery: r.URL.RawQuery}
	info, err := infoFactory.NewRequestInfo(pr)
	if err != nil {
		return nil, invalid("the request cannot be understood: %v", err)
	}
	if !info.IsResourceRequest {
		return nil, refuse("%s %s is not an API resource request: the proxy carries resource requests and discovery (/api, /apis, /openapi, /version) only", r.Method, rest)
	}
	req := &request{info: info, upgrade: isUpgrade(r)}
	res, err := k.ResolveResource(ctx, info.APIGroup, info.APIVersion, info.Resource)
	if err != nil {
		return req, invalid("%s", err.Error())
	}
	req.res = res
	verb, sub, ns, name := info.Verb, info.Subresource, info.Namespace, info.Name
	if !res.Namespaced {
		ns = ""
	} else if ns == "" {
		return req, refuse("%s %s in every namespace is not carried: name a namespace (kubectl -n NAMESPACE)", verb, res.GroupResource())
	} else if !slices.Contains(k.Namespaces(), ns) {
		return req, refuse("namespace %q is not one this connection serves (%s)", ns, strings.Join(k.Namespaces(), ", "))
	}
	rbacVerbs := []string{verb}
	switch {
	case verb == "proxy" || sub == "proxy":
		return req, refuse("the proxy subresource (%s/proxy) is not carried: it reaches a pod, service or node unclassified", res.GroupResource())
	case sub == "log" && res.Group == "" && res.Resource == "pods":
		req.tool = kubetools.ToolLogs
	case res.Group == "" && res.Resource == "pods" && (sub == "exec" || sub == "attach" || sub == "portforward"):
		req.tool = ToolExec
		if sub == "portforward" {
			req.tool = ToolPortForward
		}
		// WebSocket upgrades are GETs, SPDY's POSTs; the API server asks
		// RBAC for create on the subresource (and get, for WebSocket, on
		// servers before 1.31).
		verb, rbacVerbs = kubeclass.VerbCreate, []string{kubeclass.VerbCreate, kubeclass.VerbGet}
	case verb == kubeclass.VerbGet || verb == kubeclass.VerbList || verb == kubeclass.VerbWatch:
		req.tool = kubetools.ToolGet
	case verb == kubeclass.VerbCreate || verb == kubeclass.VerbUpdate || verb == kubeclass.VerbPatch:
		req.tool = kubetools.ToolApply
	case verb == kubeclass.VerbDelete || verb == kubeclass.VerbDeleteCollection:
		req.tool = kubetools.ToolDelete
	default:
		return req, refuse("the verb %q is not carried", verb)
	}
	if req.upgrade && req.tool != ToolExec && req.tool != ToolPortForward {
		return req, refuse("an Upgrade is carried for exec, attach and port-forward only")
	}
	req.statement = statementOf(verb, res, sub, ns, name, r)
	req.facts = kubeclass.Request(verb, classRes(res), sub, ns, name)
	req.rule = rule(rbacVerbs, res, sub, ns, name)
	if r.Body != nil && r.Body != http.NoBody && !req.upgrade {
		body, err := io.ReadAll(io.LimitReader(r.Body, c.e.o.MaxBodyBytes+1))
		if err != nil {
			return req, invalid("reading the body: %v", err)
		}
		if int64(len(body)) > c.e.o.MaxBodyBytes {
			return req, &refusal{code: http.StatusRequestEntityTooLarge, reason: metav1.StatusReasonRequestEntityTooLarge,
				msg: fmt.Sprintf("the body is over %d bytes (proxy.kubernetes.max_body_bytes)", c.e.o.MaxBodyBytes)}
		}
		if len(body) > 0 {
			req.body = body
		}
	}
	if f, rf := classifyBody(resolver{ctx, k}, req, r.Header.Get("Content-Type")); rf != nil {
		return req, rf
	} else if f != nil {
		req.facts = f
	}
	return req, nil
}

// statementOf is the request as the audit trail and approvers read it,
// kubectl-like.
func statementOf(verb string, res connectors.KubeResource, sub, ns, name string, r *http.Request) string {
	parts := []string{verb, res.GroupResource()}
	if sub != "" {
		parts[1] += "/" + sub
	}
	if name != "" {
		parts = append(parts, name)
	}
	if ns != "" {
		parts = append(parts, "-n", ns)
	}
	if verb == kubeclass.VerbPatch {
		parts = append(parts, "--type", patchType(r.Header.Get("Content-Type")))
	}
	q := r.URL.Query()
	for _, k := range []string{"labelSelector", "fieldSelector", "dryRun", "container", "command"} {
		for _, v := range q[k] {
			parts = append(parts, "--"+k+"="+v)
		}
	}
	return strings.Join(parts, " ")
}

// rule is the RBAC rule a request needs: its verbs on its resource (or
// subresource), in its namespace, for its name.
func rule(verbs []string, r connectors.KubeResource, sub, namespace, name string) connectors.KubeRule {
	out := connectors.KubeRule{Group: r.Group, Resource: r.Resource, Verbs: verbs, Namespace: namespace}
	if sub != "" {
		out.Resource += "/" + sub
	}
	if name != "" {
		out.Names = []string{name}
	}
	return out
}

func classRes(r connectors.KubeResource) kubeclass.Resource {
	return kubeclass.Resource{Group: r.Group, Version: r.Version, Resource: r.Resource, Kind: r.Kind, Namespaced: r.Namespaced}
}

// holdContext bounds a held request's wait (proxy.kubernetes.approval_wait).
func (c *client) holdContext(ctx context.Context) (context.Context, func()) {
	if w := c.e.o.ApprovalWait; w > 0 {
		return approvals.WithWait(ctx, w), func() {}
	}
	return ctx, func() {}
}
