package config

import (
	"fmt"
	"strings"
	"time"
)

// Rule is one policy rule as written in the file. The policy package
// compiles rules into its own form.
type Rule struct {
	Name        string          `yaml:"name"`
	Description string          `yaml:"description"`
	Subjects    SubjectMatch    `yaml:"subjects"`
	Connections ConnectionMatch `yaml:"connections"`
	Tools       []string        `yaml:"tools"`
	Effect      string          `yaml:"effect"`
	Message     string          `yaml:"message"`
	// ReadOnly defaults to true for allow and review rules: writes must be
	// granted explicitly with read_only: false.
	ReadOnly *bool         `yaml:"read_only"`
	MaxRows  int           `yaml:"max_rows"`
	Timeout  time.Duration `yaml:"timeout"`

	// Line is where the rule starts in the file.
	Line int `yaml:"-"`
}

// SubjectMatch matches callers. Empty lists match everyone.
type SubjectMatch struct {
	Identities []string `yaml:"identities"`
	Groups     []string `yaml:"groups"`
}

// ConnectionMatch matches connections by name and labels. Empty matches all.
type ConnectionMatch struct {
	Names  []string          `yaml:"names"`
	Labels map[string]string `yaml:"labels"`
}

// validateRules checks the rules section.
func (c *Config) validateRules() Errors {
	var errs Errors
	add := func(path, format string, args ...any) { errs = append(errs, c.Errorf(path, format, args...)) }
	rules := map[string]bool{}
	for i := range c.Rules {
		r := &c.Rules[i]
		p := fmt.Sprintf("rules[%d]", i)
		r.Line = c.Pos(p).Line
		switch {
		case r.Name == "":
			add(p, "%s: name is required", p)
		case rules[r.Name]:
			add(p+".name", "%s.name: rule %q is defined twice", p, r.Name)
		}
		rules[r.Name] = true
		if !contains(Effects, r.Effect) {
			add(p+".effect", "%s.effect: expected one of %s, got %q", p, strings.Join(Effects, ", "), r.Effect)
		}
		for j, n := range r.Connections.Names {
			if _, ok := c.Connection(n); !ok {
				add(fmt.Sprintf("%s.connections.names[%d]", p, j), "%s.connections.names: no connection named %q", p, n)
			}
		}
		if r.MaxRows < 0 {
			add(p+".max_rows", "%s.max_rows: must be positive, got %d", p, r.MaxRows)
		}
		if r.Timeout < 0 {
			add(p+".timeout", "%s.timeout: must be positive, got %s", p, r.Timeout)
		}
		if r.Effect == "deny" && (r.ReadOnly != nil || r.MaxRows != 0 || r.Timeout != 0) {
			add(p, "%s: a deny rule takes no read_only, max_rows or timeout", p)
		}
	}
	return errs
}
