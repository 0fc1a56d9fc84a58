package sql

import (
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/masking"
	"github.com/wardenhq/warden/tools"
)

// RunQueryArgs are the arguments of run_query.
type RunQueryArgs struct {
	Connection    string `json:"connection"`
	SQL           string `json:"sql"`
	MaxRows       *int   `json:"max_rows,omitempty"`
	Justification string `json:"justification,omitempty"`

	raw json.RawMessage // as received, for the audit record and approvals
}

// QueryResult is the structured result of run_query.
type QueryResult struct {
	Connection string              `json:"connection"`
	Columns    []connectors.Column `json:"columns"`
	Rows       [][]any             `json:"rows"`
	RowCount   int                 `json:"row_count"`
	Truncated  bool                `json:"truncated"`
	MaxRows    int                 `json:"max_rows"`
	ElapsedMs  float64             `json:"elapsed_ms"`
	CommandTag string              `json:"command_tag,omitempty"`
	ReadOnly   bool                `json:"read_only"`
	Masked     map[string]int64    `json:"masked,omitempty"`
	AuditID    string              `json:"audit_id,omitempty"`
}

// RunQueryTool is run_query: authorize, the connector's query, finish.
var RunQueryTool = tools.Tool{
	Name:     tools.ToolRunQuery,
	Title:    "Run SQL query",
	Needs:    connectors.CapSQL,
	Governed: true,
	Rows:     true,
	Describe: func(g *gateway.Gateway) (tools.Spec, bool) {
		writes := g.Decider().AllowsWrites(tools.ToolRunQuery)
		desc := "Run one SQL statement on a connection and return its rows. Policy decides what may run: " +
			"reads are checked, bounded (max_rows, time limit) and recorded; writes run only where a rule allows them. "
		if !writes {
			desc += "On this Warden every connection is read-only for you. "
		}
		desc += "Refusals explain why and what to do instead."
		return tools.Spec{Description: desc, InputSchema: runQueryInputSchema, OutputSchema: runQueryOutputSchema,
			ReadOnly: !writes, Destructive: writes, Idempotent: !writes}, true
	},
	Run: func(ctx context.Context, c *tools.Catalogue, caller gateway.Caller, args json.RawMessage) (*tools.Result, error) {
		var a RunQueryArgs
		if err := tools.DecodeArgs(args, &a); err != nil {
			return nil, tools.Invalid(ctx, c.Gateway().Session(caller, a.Connection), gateway.Operation{Tool: tools.ToolRunQuery, Arguments: args}, err)
		}
		a.raw = args
		return RunQuery(ctx, c.Gateway(), caller, a)
	},
}

// RunQuery runs one SQL statement through the whole pipeline.
func RunQuery(ctx context.Context, g *gateway.Gateway, caller gateway.Caller, a RunQueryArgs) (*tools.Result, error) {
	if a.raw == nil {
		a.raw, _ = json.Marshal(a)
	}
	s := g.Session(caller, a.Connection)
	op := gateway.Operation{Tool: tools.ToolRunQuery, Arguments: a.raw, Statement: a.SQL, Needs: connectors.CapSQL, Credential: true}
	limits := g.Limits()
	if err := checkQueryArgs(a, limits); err != nil {
		return nil, s.Invalid(ctx, op, err)
	}
	gr, err := s.Authorize(ctx, op)
	if err != nil {
		return nil, err
	}
	d := gr.Decision
	maxRows := limits.DefaultMaxRows
	if a.MaxRows != nil {
		maxRows = *a.MaxRows
	}
	maxRows = min(maxRows, limits.MaxRows)
	if d.MaxRows > 0 {
		maxRows = min(maxRows, d.MaxRows)
	}
	// The classifier that admitted the statement is an SQL connector's.
	sqlConn := s.Connector().(connectors.SQL)
	qctx, cancel := context.WithTimeout(ctx, gr.Timeout+5*time.Second)
	defer cancel()
	rows, err := sqlConn.Query(qctx, connectors.QueryRequest{SQL: a.SQL, ReadOnly: d.ReadOnly, Timeout: gr.Timeout, Credential: gr.Credential, Gate: gr.Gate})
	if err != nil {
		return nil, gr.Finish(ctx, gateway.Outcome{Err: gr.MaskError(ctx, err)})
	}
	// A connector must call the gate; if one did not, nothing it returns
	// leaves Warden without a durable intent.
	if err := gr.Gate(ctx); err != nil {
		rows.Close()
		return nil, gr.Finish(ctx, gateway.Outcome{Err: err})
	}
	res, err := collect(ctx, gr, a.Connection, rows, maxRows)
	if err != nil {
		return nil, gr.Finish(ctx, gateway.Outcome{Err: gr.MaskError(ctx, err)})
	}
	res.ReadOnly = d.ReadOnly
	res.ElapsedMs = float64(time.Since(gr.Started()).Microseconds()) / 1000
	if e := gr.Finish(ctx, gateway.Outcome{Rows: int64(res.RowCount), Truncated: res.Truncated, Masked: res.Masked}); e != nil {
		return nil, e
	}
	res.AuditID = gr.AuditID()
	return &tools.Result{Structured: res, Text: renderQuery(res)}, nil
}

func checkQueryArgs(a RunQueryArgs, limits config.Limits) *gateway.Error {
	hint := "run_query takes {connection, sql, max_rows?, justification?}"
	switch {
	case a.Connection == "":
		return gateway.NewError(gateway.CodeInvalidArgument, "Call list_connections to see the connections you may use", "argument \"connection\" is required")
	case strings.TrimSpace(a.SQL) == "":
		return gateway.NewError(gateway.CodeInvalidArgument, hint, "argument \"sql\" is empty")
	case len(a.SQL) > limits.MaxSQLBytes:
		return gateway.NewError(gateway.CodeInvalidArgument, "Send a shorter statement",
			"the SQL is %d bytes, over this Warden's limit of %d bytes", len(a.SQL), limits.MaxSQLBytes)
	case !utf8.ValidString(a.SQL):
		return gateway.NewError(gateway.CodeInvalidArgument, hint, "the SQL is not valid UTF-8 text")
	case strings.ContainsRune(a.SQL, 0):
		return gateway.NewError(gateway.CodeInvalidArgument, "Remove the NUL byte", "the SQL contains a NUL byte (at byte %d): SQL text cannot contain NUL", strings.IndexByte(a.SQL, 0))
	case a.MaxRows != nil && *a.MaxRows < 1:
		return gateway.NewError(gateway.CodeInvalidArgument, hint, "argument \"max_rows\" must be at least 1, got %d", *a.MaxRows)
	}
	return nil
}

// collect streams rows through the masker into a bounded result. It reads
// at most maxRows+1 rows: the extra one only tells whether there were more.
func collect(ctx context.Context, gr *gateway.Grant, connection string, rows connectors.Rows, maxRows int) (*QueryResult, error) {
	defer rows.Close()
	cols := rows.Columns()
	mcols := make([]masking.Column, len(cols))
	for i, c := range cols {
		mcols[i] = masking.Column{Name: c.Name, Type: c.Type, TableOID: c.TableOID, Attribute: c.Attribute}
	}
	masker, err := gr.Masker(ctx, mcols)
	if err != nil {
		return nil, err
	}
	if masker == nil {
		masker = masking.Noop()
	}
	res := &QueryResult{Connection: connection, Columns: cols, Rows: make([][]any, 0, min(maxRows, 256)), MaxRows: maxRows}
	if res.Columns == nil {
		res.Columns = []connectors.Column{}
	}
	// One backing array for all cells keeps allocation per row low.
	var cells []any
	for rows.Next() {
		if len(res.Rows) == maxRows {
			res.Truncated = true
			break
		}
		vals := rows.Values()
		masker.MaskRow(vals)
		if len(cells) < len(vals) {
			// Grow geometrically: a one-row result allocates one small block.
			n := min(max(8, 2*len(res.Rows)), maxRows+1, 1024)
			cells = make([]any, len(vals)*n)
		}
		row := cells[:len(vals):len(vals)]
		cells = cells[len(vals):]
		copy(row, vals)
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	res.RowCount = len(res.Rows)
	res.CommandTag = rows.Tag()
	if res.Truncated {
		res.CommandTag = ""
	}
	res.Masked = masker.Summary()
	return res, nil
}
