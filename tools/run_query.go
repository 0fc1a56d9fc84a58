package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/masking"
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

// RunQuery runs one SQL statement through the whole pipeline.
func (p *Pipeline) RunQuery(ctx context.Context, caller Caller, a RunQueryArgs) (*Result, error) {
	if a.raw == nil {
		a.raw, _ = json.Marshal(a)
	}
	o := p.newOp(caller, ToolRunQuery, a.Connection, a.raw, a.SQL)
	if err := p.checkQueryArgs(a); err != nil {
		return nil, o.refuse(ctx, "invalid", err)
	}
	if err := o.authorize(ctx, a.SQL); err != nil {
		return nil, err
	}
	d := o.decision
	maxRows := p.limits.DefaultMaxRows
	if a.MaxRows != nil {
		maxRows = *a.MaxRows
	}
	maxRows = min(maxRows, p.limits.MaxRows)
	if d.MaxRows > 0 {
		maxRows = min(maxRows, d.MaxRows)
	}
	timeout := p.limits.StatementTimeout
	if d.Timeout > 0 {
		timeout = d.Timeout
	}

	sqlConn, ok := o.conn.(connectors.SQL)
	if !ok {
		return nil, o.fail(ctx, newError(CodeInvalidArgument, "Use a tool made for this kind of connection",
			"connection %q (%s) does not run SQL", a.Connection, o.conn.Info().Kind))
	}
	cred, err := p.minter.Mint(ctx, MintRequest{Session: caller.Session, Subject: caller.Principal.Subject, Connection: a.Connection, Decision: d})
	if err != nil {
		return nil, o.fail(ctx, &Error{Code: CodeUnavailable, Message: "no credential could be issued for this call", err: err})
	}
	o.ev.Credential = credentialLabel(cred)

	qctx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	mreq := masking.Request{Subject: caller.Principal.Subject, Groups: caller.Principal.Groups, Connection: a.Connection, Profile: d.Masking, SQL: a.SQL}
	if r, ok := o.conn.(masking.SourceResolver); ok {
		mreq.Sources = r
	}
	rows, err := sqlConn.Query(qctx, connectors.QueryRequest{SQL: a.SQL, ReadOnly: d.ReadOnly, Timeout: timeout, Credential: cred, Gate: o.gate})
	if err != nil {
		return nil, o.fail(ctx, p.maskTargetError(ctx, mreq, err))
	}
	// A connector must call the gate; if one did not, nothing it returns
	// leaves Warden without a durable intent.
	if err := o.gate(ctx); err != nil {
		rows.Close()
		return nil, o.fail(ctx, err)
	}
	res, err := p.collect(ctx, caller, a.Connection, rows, maxRows, mreq)
	if err != nil {
		return nil, o.fail(ctx, p.maskTargetError(ctx, mreq, err))
	}
	res.ReadOnly = d.ReadOnly
	res.ElapsedMs = float64(time.Since(o.start).Microseconds()) / 1000
	o.ev.Rows, o.ev.Truncated, o.ev.Masked = int64(res.RowCount), res.Truncated, res.Masked
	o.succeed(ctx)
	res.AuditID = o.ev.ID
	return &Result{Structured: res, Text: renderQuery(res)}, nil
}

func (p *Pipeline) checkQueryArgs(a RunQueryArgs) *Error {
	hint := "run_query takes {connection, sql, max_rows?, justification?}"
	switch {
	case a.Connection == "":
		return newError(CodeInvalidArgument, "Call list_connections to see the connections you may use", "argument \"connection\" is required")
	case strings.TrimSpace(a.SQL) == "":
		return newError(CodeInvalidArgument, hint, "argument \"sql\" is empty")
	case len(a.SQL) > p.limits.MaxSQLBytes:
		return newError(CodeInvalidArgument, "Send a shorter statement",
			"the SQL is %d bytes, over this Warden's limit of %d bytes", len(a.SQL), p.limits.MaxSQLBytes)
	case !utf8.ValidString(a.SQL) || strings.ContainsRune(a.SQL, 0):
		return newError(CodeInvalidArgument, hint, "the SQL is not valid UTF-8 text")
	case a.MaxRows != nil && *a.MaxRows < 1:
		return newError(CodeInvalidArgument, hint, "argument \"max_rows\" must be at least 1, got %d", *a.MaxRows)
	}
	return nil
}

// collect streams rows through the masker into a bounded result. It reads
// at most maxRows+1 rows: the extra one only tells whether there were more.
func (p *Pipeline) collect(ctx context.Context, caller Caller, connection string, rows connectors.Rows, maxRows int, mreq masking.Request) (*QueryResult, error) {
	defer rows.Close()
	cols := rows.Columns()
	mcols := make([]masking.Column, len(cols))
	for i, c := range cols {
		mcols[i] = masking.Column{Name: c.Name, Type: c.Type, TableOID: c.TableOID, Attribute: c.Attribute}
	}
	mreq.Subject, mreq.Groups, mreq.Connection, mreq.Columns = caller.Principal.Subject, caller.Principal.Groups, connection, mcols
	masker, err := p.masker.For(ctx, mreq)
	if errors.Is(err, masking.ErrRefused) {
		return nil, &Error{Code: CodeDenied, Message: "refused by masking: " + err.Error(), err: err,
			Hint: "Select masked columns as they are (they come back masked), or leave them out"}
	}
	if err != nil {
		return nil, fmt.Errorf("masking: %w", err)
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

// maskTargetError keeps masked values out of a target's error message
// (PostgreSQL quotes the value a cast failed on, even in a WHERE clause).
func (p *Pipeline) maskTargetError(ctx context.Context, req masking.Request, err error) error {
	em, ok := p.masker.(masking.ErrorMasker)
	var tge *connectors.TargetError
	if !ok || !errors.As(err, &tge) {
		return err
	}
	msg, detail, hint := em.MaskError(ctx, req, tge.Code, tge.Message, tge.Detail, tge.Hint)
	return connectors.NewTargetError(tge.Code, msg, detail, hint, errors.Unwrap(tge))
}

// StaticCredentialLabel marks, in every audit event, a call that ran with
// a connection's shared configured credential instead of a just-in-time one.
const StaticCredentialLabel = "static (shared, weaker)"

func credentialLabel(c connectors.Credential) string {
	if c.Lease != "" {
		return c.Lease
	}
	return StaticCredentialLabel
}
