package tools

import (
	"context"
	"encoding/json"

	"github.com/wardenhq/warden/connectors"
)

// DescribeSchemaArgs are the arguments of describe_schema.
type DescribeSchemaArgs struct {
	Connection string `json:"connection"`
	Schema     string `json:"schema,omitempty"`
	Table      string `json:"table,omitempty"`
}

// SchemaResult is the structured result of describe_schema.
type SchemaResult struct {
	Connection string             `json:"connection"`
	Tables     []connectors.Table `json:"tables"`
	AuditID    string             `json:"audit_id,omitempty"`
}

// DescribeSchema lists the objects of a connection the caller may read.
func (p *Pipeline) DescribeSchema(ctx context.Context, caller Caller, a DescribeSchemaArgs) (*Result, error) {
	raw, _ := json.Marshal(a)
	o := p.newOp(caller, ToolDescribeSchema, a.Connection, raw, "")
	if a.Connection == "" {
		return nil, o.refuse(ctx, "invalid", newError(CodeInvalidArgument,
			"Call list_connections to see the connections you may use", "argument \"connection\" is required"))
	}
	if err := o.authorize(ctx, ""); err != nil {
		return nil, err
	}
	sqlConn, ok := o.conn.(connectors.SQL)
	if !ok {
		return nil, o.fail(ctx, newError(CodeInvalidArgument, "", "connection %q has no schema to describe", a.Connection))
	}
	if err := o.gate(ctx); err != nil {
		return nil, o.fail(ctx, err)
	}
	resp, err := sqlConn.Describe(ctx, connectors.DescribeRequest{Schema: a.Schema, Table: a.Table})
	if err != nil {
		return nil, o.fail(ctx, err)
	}
	res := &SchemaResult{Connection: a.Connection, Tables: resp.Tables}
	if res.Tables == nil {
		res.Tables = []connectors.Table{}
	}
	o.ev.Rows = int64(len(res.Tables))
	o.succeed(ctx)
	res.AuditID = o.ev.ID
	return &Result{Structured: res, Text: renderSchema(res)}, nil
}
