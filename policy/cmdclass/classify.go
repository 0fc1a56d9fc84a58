package cmdclass

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"mvdan.cc/sh/v3/syntax"

	"github.com/wardenhq/warden/policy"
)

// Defaults of Options.
const (
	DefaultMaxBytes    = 16 << 10
	DefaultMaxCommands = 64
	DefaultMaxDepth    = 16
)

// DefaultVariables are the variables whose expansion is admitted when
// Options.Variables is nil: set by the login from the account's passwd
// entry, and so not the caller's to choose.
var DefaultVariables = []string{"HOME", "USER", "LOGNAME"}

// Options configure a Classifier.
type Options struct {
	// MaxBytes bounds a command line's length when the request does not
	// (default DefaultMaxBytes).
	MaxBytes int
	// MaxCommands bounds the simple commands in a line, counting a loop's
	// body once per item (default DefaultMaxCommands).
	MaxCommands int
	// MaxDepth bounds the nesting of groups, subshells, loops,
	// conditionals and substitutions (default DefaultMaxDepth).
	MaxDepth int
	// AllowSubstitution admits command substitution ($(...), `...`) and
	// process substitution (<(...), >(...)). The commands inside are
	// classified like any other; the word they produce is known only on
	// the host, so a program that is given one as an argument and whose
	// options could change what it does becomes exec.
	AllowSubstitution bool
	// Variables are the environment variables whose plain expansion
	// ($NAME, ${NAME}) is admitted in arguments (never as the program);
	// nil means DefaultVariables, an empty non-nil slice none. Their
	// values are known only on the host: they are always passed as one
	// word (Canonical double-quotes them), and a command given one where
	// it could be an option becomes exec.
	Variables []string
}

// Classifier classifies shell command lines. It holds no mutable state
// and is safe for concurrent use.
type Classifier struct {
	maxBytes, maxCommands, maxDepth int
	subst                           bool
	vars                            map[string]bool
}

// New returns a Classifier with opts.
func New(opts Options) *Classifier {
	c := &Classifier{maxBytes: opts.MaxBytes, maxCommands: opts.MaxCommands, maxDepth: opts.MaxDepth,
		subst: opts.AllowSubstitution, vars: map[string]bool{}}
	if c.maxBytes <= 0 {
		c.maxBytes = DefaultMaxBytes
	}
	if c.maxCommands <= 0 {
		c.maxCommands = DefaultMaxCommands
	}
	if c.maxDepth <= 0 {
		c.maxDepth = DefaultMaxDepth
	}
	vars := opts.Variables
	if vars == nil {
		vars = DefaultVariables
	}
	for _, v := range vars {
		if syntax.ValidName(v) {
			c.vars[v] = true
		}
	}
	return c
}

// Namespace is empty: commands have no namespace; file names are paths.
func (c *Classifier) Namespace() string { return "" }

// Classify reports what the command line req.Statement does, or refuses
// it with an *Error (matching policy.ErrNotUnderstood). Facts.Canonical
// is the line written anew from its parse: what the host must run.
func (c *Classifier) Classify(ctx context.Context, req policy.ClassifyRequest) (policy.Facts, error) {
	if err := ctx.Err(); err != nil {
		return policy.Facts{}, err
	}
	text := req.Statement
	max := c.maxBytes
	if req.MaxBytes > 0 {
		max = req.MaxBytes
	}
	switch {
	case len(text) > max:
		return policy.Facts{}, unparseable(-1, fmt.Sprintf("command line is %d bytes, longer than the limit of %d", len(text), max))
	case strings.IndexByte(text, 0) >= 0:
		return policy.Facts{}, unparseable(strings.IndexByte(text, 0), "NUL byte")
	case !utf8.ValidString(text):
		return policy.Facts{}, unparseable(-1, "invalid UTF-8")
	case strings.Trim(text, " \t\n") == "":
		return policy.Facts{}, unparseable(-1, "empty command line")
	}
	if i := strings.IndexFunc(text, hidden); i >= 0 {
		return policy.Facts{}, unparseable(i, fmt.Sprintf("control character %U (it could hide text from a reviewer)", []rune(text[i:])[0]))
	}
	file, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(text), "")
	if err != nil {
		var pe syntax.ParseError
		if errors.As(err, &pe) {
			return policy.Facts{}, unparseable(int(pe.Pos.Offset()), pe.Text)
		}
		return policy.Facts{}, unparseable(-1, err.Error())
	}
	if len(file.Stmts) == 0 {
		return policy.Facts{}, unparseable(-1, "no command (only comments)")
	}
	w := &walker{c: c, vars: map[string]*value{}}
	if err := w.stmts(file.Stmts, 0); err != nil {
		return policy.Facts{}, err
	}
	canon, err := canonical(w, file.Stmts)
	if err != nil {
		return policy.Facts{}, err
	}
	return summarise(w.parts, canon), nil
}

// hidden are the characters a line may not hold: control characters
// other than tab and newline (carriage returns, terminal escapes), and
// Unicode's bidirectional overrides, which make text read otherwise than
// it runs.
func hidden(r rune) bool {
	switch {
	case r == '\t' || r == '\n':
		return false
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true
	}
	return false
}

// summarise builds the Facts of parts.
func summarise(parts []policy.Part, canon string) policy.Facts {
	f := policy.Facts{Parts: parts, CommandLine: true, Canonical: canon, ReadOnly: len(parts) > 0}
	var all kindSet
	for _, p := range parts {
		for _, k := range p.Kinds {
			all = all.with(k)
		}
		if p.Kind != KindRead {
			f.ReadOnly = false
		}
		f.Read = append(f.Read, p.Read...)
		f.Written = append(f.Written, p.Written...)
	}
	if len(parts) > 0 {
		f.Kinds = all.list()
	}
	f.Read, f.Written = distinct(f.Read), distinct(f.Written)
	return f
}

// distinct sorts rs by Text (then Name) and drops duplicates.
func distinct(rs []policy.Resource) []policy.Resource {
	if len(rs) == 0 {
		return nil
	}
	slices.SortFunc(rs, func(a, b policy.Resource) int {
		if c := strings.Compare(a.Text, b.Text); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return slices.Compact(rs)
}

var _ policy.Classifier = (*Classifier)(nil)
