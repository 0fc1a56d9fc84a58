package policy

import (
	"context"
	"errors"
)

// Facts is what a classifier learned of an operation's statement, in the
// one shape policy reads whatever the target kind: a SQL string's
// statements, a shell line's commands or a Kubernetes request are its
// Parts; what they do are Kinds; what they touch are Resources. The
// classifier is the connector's (policy/sqlclass for SQL); policy never
// parses a statement itself.
type Facts struct {
	// Parts are the statement's parts in order: the statements of a SQL
	// string (one for most calls), the commands of a shell command line.
	Parts []Part
	// CommandLine reports that the parts are the commands of one command
	// line (a shell line's pipelines, lists, loops and substitutions),
	// which the target runs as one unit, in one call. Without it the
	// parts are separate statements (SQL), and a rule admits more than
	// one only with multi_statement: one statement per call is what lets
	// a SQL call run through the extended protocol, in a read-only
	// transaction of its own. With it, the parts carry Args and Wrappers,
	// and they are what a rule's commands: matches.
	CommandLine bool
	// Kubernetes reports that the parts are Kubernetes requests or the
	// objects of a manifest (policy/kubeclass): each part's Kinds are
	// the verbs it may use (get, create, update, ...), its resources'
	// Kind the Kubernetes resource ("pods", "deployments.apps",
	// "pods/log"), and its Risks what it asks for that a rule must name.
	// A rule's kubernetes: scope admits only such facts.
	Kubernetes bool
	// Kinds is the union of every part's Kinds, least severe first; for
	// Kubernetes, each verb's class (read or write) comes before the
	// verbs of that class, so that 'write' in statement.kinds holds for
	// any write.
	Kinds []string
	// Risks is the union of the parts' Risks, in the classifier's order.
	Risks []string
	// Read and Written are the distinct unions of the parts' resources,
	// sorted by Text.
	Read, Written []Resource
	// Functions is every function called, sorted, without duplicates.
	Functions []string
	// ReadOnly is true only if every part is a pure read (and there is one
	// at least).
	ReadOnly bool
	// Canonical, when the classifier sets it, is the statement written
	// anew from its parse: what must run in place of the caller's text,
	// so that the target runs exactly what was classified (a shell
	// command line re-quoted from its tokens). Empty: the text runs as
	// sent (SQL, which the target parses as the classifier did).
	Canonical string
}

// Part is one statement (or command, or request) of an operation.
type Part struct {
	// Kind is the most severe kind the part shows; Kinds every kind it
	// shows, least severe first.
	Kind  string
	Kinds []string
	// Tag names the part ("SELECT", "INSERT", "CREATE TABLE"); for a
	// command, the base name of the program that runs in the end, past
	// its wrappers and its path ("rm" for sudo timeout 5 /bin/rm x).
	Tag string
	// Foreign, for a command, says the program was named by a path
	// outside the system's directories (/tmp/rm, ./rm, /bin/../bin/rm):
	// whatever it is, it is not surely the program Tag names.
	Foreign bool
	// Args, for a command, are the arguments the program Tag runs with,
	// after its wrappers' own (sudo -u root systemctl status: status).
	// Empty for SQL.
	Args []Arg
	// Wrappers, for a command, are the programs Tag runs through,
	// outermost first, each with its own arguments and not the ones of
	// the program it runs (sudo -u root timeout 5 ls: sudo with -u root,
	// then timeout with 5). Empty for SQL.
	Wrappers []Command
	// Read and Written are the resources whose content the part reads
	// and changes.
	Read, Written []Resource
	// Functions the part calls.
	Functions []string
	// Reasons say why the part is not a plain read; empty for one.
	Reasons []string
	// Risks, for a Kubernetes object or request, are what it asks for
	// beyond its verb: host access, more rights, a Secret, an RBAC
	// object ("privileged", "host-path", "rbac", ...). An allow or
	// review rule admits a part with risks only if its kubernetes:
	// allow_risks names every one: fail closed.
	Risks []string
	// Offset and Length locate the part in the statement's text, in bytes.
	Offset, Length int
}

// Command is a program run with arguments: a wrapper of a Part.
type Command struct {
	// Program is the program's base name (sudo, not /usr/bin/sudo);
	// Foreign as Part.Foreign.
	Program string
	Foreign bool
	Args    []Arg
}

// Arg is one argument of a command, as far as the classifier knows it.
type Arg struct {
	// Text is the argument: exactly what the program gets when Exact;
	// otherwise the word with what only the host knows as written
	// ($HOME/x, $(…), the * ? [...] of a pattern).
	Text string
	// Exact says Text is exactly what the program gets.
	Exact bool
	// MaybeFlag, for an argument that is not Exact, says it may begin
	// with '-' on the host (a command substitution, a word beginning
	// with '-' that holds a variable), and so may be any flag. An
	// inexact argument without it surely does not (a pattern, which the
	// classifier admits only after literal text, and $HOME/x).
	MaybeFlag bool
}

// Resource is something an operation reads or changes.
type Resource struct {
	// Kind is what it is: ResourceTable, ResourceFile.
	Kind string
	// Namespace and Name locate it, unquoted: a table's schema and name.
	// The classifier resolves an unqualified name to the connection's
	// default namespace.
	Namespace string
	Name      string
	// Text is the name as the classifier reports it, as written in the
	// statement ("orders", "sales.orders", "\"My Table\""): what a rule's
	// `when` sees in statement.tables_read.
	Text string
}

// Resource kinds.
const (
	// ResourceTable is a table, view or other relation of a SQL database;
	// rules scope it with tables: {read, write}.
	ResourceTable = "table"
	// ResourceFile is a file on a host, named by its path (path.Clean'd;
	// a relative path is relative to the command's working directory);
	// rules test it in statement.read and statement.written.
	ResourceFile = "file"
)

// A Kubernetes resource's Kind is the resource itself, plural, with its
// group unless it is the core group ("pods", "deployments.apps", for a
// subresource "pods/log"); Namespace is "" for a cluster-scoped object
// or a request across every namespace; Name is "" for a collection; Text
// is namespace/resource/name.

// Kinds of statements every classifier reports in. A classifier may add
// kinds of its own; rules name them in statements: and `when`.
const (
	KindRead        = "read"
	KindWrite       = "write"
	KindTransaction = "transaction"
	KindSession     = "session"
)

// texts returns the Text of every resource of kind.
func texts(rs []Resource, kind string) []string {
	var out []string
	for _, r := range rs {
		if r.Kind == kind {
			out = append(out, r.Text)
		}
	}
	return out
}

// Classifier learns what a statement does. Each target kind has its own,
// chosen by its connector (policy/sqlclass for SQL); policy knows none of
// them.
type Classifier interface {
	// Classify reports what req.Statement does. An error means the
	// statement must be refused: it cannot be parsed or fully understood,
	// it is longer than req.MaxBytes, or a catalog look-up failed. It is
	// never returned for a statement that is merely not read-only.
	Classify(ctx context.Context, req ClassifyRequest) (Facts, error)
	// Namespace is where the classifier resolves unqualified names (a
	// SQL connection's default schema), and so what an unqualified pattern
	// of a rule means on the connection.
	Namespace() string
}

// ErrNotUnderstood matches every classifier error that refuses a
// statement the classifier cannot parse or vouch for (as opposed to a
// technical failure, such as a catalog look-up that could not be made).
// Either way the statement must be refused.
var ErrNotUnderstood = errors.New("policy: statement not understood")

// ErrSyntax matches the classifier errors of a statement that does not
// parse at all (a client's mistake, not a construct Warden refuses). It
// matches ErrNotUnderstood too.
var ErrSyntax = errors.New("policy: syntax error")

// ClassifyRequest is one statement to classify.
type ClassifyRequest struct {
	Statement string
	// MaxBytes bounds the statement's length (0: the classifier's default).
	MaxBytes int
	// Namespace, for a Kubernetes manifest, is where objects that name no
	// namespace go (the call's namespace); empty: the classifier's
	// Namespace.
	Namespace string
}
