package tools

import (
	"context"
	"encoding/json"

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

// ListConnections lists the connections on which the caller may do
// anything, and what. It is itself a governed call: recorded, and allowed
// unless a rule denies list_connections.
func (p *Pipeline) ListConnections(ctx context.Context, caller Caller) (*Result, error) {
	o := p.newOp(caller, ToolListConnections, "", json.RawMessage("{}"), "")
	d, err := p.decider.Decide(ctx, policy.Input{Subject: caller.Principal.Subject, Groups: caller.Principal.Groups, Tool: ToolListConnections})
	if err != nil {
		return nil, o.refuse(ctx, "error", &Error{Code: CodeInternal, Message: "the policy could not be evaluated, so the call was refused", err: err})
	}
	res := &ConnectionsResult{Connections: []ConnectionView{}}
	for _, name := range p.names {
		info := p.conns[name].Info()
		view := ConnectionView{Name: info.Name, Kind: info.Kind, Labels: info.Labels}
		for _, tool := range []string{ToolDescribeSchema, ToolRunQuery} {
			td, err := p.decider.Decide(ctx, policy.Input{
				Subject: caller.Principal.Subject, Groups: caller.Principal.Groups,
				Connection: policy.Connection{Name: info.Name, Kind: info.Kind, Labels: info.Labels},
				Tool:       tool,
			})
			if err != nil || td.Effect == policy.Deny {
				continue
			}
			maxRows := 0
			if tool == ToolRunQuery {
				maxRows = min(p.limits.MaxRows, nonZero(td.MaxRows, p.limits.MaxRows))
			}
			view.Tools = append(view.Tools, ToolGrant{Tool: tool, Effect: string(td.Effect), ReadOnly: td.ReadOnly, MaxRows: maxRows, Rule: td.Rule})
		}
		if len(view.Tools) > 0 {
			res.Connections = append(res.Connections, view)
		}
	}
	o.ev.Decision, o.ev.Rule, o.ev.Reason = string(d.Effect), d.Rule, d.Reason
	// Listing what one may do is not itself sensitive, so a missing
	// list_connections rule does not hide the list; an explicit deny does.
	if d.Effect == policy.Deny && d.Rule != "" {
		return nil, o.refuse(ctx, "denied", &Error{Code: CodeDenied, Rule: d.Rule, Message: "refused by policy: " + d.Reason})
	}
	o.ev.Status = "ok"
	o.ev.Rows = int64(len(res.Connections))
	if err := p.recorder.Record(ctx, o.ev); err != nil {
		return nil, &Error{Code: CodeUnavailable, Message: "the audit trail cannot be written, so the call was refused (Warden fails closed)", err: err}
	}
	res.AuditID = o.ev.ID
	return &Result{Structured: res, Text: renderConnections(res)}, nil
}

func nonZero(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
