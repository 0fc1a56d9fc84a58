package policy

import (
	"fmt"
	"reflect"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
)

// ConnectionVars is `connection` in a rule's `when` expression.
type ConnectionVars struct {
	Name   string            `cel:"name"`
	Kind   string            `cel:"kind"`
	Labels map[string]string `cel:"labels"`
}

// StatementVars is `statement` in a rule's `when` expression: the
// classifier's Facts. For a tool without a statement every list is empty
// and count is 0.
type StatementVars struct {
	Count         int64          `cel:"count"`
	Kinds         []string       `cel:"kinds"`
	Tags          []string       `cel:"tags"`
	TablesRead    []string       `cel:"tables_read"`
	TablesWritten []string       `cel:"tables_written"`
	Read          []ResourceVars `cel:"read"`
	Written       []ResourceVars `cel:"written"`
	Functions     []string       `cel:"functions"`
	ReadOnly      bool           `cel:"read_only"`
	Text          string         `cel:"text"`
	// Commands are the commands of a command line (empty for SQL).
	Commands []CommandVars `cel:"commands"`
	// Risks are what a Kubernetes manifest or request asks for beyond
	// its verbs (privileged, host-path, rbac, ...); empty otherwise.
	Risks []string `cel:"risks"`
}

// CommandVars is one command in statement.commands: the program that
// runs in the end (foreign: named by a path outside the system's
// directories, so not surely that program), its arguments (the text of
// each, an argument known only on the host as written: $HOME/x, $(…))
// and the wrappers it runs through, outermost first, each with its own
// arguments.
type CommandVars struct {
	Program string        `cel:"program"`
	Foreign bool          `cel:"foreign"`
	Args    []string      `cel:"args"`
	Via     []CommandVars `cel:"via"`
}

func commandVars(program string, foreign bool, args []Arg, via []Command) CommandVars {
	c := CommandVars{Program: program, Foreign: foreign, Args: make([]string, len(args)), Via: make([]CommandVars, len(via))}
	for i, a := range args {
		c.Args[i] = a.Text
	}
	for i, w := range via {
		c.Via[i] = commandVars(w.Program, w.Foreign, w.Args, nil)
	}
	return c
}

// ResourceVars is one resource in statement.read and statement.written.
type ResourceVars struct {
	Kind      string `cel:"kind"`
	Namespace string `cel:"namespace"`
	Name      string `cel:"name"`
}

func resourceVars(rs []Resource) []ResourceVars {
	out := make([]ResourceVars, len(rs))
	for i, r := range rs {
		out[i] = ResourceVars{Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}
	}
	return out
}

// newCELEnv declares what a `when` expression can see:
//
//	identity    string            the caller
//	groups      list(string)      the caller's groups
//	tool        string            the tool called
//	transport   string            how the call arrived: stdio, http, postgres-proxy
//	connection  {name, kind, labels}
//	statement   {count, kinds, tags, tables_read, tables_written, read, written, functions, read_only, text, commands, risks}
//	              read, written: list({kind, namespace, name})
//	              commands: list({program, foreign, args, via}), via: the same shape
//	now         timestamp         when the request is decided
func newCELEnv() (*cel.Env, error) {
	return cel.NewEnv(
		ext.NativeTypes(reflect.TypeOf(ConnectionVars{}), reflect.TypeOf(StatementVars{}), reflect.TypeOf(ResourceVars{}), reflect.TypeOf(CommandVars{}), ext.ParseStructTags(true)),
		ext.Strings(),
		cel.Variable("identity", cel.StringType),
		cel.Variable("groups", cel.ListType(cel.StringType)),
		cel.Variable("tool", cel.StringType),
		cel.Variable("transport", cel.StringType),
		cel.Variable("connection", cel.ObjectType("policy.ConnectionVars")),
		cel.Variable("statement", cel.ObjectType("policy.StatementVars")),
		cel.Variable("now", cel.TimestampType),
	)
}

// compileWhen type-checks a condition; it must be a bool.
func compileWhen(env *cel.Env, expr string) (cel.Program, error) {
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	if ast.OutputType() != cel.BoolType {
		return nil, fmt.Errorf("the condition must be a bool, but it is a %s", ast.OutputType())
	}
	return env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.CostLimit(100000))
}

// activation holds the variables of one request.
func activation(in Input) map[string]any {
	st := StatementVars{Text: in.Statement}
	if f := in.Facts; f != nil {
		st.Count = int64(len(f.Parts))
		st.ReadOnly = f.ReadOnly
		st.Kinds = f.Kinds
		for _, s := range f.Parts {
			st.Tags = append(st.Tags, s.Tag)
		}
		st.TablesRead, st.TablesWritten = texts(f.Read, ResourceTable), texts(f.Written, ResourceTable)
		st.Read, st.Written, st.Functions = resourceVars(f.Read), resourceVars(f.Written), f.Functions
		st.Risks = f.Risks
		if f.CommandLine {
			for _, p := range f.Parts {
				st.Commands = append(st.Commands, commandVars(p.Tag, p.Foreign, p.Args, p.Wrappers))
			}
		}
	}
	now := in.Time
	if now.IsZero() {
		now = time.Now()
	}
	groups := in.Groups
	if groups == nil {
		groups = []string{}
	}
	return map[string]any{
		"identity":   in.Subject,
		"groups":     groups,
		"tool":       in.Tool,
		"transport":  in.Transport,
		"connection": ConnectionVars{Name: in.Connection.Name, Kind: in.Connection.Kind, Labels: nonNil(in.Connection.Labels)},
		"statement":  st,
		"now":        types.Timestamp{Time: now},
	}
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
