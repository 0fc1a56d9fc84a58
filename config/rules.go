package config

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
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
	// When is an optional CEL condition over the request; the rule
	// matches only if it is true. Type-checked when policy compiles.
	When    string `yaml:"when"`
	Effect  string `yaml:"effect"`
	Message string `yaml:"message"`
	// ReadOnly defaults to true for allow and review rules: writes must be
	// granted explicitly with read_only: false.
	ReadOnly *bool `yaml:"read_only"`
	// Statements are the statement kinds the rule admits (read, write,
	// ddl, dcl, utility). Default: [read], or [read, write] with
	// read_only: false.
	Statements []string `yaml:"statements"`
	// Tables scope what statements may read and write (globs over
	// schema.table). Empty read: any table; empty write: any table the
	// statement kinds allow.
	Tables TableScope `yaml:"tables"`
	// MultiStatement admits SQL with more than one statement.
	MultiStatement bool `yaml:"multi_statement"`
	// Commands, if set, list the programs a shell command line may run
	// (each command, and each wrapper a command runs through, must match
	// an entry), and how. docs/policy.md says how flags and subcommands
	// are read.
	Commands []CommandEntry `yaml:"commands"`
	// Kubernetes, if set, scopes the Kubernetes requests and manifest
	// objects the rule admits: their namespaces and resources, and the
	// risks it accepts (docs/kubernetes-policy.md). Without it a rule
	// admits any namespace and resource, and no risk.
	Kubernetes *KubernetesScope `yaml:"kubernetes"`
	MaxRows    int              `yaml:"max_rows"`
	Timeout    time.Duration    `yaml:"timeout"`
	// Grants shape the just-in-time credential of connections with
	// credentials: jit. By default it gets exactly the table scope above.
	Grants RuleGrants `yaml:"grants"`
	// Masking names the masking profile (masking.profiles) applied to
	// the results of calls this rule allows or reviews.
	Masking string `yaml:"masking"`
	// Approvers say who may approve a call a review rule holds (default:
	// approvals.approvers).
	Approvers Approvers `yaml:"approvers"`

	// File and Line are where the rule was written (warden.yaml or an
	// included file).
	File string `yaml:"-" json:"-"`
	Line int    `yaml:"-" json:"-"`
}

// CommandEntry admits one program in a rule's commands: list.
type CommandEntry struct {
	// Program is the program's base name (ls, not /bin/ls): a command
	// is matched by the program that runs in the end, whatever path or
	// wrapper names it.
	Program string `yaml:"program"`
	// Subcommands, if set, are what the first argument that is not a
	// flag must be (systemctl status); a command without one is refused.
	Subcommands []string `yaml:"subcommands"`
	// Flags, if set, are the only flags the program may get; an empty
	// list admits none.
	Flags []string `yaml:"flags"`
	// DenyFlags are flags the program may not get.
	DenyFlags []string `yaml:"deny_flags"`
}

// RuleGrants names what a just-in-time credential receives instead of
// table grants derived from the rule.
type RuleGrants struct {
	// Role is an existing database role the credential becomes a member
	// of (and gets nothing else).
	Role string `yaml:"role"`
	// Principal is the remote user an ssh certificate names (one of the
	// connection's principals; default: its only one).
	Principal string `yaml:"principal"`
	// PTY lets an ssh certificate ask for a pseudo-terminal (permit-pty).
	PTY bool `yaml:"pty"`
}

// TableScope lists table globs ("public.*", "sales.orders", "*.audit_*").
type TableScope struct {
	Read  []string `yaml:"read"`
	Write []string `yaml:"write"`
}

// RulesFile is the shape of a file named by include: rules only.
type RulesFile struct {
	Rules []Rule `yaml:"rules"`
}

// StatementKinds a rule may admit, as the classifiers name them: SQL's
// (policy/sqlclass), shell commands' (policy/cmdclass: network, exec,
// privileged) and the Kubernetes verbs (policy/kubeclass), which read
// and write stand for too.
var StatementKinds = append([]string{"read", "write", "ddl", "dcl", "utility", "network", "exec", "privileged"}, KubernetesVerbs...)

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

// validateRules checks the rules section, including rules from included
// files.
func (c *Config) validateRules() Errors {
	var errs Errors
	add := func(path, format string, args ...any) { errs = append(errs, c.Errorf(path, format, args...)) }
	rules := map[string]bool{}
	for i := range c.Rules {
		r := &c.Rules[i]
		p := fmt.Sprintf("rules[%d]", i)
		src := c.ruleSource(i)
		r.File, r.Line = src.file, c.Pos(p).Line
		label := p
		if src.file != c.Path {
			label = fmt.Sprintf("rules[%d]", src.index)
		}
		switch {
		case r.Name == "":
			add(p+".name", "%s: name is required", label)
		case rules[r.Name]:
			add(p+".name", "%s.name: rule %q is defined twice", label, r.Name)
		}
		rules[r.Name] = true
		if !contains(Effects, r.Effect) {
			add(p+".effect", "%s.effect: expected one of %s, got %q", label, strings.Join(Effects, ", "), r.Effect)
		}
		for j, n := range r.Connections.Names {
			if _, ok := c.Connection(n); !ok {
				add(fmt.Sprintf("%s.connections.names[%d]", p, j), "%s.connections.names: no connection named %q", label, n)
			}
		}
		if r.MaxRows < 0 {
			add(p+".max_rows", "%s.max_rows: must be positive, got %d", label, r.MaxRows)
		}
		if r.Timeout < 0 {
			add(p+".timeout", "%s.timeout: must be positive, got %s", label, r.Timeout)
		}
		for j, k := range r.Statements {
			if !contains(StatementKinds, k) {
				add(fmt.Sprintf("%s.statements[%d]", p, j), "%s.statements: unknown statement kind %q (expected %s; transaction and session statements are never admitted)", label, k, strings.Join(StatementKinds, ", "))
			}
		}
		if r.ReadOnly != nil && *r.ReadOnly {
			for j, k := range r.Statements {
				if k != "read" && !contains(KubernetesReadVerbs, k) {
					add(fmt.Sprintf("%s.statements[%d]", p, j), "%s: read_only: true admits only read statements, but statements lists %q", label, k)
				}
			}
			if len(r.Tables.Write) > 0 {
				add(p+".tables.write", "%s: read_only: true, but tables.write is set", label)
			}
		}
		for _, list := range [][]string{r.Tables.Read, r.Tables.Write} {
			for _, g := range list {
				if err := checkTableGlob(g); err != nil {
					add(p+".tables", "%s.tables: %q: %v", label, g, err)
				}
			}
		}
		if r.Grants.Role != "" && !roleName.MatchString(r.Grants.Role) {
			add(p+".grants.role", "%s.grants.role: %q is not a plain role name (letters, digits, _)", label, r.Grants.Role)
		}
		errs = append(errs, c.validateRuleSSHGrants(p, label, r)...)
		errs = append(errs, c.validateCommands(p, label, r)...)
		errs = append(errs, c.validateKubernetesScope(p, label, r)...)
		errs = append(errs, c.validateApprovers(p+".approvers", label, r.Effect, r.Approvers)...)
		if r.Effect == "deny" && (r.Grants.Role != "" || r.Grants.Principal != "" || r.Grants.PTY || r.ReadOnly != nil || r.MaxRows != 0 || r.Timeout != 0 || len(r.Statements) > 0 ||
			len(r.Tables.Read) > 0 || len(r.Tables.Write) > 0 || r.MultiStatement || r.Commands != nil || r.Kubernetes != nil) {
			add(p, "%s: a deny rule takes no constraints (read_only, statements, tables, multi_statement, commands, kubernetes, max_rows, timeout, grants)", label)
		}
	}
	// The approvals section is checked here, with the review rules it serves.
	errs = append(errs, c.validateApprovals()...)
	return errs
}

var roleName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// flagPattern is a flag as commands: lists it: -x, -name or --name,
// without a value.
var flagPattern = regexp.MustCompile(`^--?[^-=\s][^=\s]*$`)

// validateCommands checks a rule's commands: list.
func (c *Config) validateCommands(p, label string, r *Rule) Errors {
	var errs Errors
	add := func(path, format string, args ...any) { errs = append(errs, c.Errorf(path, format, args...)) }
	if r.Commands != nil && len(r.Commands) == 0 && r.Effect != "deny" {
		add(p+".commands", "%s.commands: an empty list admits no command; leave commands out to admit any program", label)
	}
	seen := map[string]int{}
	for j, e := range r.Commands {
		q := fmt.Sprintf("%s.commands[%d]", p, j)
		switch first, dup := seen[e.Program]; {
		case strings.TrimSpace(e.Program) == "":
			add(q, "%s.commands[%d]: program is required", label, j)
		case strings.ContainsAny(e.Program, "/ \t\n"):
			add(q+".program", "%s.commands[%d].program: %q is not a program's base name (write ls, not /bin/ls: a command is matched by the program it runs, whatever its path)", label, j, e.Program)
		case dup:
			add(q+".program", "%s.commands[%d].program: %q is listed twice (also commands[%d]); merge the entries", label, j, e.Program, first)
		default:
			seen[e.Program] = j
		}
		if e.Subcommands != nil && len(e.Subcommands) == 0 {
			add(q+".subcommands", "%s.commands[%d].subcommands: an empty list admits no command; leave it out to admit any", label, j)
		}
		for k, s := range e.Subcommands {
			if s == "" || strings.HasPrefix(s, "-") || strings.ContainsAny(s, " \t\n") {
				add(fmt.Sprintf("%s.subcommands[%d]", q, k), "%s.commands[%d].subcommands: %q is not a subcommand (one word, not a flag)", label, j, s)
			}
		}
		if e.Flags != nil && len(e.DenyFlags) > 0 {
			add(q+".deny_flags", "%s.commands[%d]: set flags (the only flags admitted) or deny_flags, not both", label, j)
		}
		for _, l := range []struct {
			key   string
			flags []string
		}{{"flags", e.Flags}, {"deny_flags", e.DenyFlags}} {
			for k, f := range l.flags {
				if !flagPattern.MatchString(f) {
					add(fmt.Sprintf("%s.%s[%d]", q, l.key, k), "%s.commands[%d].%s: %q is not a flag (-x, -name or --name, without =value)", label, j, l.key, f)
				}
			}
		}
	}
	return errs
}

// checkTableGlob accepts "table", "schema.table" and globs of them.
func checkTableGlob(g string) error {
	if g == "" {
		return fmt.Errorf("empty pattern")
	}
	parts := strings.Split(g, ".")
	if len(parts) > 2 {
		return fmt.Errorf("expected schema.table or table")
	}
	for _, p := range parts {
		if p == "" {
			return fmt.Errorf("empty schema or table name")
		}
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("bad glob: %v", err)
		}
	}
	return nil
}

// ruleSource says where rule i was written.
type ruleSource struct {
	file  string
	pos   positions
	index int // the rule's index within its file
}

func (c *Config) ruleSource(i int) ruleSource {
	if i < len(c.ruleSrc) {
		return c.ruleSrc[i]
	}
	return ruleSource{file: c.Path, pos: c.pos, index: i}
}

// loadIncludes reads the rules files named by include (globs, relative to
// the configuration's directory) and appends their rules.
func (c *Config) loadIncludes() Errors {
	var errs Errors
	c.ruleSrc = make([]ruleSource, len(c.Rules))
	for i := range c.Rules {
		c.ruleSrc[i] = ruleSource{file: c.Path, pos: c.pos, index: i}
	}
	for i, pattern := range c.Include {
		p := fmt.Sprintf("include[%d]", i)
		matches, err := filepath.Glob(c.resolve(pattern))
		if err != nil {
			errs = append(errs, c.Errorf(p, "include: bad pattern %q: %v", pattern, err))
			continue
		}
		if len(matches) == 0 {
			errs = append(errs, c.Errorf(p, "include: %q matches no file", pattern))
			continue
		}
		sort.Strings(matches)
		for _, file := range matches {
			data, err := os.ReadFile(file)
			if err != nil {
				errs = append(errs, c.Errorf(p, "include: %v", err))
				continue
			}
			var rf RulesFile
			pos := positions{}
			ferrs, decoded := decodeStrict(file, data, &rf, pos)
			errs = append(errs, ferrs...)
			if !decoded {
				continue
			}
			for j, r := range rf.Rules {
				c.Rules = append(c.Rules, r)
				c.ruleSrc = append(c.ruleSrc, ruleSource{file: file, pos: pos, index: j})
			}
		}
	}
	return errs
}
