package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Tool names.
const (
	ToolListConnections = "list_connections"
	ToolDescribeSchema  = "describe_schema"
	ToolRunQuery        = "run_query"
)

// Names lists every tool this build governs; policy rules may name only these.
func Names() []string {
	return []string{ToolListConnections, ToolDescribeSchema, ToolRunQuery}
}

// Tool describes one governed operation for a front door to publish.
type Tool struct {
	Name        string
	Title       string
	Description string
	// InputSchema and OutputSchema are JSON Schema objects.
	InputSchema  json.RawMessage
	OutputSchema json.RawMessage
	// Hints, truthful for this configuration.
	ReadOnly    bool
	Destructive bool
	Idempotent  bool
	OpenWorld   bool
}

// Result is a successful call: structured content and a rendering for
// humans and models that read text.
type Result struct {
	Structured any
	Text       string
}

// Catalogue returns the tools, with hints true for the loaded policy:
// run_query is read-only unless some rule lets it write.
func (p *Pipeline) Catalogue() []Tool {
	writes := false
	if w, ok := p.decider.(interface{ AllowsWrites(tool string) bool }); ok {
		writes = w.AllowsWrites(ToolRunQuery)
	}
	runDesc := "Run one SQL statement on a connection and return its rows. Policy decides what may run: " +
		"reads are checked, bounded (max_rows, time limit) and recorded; writes run only where a rule allows them. "
	if !writes {
		runDesc += "On this Warden every connection is read-only for you. "
	}
	runDesc += "Refusals explain why and what to do instead."
	return append([]Tool{
		{
			Name:         ToolListConnections,
			Title:        "List connections",
			Description:  "List the connections you may use, with their kind, labels and what you may do on each (tools, read-only or not, row limit).",
			InputSchema:  json.RawMessage(`{"type":"object","properties":{},"additionalProperties":false}`),
			OutputSchema: listConnectionsOutputSchema,
			ReadOnly:     true, Idempotent: true,
		},
		{
			Name:         ToolDescribeSchema,
			Title:        "Describe schema",
			Description:  "List the schemas, tables and views of a connection with their columns and types; only objects you may read. Narrow it with schema and table.",
			InputSchema:  describeSchemaInputSchema,
			OutputSchema: describeSchemaOutputSchema,
			ReadOnly:     true, Idempotent: true,
		},
		{
			Name:         ToolRunQuery,
			Title:        "Run SQL query",
			Description:  runDesc,
			InputSchema:  runQueryInputSchema,
			OutputSchema: runQueryOutputSchema,
			ReadOnly:     !writes, Destructive: writes, Idempotent: !writes,
		},
	}, p.approvalTools()...)
}

// Call runs one tool with JSON arguments. Every call, including one with
// bad arguments, is recorded.
func (p *Pipeline) Call(ctx context.Context, caller Caller, tool string, args json.RawMessage) (*Result, error) {
	switch tool {
	case ToolListConnections:
		var a struct{}
		if err := decodeArgs(args, &a); err != nil {
			return nil, p.invalid(ctx, caller, tool, "", args, err)
		}
		return p.ListConnections(ctx, caller)
	case ToolDescribeSchema:
		var a DescribeSchemaArgs
		if err := decodeArgs(args, &a); err != nil {
			return nil, p.invalid(ctx, caller, tool, a.Connection, args, err)
		}
		return p.DescribeSchema(ctx, caller, a)
	case ToolRunQuery:
		var a RunQueryArgs
		if err := decodeArgs(args, &a); err != nil {
			return nil, p.invalid(ctx, caller, tool, a.Connection, args, err)
		}
		a.raw = args
		return p.RunQuery(ctx, caller, a)
	case ToolApprovalStatus, ToolAwaitApproval:
		if _, ok := p.tracker(); ok {
			return p.approvalCall(ctx, caller, tool, args)
		}
	}
	return nil, p.invalid(ctx, caller, tool, "", args, fmt.Errorf("unknown tool %q (known: %s)", tool, strings.Join(Names(), ", ")))
}

// invalid records and returns a call refused for bad input.
func (p *Pipeline) invalid(ctx context.Context, caller Caller, tool, connection string, args json.RawMessage, err error) error {
	o := p.newOp(caller, tool, connection, args, "")
	return o.refuse(ctx, "invalid", &Error{Code: CodeInvalidArgument, Message: "invalid arguments: " + err.Error(), err: err})
}

// decodeArgs decodes strictly: an unknown argument is an error naming it.
func decodeArgs(args json.RawMessage, v any) error {
	if len(bytes.TrimSpace(args)) == 0 || string(bytes.TrimSpace(args)) == "null" {
		args = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		switch {
		case errors.As(err, &ute):
			return fmt.Errorf("argument %q must be %s, got %s", ute.Field, jsonKind(ute.Type.Kind().String()), ute.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return fmt.Errorf("unknown argument %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return fmt.Errorf("arguments are not a valid JSON object: %v", err)
	}
	if dec.Decode(new(json.RawMessage)) != io.EOF {
		return errors.New("arguments must be a single JSON object")
	}
	return nil
}

func jsonKind(k string) string {
	switch k {
	case "int", "int64", "int32":
		return "an integer"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	}
	return "a " + k
}
