package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/gateway"
)

// Tool is one entry of the catalogue: adding a tool is adding one.
type Tool struct {
	Name  string
	Title string
	// Describe says what the tool is on this gateway (its description and
	// hints depend on the policy); false hides it (the approval tools
	// when no approval workflow is enabled).
	Describe func(g *gateway.Gateway) (Spec, bool)
	// Needs is the connector capability the tool works on:
	// list_connections offers it on the connections that have it. Empty
	// for a tool that is not on a connection.
	Needs connectors.Capability
	// Governed: policy decides the tool's calls, and rules may name it.
	Governed bool
	// Review: a call an allow rule admits is held for review instead,
	// unless that rule names the tool in its tools: (kubectl_delete).
	Review bool
	// Rows: the tool returns rows bounded by max_rows (list_connections
	// says how many).
	Rows bool
	// Run carries out one call with its JSON arguments. Every call,
	// including one with bad arguments, must be recorded.
	Run func(ctx context.Context, c *Catalogue, caller gateway.Caller, args json.RawMessage) (*Result, error)
}

// Spec describes one tool for a front door to publish.
type Spec struct {
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

// Tool names.
const (
	ToolListConnections = "list_connections"
	ToolDescribeSchema  = "describe_schema"
	ToolRunQuery        = "run_query"
)

// Names lists the governed tools of a table: the names policy rules may
// use.
func Names(table []Tool) []string {
	var out []string
	for _, t := range table {
		if t.Governed {
			out = append(out, t.Name)
		}
	}
	return out
}

// Catalogue is the tools of one gateway, as front doors call them. It is
// safe for concurrent use.
type Catalogue struct {
	g      *gateway.Gateway
	tools  []Tool
	byName map[string]*Tool
}

// New builds the catalogue of table on g.
func New(g *gateway.Gateway, table []Tool) *Catalogue {
	c := &Catalogue{g: g, tools: table, byName: map[string]*Tool{}}
	for i := range c.tools {
		t := &c.tools[i]
		if _, ok := t.Describe(g); ok {
			c.byName[t.Name] = t
		}
	}
	return c
}

// Gateway is the catalogue's gateway.
func (c *Catalogue) Gateway() *gateway.Gateway { return c.g }

// Specs describes the tools, with hints true for the loaded policy.
func (c *Catalogue) Specs() []Spec {
	var out []Spec
	for _, t := range c.tools {
		if s, ok := t.Describe(c.g); ok {
			s.Name, s.Title = t.Name, t.Title
			out = append(out, s)
		}
	}
	return out
}

// Call runs one tool with JSON arguments. Every call, including one with
// bad arguments or an unknown tool, is recorded. A call to a tool the
// catalogue does not have is refused as invalid with an *UnknownToolError
// as its cause.
func (c *Catalogue) Call(ctx context.Context, caller gateway.Caller, tool string, args json.RawMessage) (*Result, error) {
	t, ok := c.byName[tool]
	if !ok {
		ute := &UnknownToolError{Tool: tool, Tools: c.names()}
		return nil, c.g.Session(caller, "").Invalid(ctx, gateway.Operation{Tool: tool, Arguments: args}, gateway.Invalid(ute.Error(), ute))
	}
	return t.Run(ctx, c, caller, args)
}

// names are the catalogue's tools, in table order.
func (c *Catalogue) names() []string {
	var names []string
	for _, t := range c.tools {
		if _, ok := c.byName[t.Name]; ok {
			names = append(names, t.Name)
		}
	}
	return names
}

// UnknownToolError is why a call naming no tool of the catalogue was
// refused; Tools are the tools there are.
type UnknownToolError struct {
	Tool  string
	Tools []string
}

func (e *UnknownToolError) Error() string {
	return fmt.Sprintf("unknown tool %q; the tools are: %s", e.Tool, strings.Join(e.Tools, ", "))
}

// EndSession ends a session (see gateway.Gateway.EndSession).
func (c *Catalogue) EndSession(ctx context.Context, session string) { c.g.EndSession(ctx, session) }

// Invalid records and returns a call refused for bad input.
func Invalid(ctx context.Context, s *gateway.Session, op gateway.Operation, err error) error {
	return s.Invalid(ctx, op, gateway.Invalid("invalid arguments: "+err.Error(), err))
}

// DecodeArgs decodes a tool's arguments strictly: an unknown argument is
// an error naming it.
func DecodeArgs(args json.RawMessage, v any) error {
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

// Reviewed lists the tools of ts held for review by default (Tool.Review),
// for policy.ReviewByDefault.
func Reviewed(ts []Tool) []string {
	var out []string
	for _, t := range ts {
		if t.Review {
			out = append(out, t.Name)
		}
	}
	return out
}
