package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/policy/kubeclass"
)

// Tool names.
const (
	ToolGet    = "kubectl_get"
	ToolLogs   = "kubectl_logs"
	ToolDelete = "kubectl_delete"
	ToolApply  = "kubectl_apply"
)

// MaxOutputBytes bounds what a call returns (a table, YAML, logs); the
// rest is counted and flagged as truncated.
const MaxOutputBytes = 1 << 20

// Names lists the tools of this package, for policy.
var Names = []string{ToolGet, ToolLogs, ToolDelete, ToolApply}

// anyCluster reports whether some connection is a cluster.
func anyCluster(g *gateway.Gateway) bool {
	for _, name := range g.Connections() {
		if c, ok := g.Connection(name); ok && connectors.Has(c, connectors.CapKube) {
			return true
		}
	}
	return false
}

// cluster is the session's cluster, nil when the connection does not
// exist or is not one (Authorize refuses those with the reason).
func cluster(s *gateway.Session) connectors.KubeAPI {
	k, _ := s.Connector().(connectors.KubeAPI)
	return k
}

// begin starts a call of tool on connection: its session, its operation
// (raw, or args as JSON when nil: a call made in process) and the cluster
// it reaches. With no cluster (no such connection, or not a Kubernetes
// one) the call is refused and recorded, and k is nil with the refusal.
func begin(ctx context.Context, g *gateway.Gateway, caller gateway.Caller, tool, connection string, args any, raw json.RawMessage) (s *gateway.Session, op gateway.Operation, k connectors.KubeAPI, err error) {
	if raw == nil {
		raw = mustJSON(args)
	}
	s = g.Session(caller, connection)
	op = gateway.Operation{Tool: tool, Arguments: raw, Needs: connectors.CapKube, Credential: true}
	if k = cluster(s); k == nil {
		_, err = s.Authorize(ctx, op)
	}
	return s, op, k, err
}

// namespaces is what the connector says rules may grant on it.
type namespaced interface{ Namespaces() []string }

// defaultNamespace is where a call that names none goes: "default" when
// the connection lists it, else the first namespace it lists.
func defaultNamespace(k connectors.KubeAPI) string {
	n, ok := k.(namespaced)
	if !ok {
		return "default"
	}
	ns := n.Namespaces()
	if len(ns) == 0 || slices.Contains(ns, "default") {
		return "default"
	}
	return ns[0]
}

// resourceKind is how Facts name a resource: resource[.group][/sub].
func resourceKind(r connectors.KubeResource, sub string) string {
	k := r.GroupResource()
	if sub != "" {
		k += "/" + sub
	}
	return k
}

// requestFacts classifies one API request for policy (policy/kubeclass).
func requestFacts(verb string, r connectors.KubeResource, sub, namespace, name string) *policy.Facts {
	return kubeclass.Request(verb, classRes(r), sub, namespace, name)
}

// classRes and connRes convert between the connector's and the
// classifier's description of a resource (the same fields).
func classRes(r connectors.KubeResource) kubeclass.Resource {
	return kubeclass.Resource{Group: r.Group, Version: r.Version, Resource: r.Resource, Kind: r.Kind, Namespaced: r.Namespaced}
}

func connRes(r kubeclass.Resource) connectors.KubeResource {
	return connectors.KubeResource{Group: r.Group, Version: r.Version, Resource: r.Resource, Kind: r.Kind, Namespaced: r.Namespaced}
}

// resolver is the cluster's discovery as the classifier asks it.
type resolver struct {
	ctx context.Context
	k   connectors.KubeAPI
}

func (r resolver) ForKind(apiVersion, kind string) (kubeclass.Resource, error) {
	res, err := r.k.ResolveKind(r.ctx, apiVersion, kind)
	return classRes(res), err
}

func (r resolver) ForName(name string) (kubeclass.Resource, error) {
	res, err := r.k.ResolveName(r.ctx, name)
	return classRes(res), err
}

// need is the RBAC rule a request needs: its verb on its resource, in its
// namespace (cluster scope for a cluster-scoped resource), for its name.
func need(verb string, r connectors.KubeResource, sub, namespace, name string, more ...string) connectors.KubeRule {
	rule := connectors.KubeRule{Group: r.Group, Resource: r.Resource, Verbs: append([]string{verb}, more...)}
	if sub != "" {
		rule.Resource += "/" + sub
	}
	if r.Namespaced {
		rule.Namespace = namespace
	}
	if name != "" {
		rule.Names = []string{name}
	}
	return rule
}

// statement is the call as the audit trail and approvers read it, kubectl-like.
func statement(verb string, r connectors.KubeResource, namespace, name string, extra ...string) string {
	parts := []string{verb, r.GroupResource()}
	if name != "" {
		parts = append(parts, name)
	}
	if r.Namespaced && namespace != "" {
		parts = append(parts, "-n", namespace)
	}
	return strings.Join(append(parts, extra...), " ")
}

// resolveError refuses a resource discovery does not know.
func resolveError(name string, err error) *gateway.Error {
	return gateway.NewError(gateway.CodeInvalidArgument, "Name a resource the cluster has: a plural (pods), a short name (po), a kind (Pod) or resource.group (deployments.apps)",
		"%s", err.Error())
}

// checkName refuses an object or namespace name no API server takes.
func checkName(what, v string, required bool) *gateway.Error {
	switch {
	case v == "" && required:
		return gateway.NewError(gateway.CodeInvalidArgument, "", "argument %q is required", what)
	case v == "":
		return nil
	case len(v) > 253 || strings.ContainsAny(v, "/%?#\\ \t\r\n\x00") || v == "." || v == "..":
		return gateway.NewError(gateway.CodeInvalidArgument, "", "argument %q: %q is not a Kubernetes name", what, v)
	}
	return nil
}

// capped keeps the first MaxOutputBytes written and counts the rest.
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

func (c *capped) String() string  { return c.b.String() }
func (c *capped) truncated() bool { return c.total > int64(c.b.Len()) }

// mustJSON marshals a value known to marshal.
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("kube: marshal %T: %v", v, err))
	}
	return b
}

// finishText masks text through the grant's stream (the decision's
// detectors) into a capped buffer.
func maskText(ctx context.Context, gr *gateway.Grant, text []byte) (*capped, map[string]int64, error) {
	var out capped
	w, err := gr.Stream(ctx, &out)
	if err != nil {
		return nil, nil, err
	}
	if _, err := w.Write(text); err != nil {
		w.Close()
		return nil, nil, err
	}
	if err := w.Close(); err != nil {
		return nil, nil, err
	}
	return &out, w.Summary(), nil
}

// apiError words the API server's refusal of a call for the agent (the
// gateway's default wording is a database's); other errors pass.
func apiError(err error, prefix string) error {
	var te *connectors.TargetError
	if !errors.As(err, &te) {
		return err
	}
	return gateway.NewError(gateway.CodeTargetError, "", "%sthe API server refused: %s", prefix, te.Error())
}
