package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"

	"github.com/wardenhq/warden/config"
)

// Effect is what a decision lets happen.
type Effect string

// Effects, from most to least restrictive.
const (
	Deny   Effect = "deny"
	Review Effect = "review"
	Allow  Effect = "allow"
)

// Connection is what policy knows of a target.
type Connection struct {
	Name   string
	Kind   string
	Labels map[string]string
	// Namespace is where an unqualified resource name lives on the target
	// (PostgreSQL's "public", SQLite's "main"): what an unqualified
	// pattern of a rule (tables: {read: [orders]}) means there.
	Namespace string
}

// Input is one request to decide.
type Input struct {
	Subject    string
	Groups     []string
	Connection Connection
	Tool       string
	// Transport is how the call reached Warden: stdio, http, or a wire
	// proxy (postgres-proxy).
	Transport string
	// Statement is the SQL or command, when the tool carries one, and
	// Facts what the connector's classifier learned of it (nil: no
	// statement).
	Statement string
	Facts     *Facts
	// Time is when the request is decided (zero: now).
	Time time.Time
}

// Decision is the outcome of Decide.
type Decision struct {
	Effect Effect
	// Rule is the name of the rule that made the decision; empty for the
	// default deny.
	Rule string
	// Reason explains the decision in words an agent can act on.
	Reason string
	// Hint, for a statement a rule refused, says how to proceed when the
	// refusal points one way (send one statement per call); empty for
	// every other decision.
	Hint string

	// Constraints, meaningful for allow and review.
	ReadOnly bool
	MaxRows  int // 0: the configured default applies
	Timeout  time.Duration
	// Read and Write are the rule's resource scopes (globs; for SQL its
	// tables: read and write); empty means unrestricted. describe_schema
	// shows only readable tables.
	Read  []string
	Write []string
	// GrantRole, if set, is the existing role a just-in-time credential
	// becomes a member of, instead of table grants.
	GrantRole string
	// GrantPrincipal, for an ssh connection, is the remote user the
	// certificate names (the rule's grants.principal; empty: the
	// connection's only principal). GrantPTY lets it ask for a pty.
	GrantPrincipal string
	GrantPTY       bool
	// Masking names the masking profile applied to the call's results
	// (the rule's masking:); empty means none.
	Masking string
	// Approvers, for review: who may approve the held call (the rule's
	// approvers; empty when it names none).
	Approvers config.Approvers
	// RevealSecrets, for Kubernetes, lets the call see Secret values
	// (the rule's kubernetes: reveal_secrets); otherwise they are masked.
	// MaskConfigMapKeys are the globs of namespace/name/key of the
	// ConfigMap keys masked in what the call sees (the rule's
	// kubernetes: mask_configmap_keys).
	RevealSecrets     bool
	MaskConfigMapKeys []string

	// Trace says, for every rule in order, whether it matched and, if it
	// did not apply, why (for explain).
	Trace []RuleTrace
}

// RuleTrace is one rule's part in a decision.
type RuleTrace struct {
	Rule    string `json:"rule"`
	Effect  Effect `json:"effect"`
	Matched bool   `json:"matched"`
	// Admitted is false when the rule matched but its constraints do not
	// admit the statement; Why says which.
	Admitted bool   `json:"admitted"`
	Why      string `json:"why,omitempty"`
	// hint goes with Why: Decision.Hint.
	hint string
}

// Allowed reports whether the call may run without a human.
func (d Decision) Allowed() bool { return d.Effect == Allow }

// Matched lists the rules that matched, in file order.
func (d Decision) Matched() []string {
	var out []string
	for _, t := range d.Trace {
		if t.Matched {
			out = append(out, t.Rule)
		}
	}
	return out
}

// Visible reports whether the decision lets the caller see the table
// namespace.name of a connection whose default namespace is def.
func (d Decision) Visible(def, namespace, name string) bool {
	if len(d.Read) == 0 {
		return true
	}
	return matchTable(compileTablePatterns(d.Read), namespace, name, def) ||
		matchTable(compileTablePatterns(d.Write), namespace, name, def)
}

// Engine holds compiled rules. It is immutable and safe for concurrent use.
type Engine struct {
	rules   []rule
	version string
	// reviewTools are the tools an allow turns into a review for,
	// unless the allowing rule lists the tool by name.
	reviewTools set
}

// Option changes how Compile compiles.
type Option func(*Engine)

// ReviewByDefault makes tools held for review by default (kubectl_delete):
// a call an allow rule admits is reviewed instead, unless that rule lists
// the tool by name in its tools:. A deny still denies, and a review
// rule reviews.
func ReviewByDefault(tools ...string) Option {
	return func(e *Engine) {
		if e.reviewTools == nil {
			e.reviewTools = set{}
		}
		for _, t := range tools {
			e.reviewTools[t] = struct{}{}
		}
	}
}

type rule struct {
	texts *reasonCache
	config.Rule
	identities set
	groups     set
	names      set
	tools      set
	when       cel.Program
	readOnly   bool
	kinds      set      // statement kinds admitted (read and write with the Kubernetes verbs they stand for)
	kindNames  []string // the kinds as the rule names them, sorted, for reasons
	read       []tablePattern
	write      []tablePattern
	commands   *commandList // nil: any program
	kube       *kubeScope   // nil: any namespace and resource
	allowRisks set          // the risks the rule admits (kubernetes: allow_risks)
}

type set map[string]struct{}

func newSet(list []string) set {
	if len(list) == 0 {
		return nil
	}
	s := make(set, len(list))
	for _, v := range list {
		s[v] = struct{}{}
	}
	return s
}

func (s set) has(v string) bool { _, ok := s[v]; return ok }

// Compile checks and compiles the rules of cfg: tool names against tools,
// `when` conditions type-checked. Errors carry the rule's file and line.
func Compile(cfg *config.Config, tools []string, opts ...Option) (*Engine, error) {
	env, err := newCELEnv()
	if err != nil {
		return nil, fmt.Errorf("policy: CEL environment: %w", err)
	}
	known := newSet(tools)
	var errs config.Errors
	e := &Engine{}
	for _, o := range opts {
		o(e)
	}
	for i, r := range cfg.Rules {
		p := fmt.Sprintf("rules[%d]", i)
		for j, t := range r.Tools {
			if !known.has(t) {
				errs = append(errs, cfg.Errorf(fmt.Sprintf("%s.tools[%d]", p, j), "rules[%d].tools: unknown tool %q (known: %v)", i, t, tools))
			}
		}
		cr := rule{
			texts:      &reasonCache{m: map[reasonKey]string{}},
			Rule:       r,
			identities: newSet(r.Subjects.Identities),
			groups:     newSet(r.Subjects.Groups),
			names:      newSet(r.Connections.Names),
			tools:      newSet(r.Tools),
			readOnly:   r.ReadOnly == nil || *r.ReadOnly,
			read:       compileTablePatterns(r.Tables.Read),
			write:      compileTablePatterns(r.Tables.Write),
			commands:   compileCommands(r.Commands),
			kube:       compileKubeScope(r.Kubernetes),
		}
		if r.Kubernetes != nil {
			cr.allowRisks = newSet(r.Kubernetes.AllowRisks)
		}
		kinds := r.Statements
		if len(kinds) == 0 {
			kinds = []string{KindRead}
			if !cr.readOnly {
				kinds = append(kinds, KindWrite)
			}
		}
		cr.kinds = newSet(expandKinds(kinds))
		cr.kindNames = slices.Sorted(maps.Keys(newSet(kinds)))
		if strings.TrimSpace(r.When) != "" {
			prg, err := compileWhen(env, r.When)
			if err != nil {
				errs = append(errs, cfg.Errorf(p+".when", "rule %q: when: %v", r.Name, oneLine(err.Error())))
			}
			cr.when = prg
		}
		e.rules = append(e.rules, cr)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	canon, err := json.Marshal(cfg.Rules)
	if err != nil {
		return nil, fmt.Errorf("policy version: %w", err)
	}
	sum := sha256.Sum256(canon)
	e.version = hex.EncodeToString(sum[:8])
	return e, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Version identifies the rule set; it changes whenever a rule does.
func (e *Engine) Version() string { return e.version }

// Decide evaluates in against the rules. See the package documentation for
// the evaluation order. An error (a condition that cannot be evaluated)
// must be treated as a denial.
func (e *Engine) Decide(_ context.Context, in Input) (Decision, error) {
	// The CEL variables are built for the first rule with a when, if any.
	var vars map[string]any
	trace := make([]RuleTrace, 0, len(e.rules))
	var deny, review, allow *rule
	var refusal *RuleTrace // the first matching rule that did not admit the statement
	for i := range e.rules {
		r := &e.rules[i]
		t := RuleTrace{Rule: r.Name, Effect: Effect(r.Effect)}
		matched, why, err := r.matches(in, &vars)
		if err != nil {
			return Decision{Effect: Deny, Rule: r.Name, Trace: trace}, fmt.Errorf("policy: rule %q: when: %w", r.Name, err)
		}
		t.Matched, t.Why = matched, why
		if matched {
			switch Effect(r.Effect) {
			case Deny:
				t.Admitted = true
				if deny == nil {
					deny = r
				}
			case Review, Allow:
				t.Admitted, t.Why, t.hint = r.admit(in)
				if !t.Admitted {
					break
				}
				if Effect(r.Effect) == Review && review == nil {
					review = r
				}
				if Effect(r.Effect) == Allow && allow == nil {
					allow = r
				}
			default:
				return Decision{Effect: Deny, Trace: trace}, fmt.Errorf("policy: rule %q has unknown effect %q", r.Name, r.Effect)
			}
		}
		trace = append(trace, t)
		if matched && !t.Admitted && refusal == nil {
			refusal = &trace[len(trace)-1]
		}
	}
	switch {
	case deny != nil:
		reason := deny.Message
		if reason == "" {
			reason = fmt.Sprintf("rule %q denies %s on connection %q", deny.Name, in.Tool, in.Connection.Name)
		}
		return Decision{Effect: Deny, Rule: deny.Name, Reason: reason, Trace: trace}, nil
	case review != nil:
		return review.decision(Review, in, trace), nil
	case allow != nil:
		if e.reviewTools.has(in.Tool) && !allow.tools.has(in.Tool) {
			d := allow.decision(Review, in, trace)
			d.Reason = fmt.Sprintf("%s is held for review by default: rule %q allows it without naming %s in its tools", in.Tool, allow.Name, in.Tool)
			return d, nil
		}
		return allow.decision(Allow, in, trace), nil
	case refusal != nil:
		return Decision{Effect: Deny, Rule: refusal.Rule, Reason: refusal.Why, Hint: refusal.hint, Trace: trace}, nil
	}
	return Decision{
		Effect: Deny,
		Reason: fmt.Sprintf("no rule allows %s to use %s on connection %q (Warden denies by default)", in.Subject, in.Tool, in.Connection.Name),
		Trace:  trace,
	}, nil
}

func (r *rule) decision(effect Effect, in Input, trace []RuleTrace) Decision {
	reason := r.Message
	if reason == "" {
		reason = r.reason(effect, in.Tool, in.Connection.Name)
	}
	d := Decision{
		Effect:         effect,
		Rule:           r.Name,
		Reason:         reason,
		ReadOnly:       r.readOnly,
		MaxRows:        r.MaxRows,
		Timeout:        r.Timeout,
		Read:           r.Tables.Read,
		Write:          r.Tables.Write,
		GrantRole:      r.Grants.Role,
		GrantPrincipal: r.Grants.Principal,
		GrantPTY:       r.Grants.PTY,
		Masking:        r.Masking,
		Approvers:      r.Approvers,
		Trace:          trace,
	}
	if k := r.Kubernetes; k != nil {
		d.RevealSecrets, d.MaskConfigMapKeys = k.RevealSecrets, k.MaskConfigMapKeys
	}
	return d
}

// reasonCache keeps a rule's reason texts ("rule "x" allows run_query on
// connection "db""), which a busy proxy would otherwise format anew for
// every statement.
type reasonCache struct {
	mu sync.Mutex
	m  map[reasonKey]string
}

type reasonKey struct {
	effect           Effect
	tool, connection string
}

// reason returns the rule's reason for effect on tool and connection.
func (r *rule) reason(effect Effect, tool, connection string) string {
	k := reasonKey{effect, tool, connection}
	r.texts.mu.Lock()
	defer r.texts.mu.Unlock()
	if s, ok := r.texts.m[k]; ok {
		return s
	}
	s := fmt.Sprintf("rule %q %ss %s on connection %q", r.Name, effect, tool, connection)
	if len(r.texts.m) < 1024 { // bounded: connections and tools are configured, but be safe
		r.texts.m[k] = s
	}
	return s
}

// matches reports whether the rule applies to the request (subjects,
// connections, tools, when), and if not, why.
func (r *rule) matches(in Input, vars *map[string]any) (bool, string, error) {
	if r.tools != nil && !r.tools.has(in.Tool) {
		return false, "tool " + in.Tool + " not listed", nil
	}
	if r.names != nil && !r.names.has(in.Connection.Name) {
		return false, "connection " + in.Connection.Name + " not listed", nil
	}
	for k, v := range r.Connections.Labels {
		if got, ok := in.Connection.Labels[k]; !ok || got != v {
			return false, fmt.Sprintf("connection label %s is not %q", k, v), nil
		}
	}
	if r.identities != nil || r.groups != nil {
		ok := r.identities.has(in.Subject)
		for _, g := range in.Groups {
			ok = ok || r.groups.has(g)
		}
		if !ok {
			return false, "subject not listed", nil
		}
	}
	if r.when != nil {
		if *vars == nil {
			*vars = activation(in)
		}
		out, _, err := r.when.Eval(*vars)
		if err != nil {
			return false, "", err
		}
		if b, ok := out.Value().(bool); !ok || !b {
			return false, "when is false", nil
		}
	}
	return true, "", nil
}

// Hints of the refusals that point one way.
const (
	hintOneStatement = "Send one statement per call"
	hintCommands     = "Rewrite the command line with only the programs, subcommands and flags the rule admits"
)

// admit checks the statement against the rule's constraints. It returns
// the reason, worded for the agent, when they do not admit it, and a
// hint when the reason points one way.
func (r *rule) admit(in Input) (ok bool, why, hint string) {
	f := in.Facts
	if f == nil {
		return true, "", ""
	}
	// One statement per call is SQL's rule; a command line's commands
	// run as one, and a manifest's objects are applied one by one, each
	// decided as a part.
	if n := len(f.Parts); n > 1 && !f.CommandLine && !f.Kubernetes && !r.MultiStatement {
		return false, fmt.Sprintf("rule %q admits one statement per call, and the SQL holds %d statements", r.Name, n), hintOneStatement
	}
	if r.commands != nil && !f.CommandLine {
		return false, fmt.Sprintf("rule %q lists the commands it admits, so it admits only command lines", r.Name), ""
	}
	if r.kube != nil && !f.Kubernetes {
		return false, fmt.Sprintf("rule %q scopes Kubernetes resources, so it admits only Kubernetes requests", r.Name), ""
	}
	def := in.Connection.Namespace
	for _, st := range f.Parts {
		for _, k := range st.Kinds {
			switch k {
			case KindTransaction:
				return false, fmt.Sprintf("%s is transaction control, which is never allowed: every call runs in its own transaction", st.Tag), ""
			case KindSession:
				return false, fmt.Sprintf("%s changes session state, which is never allowed: %s", st.Tag, reasons(st)), ""
			}
			if !r.kinds.has(k) {
				return false, fmt.Sprintf("rule %q admits only %s statements; this %s is %s: %s",
					r.Name, strings.Join(r.kindNames, "/"), st.Tag, article(k), reasons(st)), ""
			}
		}
		for _, t := range st.Written {
			if t.Kind == ResourceTable && len(r.write) > 0 && !matchTable(r.write, t.Namespace, t.Name, def) {
				return false, fmt.Sprintf("rule %q does not allow writing %s.%s (it allows %s)", r.Name, t.Namespace, t.Name, strings.Join(r.Tables.Write, ", ")), ""
			}
		}
		if len(r.read) > 0 {
			for _, t := range st.Read {
				if t.Kind == ResourceTable && !matchTable(r.read, t.Namespace, t.Name, def) && !matchTable(r.write, t.Namespace, t.Name, def) {
					return false, fmt.Sprintf("rule %q does not allow reading %s.%s (it allows %s)", r.Name, t.Namespace, t.Name, strings.Join(r.Tables.Read, ", ")), ""
				}
			}
		}
		if r.commands != nil {
			if ok, why := r.commands.admit(r.Name, st); !ok {
				return false, why, hintCommands
			}
		}
		if ok, why, hint := r.admitKube(f, st); !ok {
			return false, why, hint
		}
	}
	return true, "", ""
}

func reasons(st Part) string {
	if len(st.Reasons) == 0 {
		return st.Kind
	}
	return strings.Join(st.Reasons, "; ")
}

func article(kind string) string {
	switch kind {
	case "utility":
		return "a utility statement"
	case "ddl":
		return "DDL"
	case "dcl":
		return "DCL (roles and privileges)"
	case "privileged": // a shell command's kinds (policy/cmdclass)
		return "privileged"
	case "exec":
		return "an exec (it runs code Warden cannot see)"
	case "network":
		return "a network command"
	case "get", "list", "watch", "create", "update", "patch", "delete", "deletecollection": // Kubernetes verbs (policy/kubeclass)
		return "a " + kind
	}
	return "a " + kind
}

// AllowsWrites reports whether any allow or review rule could let tool run
// with read_only: false (for truthful tool annotations).
func (e *Engine) AllowsWrites(tool string) bool {
	for _, r := range e.rules {
		if Effect(r.Effect) != Deny && !r.readOnly && (r.tools == nil || r.tools.has(tool)) {
			return true
		}
	}
	return false
}
