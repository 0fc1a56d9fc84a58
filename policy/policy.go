package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

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
}

// Input is one request to decide.
type Input struct {
	Subject    string
	Groups     []string
	Connection Connection
	Tool       string
	// Statement is the SQL or command, when the tool carries one.
	Statement string
}

// Decision is the outcome of Decide.
type Decision struct {
	Effect Effect
	// Rule is the name of the rule that made the decision; empty for the
	// default deny.
	Rule string
	// Reason explains the decision in words an agent can act on.
	Reason string

	// Constraints, meaningful for allow and review.
	ReadOnly bool
	MaxRows  int // 0: the configured default applies
	Timeout  time.Duration

	// Matched lists every rule that matched, in file order (for explain).
	Matched []string
}

// Allowed reports whether the call may run without a human.
func (d Decision) Allowed() bool { return d.Effect == Allow }

// Engine holds compiled rules. It is immutable and safe for concurrent use.
type Engine struct {
	rules   []rule
	version string
}

type rule struct {
	config.Rule
	identities set
	groups     set
	names      set
	tools      set
	readOnly   bool
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

// Compile checks and compiles the rules of cfg. tools lists the tool names
// the build knows; a rule naming another is an error with its position.
func Compile(cfg *config.Config, tools []string) (*Engine, error) {
	known := newSet(tools)
	var errs config.Errors
	e := &Engine{}
	for i, r := range cfg.Rules {
		for j, t := range r.Tools {
			if !known.has(t) {
				errs = append(errs, cfg.Errorf(fmt.Sprintf("rules[%d].tools[%d]", i, j), "rules[%d].tools: unknown tool %q (known: %v)", i, t, tools))
			}
		}
		ro := true
		if r.ReadOnly != nil {
			ro = *r.ReadOnly
		}
		e.rules = append(e.rules, rule{
			Rule:       r,
			identities: newSet(r.Subjects.Identities),
			groups:     newSet(r.Subjects.Groups),
			names:      newSet(r.Connections.Names),
			tools:      newSet(r.Tools),
			readOnly:   ro,
		})
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

// Version identifies the rule set; it changes whenever a rule does.
func (e *Engine) Version() string { return e.version }

// Decide evaluates in against the rules. See the package documentation for
// the evaluation order.
func (e *Engine) Decide(_ context.Context, in Input) (Decision, error) {
	var deny, review, allow *rule
	var matched []string
	for i := range e.rules {
		r := &e.rules[i]
		if !r.matches(in) {
			continue
		}
		matched = append(matched, r.Name)
		switch Effect(r.Effect) {
		case Deny:
			if deny == nil {
				deny = r
			}
		case Review:
			if review == nil {
				review = r
			}
		case Allow:
			if allow == nil {
				allow = r
			}
		default:
			return Decision{}, fmt.Errorf("policy: rule %q has unknown effect %q", r.Name, r.Effect)
		}
	}
	switch {
	case deny != nil:
		reason := deny.Message
		if reason == "" {
			reason = fmt.Sprintf("rule %q denies %s on connection %q", deny.Name, in.Tool, in.Connection.Name)
		}
		return Decision{Effect: Deny, Rule: deny.Name, Reason: reason, Matched: matched}, nil
	case review != nil:
		return review.decision(Review, in, matched), nil
	case allow != nil:
		return allow.decision(Allow, in, matched), nil
	}
	return Decision{
		Effect:  Deny,
		Reason:  fmt.Sprintf("no rule allows %s to use %s on connection %q (Warden denies by default)", in.Subject, in.Tool, in.Connection.Name),
		Matched: matched,
	}, nil
}

func (r *rule) decision(effect Effect, in Input, matched []string) Decision {
	reason := r.Message
	if reason == "" {
		reason = fmt.Sprintf("rule %q %ss %s on connection %q", r.Name, effect, in.Tool, in.Connection.Name)
	}
	return Decision{
		Effect:   effect,
		Rule:     r.Name,
		Reason:   reason,
		ReadOnly: r.readOnly,
		MaxRows:  r.MaxRows,
		Timeout:  r.Timeout,
		Matched:  matched,
	}
}

func (r *rule) matches(in Input) bool {
	if r.tools != nil && !r.tools.has(in.Tool) {
		return false
	}
	if r.names != nil && !r.names.has(in.Connection.Name) {
		return false
	}
	for k, v := range r.Connections.Labels {
		if got, ok := in.Connection.Labels[k]; !ok || got != v {
			return false
		}
	}
	if r.identities == nil && r.groups == nil {
		return true
	}
	if r.identities.has(in.Subject) {
		return true
	}
	for _, g := range in.Groups {
		if r.groups.has(g) {
			return true
		}
	}
	return false
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
