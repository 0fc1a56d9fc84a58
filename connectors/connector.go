package connectors

import (
	"context"
	"errors"
	"time"

	"github.com/wardenhq/warden/config"
)

// Connector is the contract every target kind satisfies.
type Connector interface {
	// Info describes the target. It must not block.
	Info() Info
	// Ping checks that the target is reachable with the configured
	// credential. It must honour ctx's deadline.
	Ping(ctx context.Context) error
	// Close releases every resource; calls after Close fail with ErrClosed.
	// Close must be safe to call more than once.
	Close() error
}

// SQL is implemented by database connectors.
type SQL interface {
	Connector
	// Query runs one statement and streams its result. When req.ReadOnly is
	// set, the connector must make writes impossible on its own (a
	// read-only transaction or a read-only handle), whatever the SQL says.
	// The statement must be bounded by req.Timeout. The caller must Close
	// the returned Rows; Close ends the transaction (rolled back when
	// read-only or on error).
	Query(ctx context.Context, req QueryRequest) (Rows, error)
	// Describe lists schemas, tables and columns. Objects for which
	// req.Visible returns false must not appear.
	Describe(ctx context.Context, req DescribeRequest) (DescribeResponse, error)
}

// Info describes a connection.
type Info struct {
	Name   string
	Kind   string
	Labels map[string]string
	// Target is a human description ("127.0.0.1:5432/app"), never a secret.
	Target string
}

// Credential is what a query runs as. The pipeline's mint stage produces
// it; Mode "static" means the connection's configured credential.
type Credential struct {
	Mode     string // "static" or "jit"
	User     string
	Password config.Secret
	Lease    string
}

// QueryRequest is one statement to run.
type QueryRequest struct {
	SQL        string
	ReadOnly   bool
	Timeout    time.Duration
	Credential Credential
	// Gate, when set, must be called, and must return nil, before the
	// statement is sent to the target; its error is returned as is. The
	// pipeline uses it to commit the audit intent while the connector
	// prepares (acquires a connection, opens the transaction).
	Gate func(ctx context.Context) error
}

// Column describes one result column.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// TableOID and Attribute identify the source column when the target
	// reports it (PostgreSQL's RowDescription); zero otherwise.
	TableOID  uint32 `json:"-"`
	Attribute uint16 `json:"-"`
}

// Rows is a stream of result rows. Values are JSON-friendly: nil, bool,
// int64, float64, string, json.Number or json.RawMessage.
type Rows interface {
	Columns() []Column
	// Next advances to the next row; false at the end or on error.
	Next() bool
	// Values returns the current row. The slice is reused by Next.
	Values() []any
	// Err returns the error that ended the stream, if any.
	Err() error
	// Tag is the command tag ("SELECT 3", "UPDATE 2") once the stream ended.
	Tag() string
	// Close stops the stream early or finishes it; it returns the error
	// of ending the statement or transaction. Safe to call twice.
	Close() error
}

// DescribeRequest selects what to describe. Empty fields mean all.
type DescribeRequest struct {
	Schema string
	Table  string
	// Visible filters objects; nil means everything is visible.
	Visible func(schema, table string) bool
}

// DescribeResponse lists tables and their columns.
type DescribeResponse struct {
	Tables []Table `json:"tables"`
}

// Table is one table or view.
type Table struct {
	Schema  string        `json:"schema"`
	Name    string        `json:"name"`
	Kind    string        `json:"kind"` // "table", "view", "materialized view", ...
	Columns []TableColumn `json:"columns"`
}

// TableColumn is one column of a table.
type TableColumn struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
}

// Errors shared by connectors; callers branch on them with errors.Is.
var (
	ErrClosed      = errors.New("connector closed")
	ErrUnavailable = errors.New("target unavailable")
	ErrTimeout     = errors.New("statement timed out")
	ErrReadOnly    = errors.New("write refused in a read-only transaction")
)

// TargetError is an error reported by the target itself (a SQL error),
// safe to show to the agent.
type TargetError struct {
	Code    string // SQLSTATE or driver code
	Message string
	Detail  string
	Hint    string
	err     error
}

func (e *TargetError) Error() string {
	s := e.Message
	if e.Code != "" {
		s += " (SQLSTATE " + e.Code + ")"
	}
	return s
}

// Unwrap returns the sentinel the error maps to, if any.
func (e *TargetError) Unwrap() error { return e.err }

// NewTargetError builds a TargetError that also matches sentinel.
func NewTargetError(code, msg, detail, hint string, sentinel error) *TargetError {
	return &TargetError{Code: code, Message: msg, Detail: detail, Hint: hint, err: sentinel}
}
