package tools

import (
	"context"
	"encoding/json"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/policy"
)

// ConnectionView is one connection as list_connections shows it.
type ConnectionView struct {
	Name   string            `json:"name"`
	Kind   string            `json:"kind"`
	Labels map[string]string `json:"labels,omitempty"`
	Tools  []ToolGrant       `json:"tools"`
}

// ToolGrant says what the caller may do with one tool on a connection.
type ToolGrant struct {
	Tool     string `json:"tool"`
	Effect   string `json:"effect"` // allow or review
	ReadOnly bool   `json:"read_only"`
	MaxRows  int    `json:"max_rows,omitempty"`
	Rule     string `json:"rule"`
}

// ConnectionsResult is the structured result of list_connections.
type ConnectionsResult struct {
	Connections []ConnectionView `json:"connections"`
	AuditID     string           `json:"audit_id,omitempty"`
}

// ListConnectionsTool is list_connections.
var ListConnectionsTool = Tool{
	Name:     ToolListConnections,
	Title:    "List connections",
	Governed: true,
	Describe: func(*gateway.Gateway) (Spec, bool) {
		return Spec{
			Description:  "List the connections you may use, with their kind, labels and what you may do on each (tools, read-only or not, row limit).",
			InputSchema:  json.RawMessage(`{"type":"object","properties":{},"additionalProperties":false}`),
			OutputSchema: listConnectionsOutputSchema,
			ReadOnly:     true, Idempotent: true,
		}, true
	},
	Run: func(ctx context.Context, c *Catalogue, caller gateway.Caller, args json.RawMessage) (*Result, error) {
		var a struct{}
		if err := DecodeArgs(args, &a); err != nil {
			return nil, Invalid(ctx, c.g.Session(caller, ""), gateway.Operation{Tool: ToolListConnections, Arguments: args}, err)
		}
		return c.ListConnections(ctx, caller)
	},
}

// ListConnectionsDefault is the reason recorded for list_connections when
// no rule decides it: it is allowed unless a rule denies it.
const ListConnectionsDefault = "list_connections is allowed unless a rule denies it: it shows only what policy lets the caller do"

// ListConnections lists the connections on which the caller may do
// anything, and what: the governed tools each connection's capabilities
// take. It is itself a governed call: recorded, and allowed unless a rule
// denies list_connections.
func (c *Catalogue) ListConnections(ctx context.Context, caller gateway.Caller) (*Result, error) {
	g := c.g
	s := g.Session(caller, "")
	op := gateway.Operation{Tool: ToolListConnections, Arguments: json.RawMessage("{}")}
	d, err := g.Decider().Decide(ctx, policy.Input{Subject: caller.Principal.Subject, Groups: caller.Principal.Groups,
		Tool: ToolListConnections, Transport: caller.Transport})
	if err != nil {
		return nil, s.Reject(ctx, op, audit.StatusError, policy.Decision{},
			gateway.NewError(gateway.CodeInternal, "", "the policy could not be evaluated, so the call was refused").WithCause(err))
	}
	limits := g.Limits()
	res := &ConnectionsResult{Connections: []ConnectionView{}}
	for _, name := range g.Connections() {
		conn, _ := g.Connection(name)
		info := conn.Info()
		view := ConnectionView{Name: info.Name, Kind: info.Kind, Labels: info.Labels}
		for _, t := range c.tools {
			if !t.Governed || t.Needs == "" || !connectors.Has(conn, t.Needs) {
				continue
			}
			td, err := g.Decider().Decide(ctx, policy.Input{
				Subject: caller.Principal.Subject, Groups: caller.Principal.Groups, Transport: caller.Transport,
				Connection: policy.Connection{Name: info.Name, Kind: info.Kind, Labels: info.Labels},
				Tool:       t.Name,
			})
			if err != nil || td.Effect == policy.Deny {
				continue
			}
			maxRows := 0
			if t.Rows {
				maxRows = min(limits.MaxRows, nonZero(td.MaxRows, limits.MaxRows))
			}
			view.Tools = append(view.Tools, ToolGrant{Tool: t.Name, Effect: string(td.Effect), ReadOnly: td.ReadOnly, MaxRows: maxRows, Rule: td.Rule})
		}
		if len(view.Tools) > 0 {
			res.Connections = append(res.Connections, view)
		}
	}
	// Listing what one may do is not itself sensitive, so a missing
	// list_connections rule does not hide the list; an explicit deny does.
	if d.Effect == policy.Deny && d.Rule != "" {
		return nil, s.Reject(ctx, op, audit.StatusDenied, d, gateway.NewError(gateway.CodeDenied, "", "refused by policy: %s", d.Reason))
	}
	if d.Effect == policy.Deny {
		// No rule names list_connections: what allows it is this default,
		// and the audit event says so.
		d = policy.Decision{Effect: policy.Allow, Reason: ListConnectionsDefault}
	}
	id, err := s.Record(ctx, op, d, gateway.Outcome{Rows: int64(len(res.Connections))})
	if err != nil {
		return nil, err
	}
	res.AuditID = id
	return &Result{Structured: res, Text: renderConnections(res)}, nil
}

func nonZero(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
