package kube

import (
	"context"
	"encoding/json"
	"net/url"
	"time"

	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/tools"
)

// DeleteArgs are the arguments of kubectl_delete.
type DeleteArgs struct {
	Connection    string `json:"connection"`
	Resource      string `json:"resource"`
	Namespace     string `json:"namespace"`
	Name          string `json:"name"`
	Justification string `json:"justification,omitempty"`
}

// DeleteResult is the structured result of kubectl_delete.
type DeleteResult struct {
	Connection string  `json:"connection"`
	Resource   string  `json:"resource"`
	Namespace  string  `json:"namespace,omitempty"`
	Name       string  `json:"name"`
	Deleted    bool    `json:"deleted"`
	ElapsedMs  float64 `json:"elapsed_ms"`
	AuditID    string  `json:"audit_id,omitempty"`
}

// DeleteTool is kubectl_delete.
var DeleteTool = tools.Tool{
	Name:     ToolDelete,
	Title:    "Delete one Kubernetes object",
	Needs:    connectors.CapKube,
	Governed: true,
	Review:   true,
	Describe: func(g *gateway.Gateway) (tools.Spec, bool) {
		if !anyCluster(g) || !g.Decider().AllowsWrites(ToolDelete) {
			return tools.Spec{}, false
		}
		return tools.Spec{Description: "Delete one named object on a Kubernetes cluster (kubectl delete RESOURCE NAME -n NAMESPACE). " +
			"Deletions usually need a human's approval: the call then returns a pending approval to wait for.",
			InputSchema: deleteInputSchema, OutputSchema: deleteOutputSchema, Destructive: true, Idempotent: true}, true
	},
	Run: func(ctx context.Context, c *tools.Catalogue, caller gateway.Caller, args json.RawMessage) (*tools.Result, error) {
		var a DeleteArgs
		if err := tools.DecodeArgs(args, &a); err != nil {
			return nil, tools.Invalid(ctx, c.Gateway().Session(caller, a.Connection), gateway.Operation{Tool: ToolDelete, Arguments: args}, err)
		}
		return Delete(ctx, c.Gateway(), caller, a, args)
	},
}

// Delete runs kubectl_delete through the whole pipeline, as a token that
// may delete only that object.
func Delete(ctx context.Context, g *gateway.Gateway, caller gateway.Caller, a DeleteArgs, raw json.RawMessage) (*tools.Result, error) {
	s, op, k, err := begin(ctx, g, caller, ToolDelete, a.Connection, a, raw)
	if k == nil {
		return nil, err
	}
	if e := checkDelete(a); e != nil {
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
		return nil, s.Invalid(ctx, op, gateway.NewError(gateway.CodeInvalidArgument, "", "argument \"namespace\" is required: %s are namespaced", res.GroupResource()))
	}
	op.Statement = statement("delete", res, ns, a.Name)
	op.Facts = requestFacts("delete", res, "", ns, a.Name)
	op.Require = connectors.KubeGrants{Rules: []connectors.KubeRule{need("delete", res, "", ns, a.Name)}}
	gr, err := s.Authorize(ctx, op)
	if err != nil {
		return nil, err
	}
	_, err = k.Kube(ctx, connectors.KubeRequest{Verb: "delete", Resource: res, Namespace: ns, Name: a.Name,
		Query: url.Values{"propagationPolicy": {"Background"}}, Credential: gr.Credential, Timeout: gr.Timeout, Gate: gr.Gate})
	if err != nil {
		return nil, gr.Finish(ctx, gateway.Outcome{Err: apiError(err, "")})
	}
	if e := gr.Finish(ctx, gateway.Outcome{Rows: 1}); e != nil {
		return nil, e
	}
	r := &DeleteResult{Connection: a.Connection, Resource: res.GroupResource(), Namespace: ns, Name: a.Name, Deleted: true,
		ElapsedMs: float64(time.Since(gr.Started()).Microseconds()) / 1000, AuditID: gr.AuditID()}
	return &tools.Result{Structured: r, Text: res.GroupResource() + " \"" + a.Name + "\" deleted\n"}, nil
}

func checkDelete(a DeleteArgs) *gateway.Error {
	if a.Connection == "" {
		return gateway.NewError(gateway.CodeInvalidArgument, "Call list_connections to see the connections you may use", "argument \"connection\" is required")
	}
	if a.Resource == "" {
		return gateway.NewError(gateway.CodeInvalidArgument, "kubectl_delete takes {connection, resource, namespace, name}", "argument \"resource\" is required")
	}
	if e := checkName("namespace", a.Namespace, false); e != nil {
		return e
	}
	return checkName("name", a.Name, true)
}

var deleteInputSchema = json.RawMessage(`{
  "type": "object",
  "properties": {
    "connection": {"type": "string", "description": "The Kubernetes connection (list_connections shows yours)."},
    "resource": {"type": "string", "description": "The resource: pods, po, deployments.apps, ..."},
    "namespace": {"type": "string", "description": "The object's namespace (required for namespaced resources)."},
    "name": {"type": "string", "description": "The object's name."},
    "justification": {"type": "string", "description": "Why, for the audit trail and the human approver."}
  },
  "required": ["connection", "resource", "namespace", "name"],
  "additionalProperties": false
}`)

var deleteOutputSchema = json.RawMessage(`{
  "type": "object",
  "properties": {
    "connection": {"type": "string"},
    "resource": {"type": "string"},
    "namespace": {"type": "string"},
    "name": {"type": "string"},
    "deleted": {"type": "boolean"},
    "elapsed_ms": {"type": "number"},
    "audit_id": {"type": "string"}
  },
  "required": ["connection", "resource", "name", "deleted"]
}`)
