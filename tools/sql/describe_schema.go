package sql

import (
	"context"
	"encoding/json"

	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/tools"
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

// DescribeSchemaTool is describe_schema: authorize, the connector's
// description, finish.
var DescribeSchemaTool = tools.Tool{
	Name:     tools.ToolDescribeSchema,
	Title:    "Describe schema",
	Needs:    connectors.CapSQL,
	Governed: true,
	Describe: func(*gateway.Gateway) (tools.Spec, bool) {
		return tools.Spec{
			Description:  "List the schemas, tables and views of a connection with their columns and types; only objects you may read. Narrow it with schema and table.",
			InputSchema:  describeSchemaInputSchema,
			OutputSchema: describeSchemaOutputSchema,
			ReadOnly:     true, Idempotent: true,
		}, true
	},
	Run: func(ctx context.Context, c *tools.Catalogue, caller gateway.Caller, args json.RawMessage) (*tools.Result, error) {
		var a DescribeSchemaArgs
		if err := tools.DecodeArgs(args, &a); err != nil {
			return nil, tools.Invalid(ctx, c.Gateway().Session(caller, a.Connection), gateway.Operation{Tool: tools.ToolDescribeSchema, Arguments: args}, err)
		}
		return DescribeSchema(ctx, c.Gateway(), caller, a)
	},
}

// DescribeSchema lists the objects of a connection the caller may read.
func DescribeSchema(ctx context.Context, g *gateway.Gateway, caller gateway.Caller, a DescribeSchemaArgs) (*tools.Result, error) {
	raw, _ := json.Marshal(a)
	s := g.Session(caller, a.Connection)
	op := gateway.Operation{Tool: tools.ToolDescribeSchema, Arguments: raw, Needs: connectors.CapSQL}
	if a.Connection == "" {
		return nil, s.Invalid(ctx, op, gateway.NewError(gateway.CodeInvalidArgument,
			"Call list_connections to see the connections you may use", "argument \"connection\" is required"))
	}
	gr, err := s.Authorize(ctx, op)
	if err != nil {
		return nil, err
	}
	sqlConn, ok := s.Connector().(connectors.SQL)
	if !ok {
		return nil, gr.Finish(ctx, gateway.Outcome{Err: gateway.NewError(gateway.CodeInvalidArgument, "", "connection %q has no schema to describe", a.Connection)})
	}
	if err := gr.Gate(ctx); err != nil {
		return nil, gr.Finish(ctx, gateway.Outcome{Err: err})
	}
	// Only what the deciding rule lets the caller read (its tables: scope).
	ns, d := sqlConn.Classifier().Namespace(), gr.Decision
	visible := func(schema, table string) bool { return d.Visible(ns, schema, table) }
	resp, err := sqlConn.Describe(ctx, connectors.DescribeRequest{Schema: a.Schema, Table: a.Table, Visible: visible})
	if err != nil {
		return nil, gr.Finish(ctx, gateway.Outcome{Err: err})
	}
	res := &SchemaResult{Connection: a.Connection, Tables: resp.Tables}
	if res.Tables == nil {
		res.Tables = []connectors.Table{}
	}
	if e := gr.Finish(ctx, gateway.Outcome{Rows: int64(len(res.Tables))}); e != nil {
		return nil, e
	}
	res.AuditID = gr.AuditID()
	return &tools.Result{Structured: res, Text: renderSchema(res)}, nil
}
