package connectors

import (
	"context"
	"crypto"
	"errors"
	"io"
	"net/url"
	"time"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/policy"
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

// Capability is a kind of operation a connector can carry out. Each is an
// interface below; a connector declares one by implementing it, and the
// tools that need it are offered on its connections.
type Capability string

// Capabilities.
const (
	// CapSQL: SQL statements and schema descriptions (SQL).
	CapSQL Capability = "sql"
	// CapExec: commands run on a host (Exec).
	CapExec Capability = "exec"
	// CapKube: requests to a Kubernetes API server (KubeAPI).
	CapKube Capability = "kube"
)

// Capabilities lists what c can do.
func Capabilities(c Connector) []Capability {
	var out []Capability
	for _, k := range []Capability{CapSQL, CapExec, CapKube} {
		if Has(c, k) {
			out = append(out, k)
		}
	}
	return out
}

// Has reports whether c has capability k.
func Has(c Connector, k Capability) bool {
	var ok bool
	switch k {
	case CapSQL:
		_, ok = c.(SQL)
	case CapExec:
		_, ok = c.(Exec)
	case CapKube:
		_, ok = c.(KubeAPI)
	}
	return ok
}

// Classifying is a connector whose operations carry a statement (SQL, a
// command line) that policy must see classified.
type Classifying interface {
	// Classifier is the classifier of the connection's statements: its
	// grammar, looking up in the target's catalog what is not built in.
	// The gateway classifies every statement with it before policy
	// decides. It must not block and must be safe for concurrent use.
	Classifier() policy.Classifier
}

// SQL is the capability of database connectors.
type SQL interface {
	Connector
	Classifying
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

// Exec is the capability of hosts that run commands (SSH).
type Exec interface {
	Connector
	Classifying
	// Exec runs one command as req.Credential and streams its output to
	// req.Stdout and req.Stderr as it arrives (the caller masks and caps
	// it). It must call req.Gate, and get nil, before the command reaches
	// the host, and return its error unchanged. req.Timeout bounds the
	// command: when it passes, the remote process is ended and the result
	// says so (TimedOut) with ErrTimeout. A command that ran and exited
	// with a non-zero status is a result, not an error.
	Exec(ctx context.Context, req ExecRequest) (ExecResult, error)
}

// ExecRequest is one command to run.
type ExecRequest struct {
	// Command is the command line as the host's shell must run it:
	// re-quoted from the classifier's parse, never a caller's raw text.
	Command    string
	Timeout    time.Duration
	Credential Credential
	// PTY asks for a pseudo-terminal (only when the decision allows one);
	// Terminal, when set, says which (type, size, modes), else an 80x24
	// xterm that does not echo.
	PTY      bool
	Terminal *Terminal
	// Shell runs the account's login shell, interactive, instead of
	// Command; Subsystem, when set, starts that subsystem ("sftp")
	// instead. Both are only for sessions a policy decision admitted as
	// such (the wire proxy's shell and subsystem operations).
	Shell     bool
	Subsystem string
	// Env are environment variables to pass; the host sets those its own
	// configuration accepts (sshd's AcceptEnv) and ignores the rest.
	Env map[string]string
	// Control, when set, carries the client's window changes and signals
	// to the running command until the call returns.
	Control <-chan Control
	// Stdin, when set, is the command's input.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Gate, when set, must be called, and must return nil, before the
	// command is sent; see QueryRequest.Gate.
	Gate func(ctx context.Context) error
}

// KubeAPI is the capability of Kubernetes clusters: resources resolved
// through the cluster's discovery, and API requests sent as a credential.
type KubeAPI interface {
	Connector
	// ResolveName resolves a resource as a user types it ("po", "pods",
	// "deploy", "deployments.apps", "Pod") through the cluster's
	// discovery (cached). An unknown name is an error naming it.
	ResolveName(ctx context.Context, name string) (KubeResource, error)
	// ResolveKind resolves a manifest's apiVersion and kind.
	ResolveKind(ctx context.Context, apiVersion, kind string) (KubeResource, error)
	// Kube sends one request to the API server as req.Credential. It must
	// call req.Gate, and get nil, before anything of the request reaches
	// the server, and return its error unchanged. A response with an
	// error status is a *TargetError whose Code is the Status reason
	// ("NotFound", "Forbidden") and whose Message is the server's; the
	// body of a success is returned (or streamed to req.Output).
	Kube(ctx context.Context, req KubeRequest) (KubeResponse, error)
}

// KubeResource is an API resource as discovery describes it.
type KubeResource struct {
	Group, Version string
	// Resource is the plural resource name ("pods"); Kind the object kind
	// ("Pod").
	Resource, Kind string
	Namespaced     bool
}

// GroupResource is the resource as RBAC names it: "pods",
// "deployments.apps".
func (r KubeResource) GroupResource() string {
	if r.Group == "" {
		return r.Resource
	}
	return r.Resource + "." + r.Group
}

// KubeRequest is one API request.
type KubeRequest struct {
	// Verb is the request's API verb: get, list, create, patch, delete.
	Verb        string
	Resource    KubeResource
	Namespace   string
	Name        string
	Subresource string
	// Query are the request's parameters (labelSelector, dryRun, ...).
	Query url.Values
	// Accept is the response media type wanted (default JSON);
	// ContentType the body's (a patch's type).
	Accept, ContentType string
	Body                []byte
	Credential          Credential
	Timeout             time.Duration
	// Output, when set, receives the response body of a success as it
	// streams (logs) instead of KubeResponse.Body.
	Output io.Writer
	// MaxBytes bounds the body read into KubeResponse.Body (0: 64 MiB).
	MaxBytes int64
	// Gate, when set, must be called, and must return nil, before the
	// request is sent; see QueryRequest.Gate.
	Gate func(ctx context.Context) error
}

// KubeResponse is the answer to a KubeRequest.
type KubeResponse struct {
	Status int
	Body   []byte
	// Warnings are the server's Warning headers.
	Warnings []string
}

// Terminal is a pseudo-terminal as a client asked for it.
type Terminal struct {
	Term          string // TERM ("xterm-256color")
	Width, Height int    // columns, rows
	// Modes are the encoded terminal modes (RFC 4254 section 8: opcode
	// to value); nil keeps the host's defaults.
	Modes map[uint8]uint32
}

// Control is one event for a running command: a window change or a
// signal ("INT", "TERM": RFC 4254's names, without "SIG").
type Control struct {
	Width, Height int // a window change when Width > 0
	Signal        string
}

// ExecResult is how a command ended.
type ExecResult struct {
	// ExitStatus is the command's exit status; -1 when it ended by a
	// signal or was ended by Warden.
	ExitStatus int
	// Signal names the signal that ended it ("KILL"), if one did.
	Signal string
	// TimedOut: Warden ended the command at its time limit.
	TimedOut bool
}

// Info describes a connection.
type Info struct {
	Name   string
	Kind   string
	Labels map[string]string
	// Target is a human description ("127.0.0.1:5432/app"), never a secret.
	Target string
}

// Credential is what an operation runs as. The mint stage produces it:
// Mode "static" means the connection's configured credential (no other
// field is set), "jit" one minted for the session, whose Lease names it
// and whose typed part says how it logs in: Password for databases,
// SSHCertificate for hosts, BearerToken for Kubernetes.
type Credential struct {
	Mode           string // "static" or "jit"
	Lease          string
	Password       *Password
	SSHCertificate *SSHCertificate
	BearerToken    *BearerToken
}

// BearerToken is a credential that sends a token (a Kubernetes
// ServiceAccount's, from TokenRequest) in an Authorization header.
type BearerToken struct {
	// Subject is who the token is ("system:serviceaccount:ns:name").
	Subject string
	Token   config.Secret
	Expires time.Time
}

// Credential modes.
const (
	ModeStatic = "static"
	ModeJIT    = "jit"
)

// Static is the credential of a connection's configured identity.
var Static = Credential{Mode: ModeStatic}

// Password is a credential that logs in with a user name and a secret.
type Password struct {
	User   string
	Secret config.Secret
}

// SSHCertificate is a credential that logs in to a host as Principal with
// a key pair made for it and a certificate Warden's user CA signed. The
// private key lives only in memory.
type SSHCertificate struct {
	Principal string
	// Key is the private key of the pair; Certificate the signed
	// certificate, in the authorized_keys wire format.
	Key         crypto.Signer
	Certificate []byte
	// ValidBefore is when the certificate stops logging in.
	ValidBefore time.Time
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
	// CodeName says what Code is in Error's text; empty: SQLSTATE. (A
	// Kubernetes API server's is its Status reason.)
	CodeName string
	err      error
}

func (e *TargetError) Error() string {
	s := e.Message
	if e.Code != "" {
		name := e.CodeName
		if name == "" {
			name = "SQLSTATE"
		}
		s += " (" + name + " " + e.Code + ")"
	}
	return s
}

// Unwrap returns the sentinel the error maps to, if any.
func (e *TargetError) Unwrap() error { return e.err }

// NewTargetError builds a TargetError that also matches sentinel.
func NewTargetError(code, msg, detail, hint string, sentinel error) *TargetError {
	return &TargetError{Code: code, Message: msg, Detail: detail, Hint: hint, err: sentinel}
}
