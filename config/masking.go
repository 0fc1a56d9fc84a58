package config

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaskingConfig is the masking: section: named profiles that policy rules
// apply to the results of the calls they allow (rules[].masking), and
// where the deterministic token strategy's key comes from.
//
//	masking:
//	  key_env: WARDEN_MASKING_KEY        # or key_file; needed only by strategy token
//	  profiles:
//	    pii:
//	      columns:
//	        - {match: "*.customers.card_number", strategy: partial, keep_last: 4}
//	        - {match: "*.*.ssn", strategy: redact, except: {groups: [dba]}}
//	      detectors: [card, email, ssn, iban, secrets]
//	      detector_strategies: {email: token, card: {strategy: shape, keep_last: 4}}
//	      default: redact
type MaskingConfig struct {
	// KeyEnv names the environment variable holding the HMAC key of the
	// token strategy; KeyFile names a file holding it (its trailing newline
	// is ignored). The key is never written in this file. At least
	// MinMaskingKeyLen bytes.
	KeyEnv  string `yaml:"key_env"`
	KeyFile string `yaml:"key_file"`
	// Profiles by name; rules name them in masking:.
	Profiles map[string]MaskingProfile `yaml:"profiles"`
}

// MinMaskingKeyLen is the shortest token key accepted (bytes).
const MinMaskingKeyLen = 16

// KeyRef says where the token key is read from.
func (m MaskingConfig) KeyRef() SecretRef { return SecretRef{Env: m.KeyEnv, File: m.KeyFile} }

// MaskingProfile is one named set of column rules and content detectors.
type MaskingProfile struct {
	// Columns mask result columns by their source column (resolved by
	// the target's catalog, not by the name a query gives them).
	Columns []ColumnRule `yaml:"columns"`
	// Detectors run over every value no column rule masks: detector kinds
	// (DetectorKinds), "secrets" (api_key, jwt, pem_private_key, secret)
	// or "all". Empty: no detectors.
	Detectors []string `yaml:"detectors"`
	// DetectorStrategies sets the strategy per detector kind.
	DetectorStrategies map[string]MaskingStrategy `yaml:"detector_strategies"`
	// Default is the strategy of detectors DetectorStrategies does not
	// list (default: redact).
	Default MaskingStrategy `yaml:"default"`
}

// ColumnRule masks the values of matching source columns.
type ColumnRule struct {
	// Match is a glob over schema.table.column ("*.customers.card_number",
	// "public.*.ssn"). Names are compared as the catalog stores them
	// (unquoted identifiers are lower-case).
	Match string `yaml:"match"`
	// Connections restricts the rule to some connections (names and
	// labels, as in policy rules); empty: every connection.
	Connections ConnectionMatch `yaml:"connections"`
	// Strategy is redact (default), partial, token, null or shape.
	Strategy string `yaml:"strategy"`
	// KeepLast is what partial and shape keep (default 4).
	KeepLast int `yaml:"keep_last"`
	// Kind labels the masked values ("[REDACTED:card]", "tok_card_...").
	// Naming a detector kind makes tokens of this column equal to the
	// detector's tokens of the same value. Default: the column's name.
	Kind string `yaml:"kind"`
	// Except lists identities and groups the rule does not apply to (a DBA
	// may see what an agent may not).
	Except SubjectMatch `yaml:"except"`
}

// MaskingStrategy is a strategy and its parameter. In YAML it is either
// the strategy's name (redact) or a mapping {strategy: partial, keep_last: 4}.
type MaskingStrategy struct {
	Strategy string `yaml:"strategy"`
	KeepLast int    `yaml:"keep_last"`
}

// UnmarshalYAML accepts a strategy name or a mapping, strictly. Its errors
// are *Error, positioned at the offending node, Key relative to n.
func (s *MaskingStrategy) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			*s = MaskingStrategy{}
			return nil
		}
		*s = MaskingStrategy{Strategy: n.Value}
		return nil
	case yaml.MappingNode:
		var out MaskingStrategy
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			switch k.Value {
			case "strategy":
				if v.Kind != yaml.ScalarNode {
					return &Error{Line: v.Line, Column: v.Column, Key: "strategy", Msg: "expected a strategy name, got " + describe(v)}
				}
				out.Strategy = v.Value
			case "keep_last":
				if err := v.Decode(&out.KeepLast); err != nil {
					return &Error{Line: v.Line, Column: v.Column, Key: "keep_last", Msg: "expected a whole number such as 4; got " + scalarText(v)}
				}
			default:
				return &Error{Line: k.Line, Column: k.Column, Msg: fmt.Sprintf("unknown key %q in a masking strategy (expected one of: keep_last, strategy)", k.Value)}
			}
		}
		*s = out
		return nil
	}
	return &Error{Line: n.Line, Column: n.Column, Msg: fmt.Sprintf("expected a strategy name (%s) or a mapping of strategy, keep_last, got %s",
		strings.Join(MaskingStrategies, ", "), describe(n))}
}

// MaskingStrategies are the strategy names.
var MaskingStrategies = []string{"redact", "partial", "token", "null", "shape"}

// DetectorKinds are the content detectors (masking/detect kinds). In a
// profile's detectors, "secrets" stands for api_key, jwt, pem_private_key
// and secret, and "all" for every kind.
var DetectorKinds = []string{"card", "email", "phone", "ssn", "iban", "ipv4", "ipv6", "jwt", "pem_private_key", "api_key", "secret"}

var (
	secretKinds   = []string{"api_key", "jwt", "pem_private_key", "secret"}
	maskKindLabel = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
)

// ExpandDetectors resolves a profile's detectors list (aliases included)
// into detector kinds, in DetectorKinds order.
func ExpandDetectors(list []string) []string {
	on := map[string]bool{}
	for _, d := range list {
		switch d {
		case "all":
			for _, k := range DetectorKinds {
				on[k] = true
			}
		case "secrets":
			for _, k := range secretKinds {
				on[k] = true
			}
		default:
			on[d] = true
		}
	}
	var out []string
	for _, k := range DetectorKinds {
		if on[k] {
			out = append(out, k)
		}
	}
	return out
}

// validateMasking checks the masking section and the rules' references to
// its profiles.
func (c *Config) validateMasking() Errors {
	var errs Errors
	add := func(path, format string, args ...any) { errs = append(errs, c.Errorf(path, format, args...)) }
	m := &c.Masking
	switch {
	case m.KeyEnv != "" && m.KeyFile != "":
		add("masking", "masking: set key_env or key_file, not both")
	case m.KeyFile != "":
		m.KeyFile = c.resolve(m.KeyFile)
	}
	needsKey := ""
	names := make([]string, 0, len(m.Profiles))
	for name := range m.Profiles {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		prof := m.Profiles[name]
		p := "masking.profiles." + name
		if !namePattern.MatchString(name) {
			add(p, "%s: profile name %q must be lower-case letters, digits, '.', '_' or '-'", p, name)
		}
		if len(prof.Columns) == 0 && len(prof.Detectors) == 0 {
			add(p, "%s: the profile masks nothing: give it columns, detectors or both", p)
		}
		for i, r := range prof.Columns {
			rp := fmt.Sprintf("%s.columns[%d]", p, i)
			if err := checkColumnGlob(r.Match); err != nil {
				add(rp+".match", "%s.match: %q: %v", rp, r.Match, err)
			}
			if msg := checkStrategy(MaskingStrategy{Strategy: r.Strategy, KeepLast: r.KeepLast}); msg != "" {
				add(rp+".strategy", "%s: %s", rp, msg)
			}
			if r.Strategy == "token" && needsKey == "" {
				needsKey = rp
			}
			if r.Kind != "" && !maskKindLabel.MatchString(r.Kind) {
				add(rp+".kind", "%s.kind: %q must be lower-case letters, digits and _ (a detector kind such as card, or a label)", rp, r.Kind)
			}
			for j, n := range r.Connections.Names {
				if _, ok := c.Connection(n); !ok {
					add(fmt.Sprintf("%s.connections.names[%d]", rp, j), "%s.connections.names: no connection named %q", rp, n)
				}
			}
		}
		enabled := map[string]bool{}
		for i, d := range prof.Detectors {
			if d != "all" && d != "secrets" && !contains(DetectorKinds, d) {
				add(fmt.Sprintf("%s.detectors[%d]", p, i), "%s.detectors: unknown detector %q (expected all, secrets or one of %s)", p, d, strings.Join(DetectorKinds, ", "))
			}
		}
		for _, k := range ExpandDetectors(prof.Detectors) {
			enabled[k] = true
		}
		kinds := make([]string, 0, len(prof.DetectorStrategies))
		for k := range prof.DetectorStrategies {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		for _, k := range kinds {
			st := prof.DetectorStrategies[k]
			kp := p + ".detector_strategies." + k
			switch {
			case !contains(DetectorKinds, k):
				add(kp, "%s.detector_strategies: unknown detector %q (expected one of %s)", p, k, strings.Join(DetectorKinds, ", "))
			case !enabled[k]:
				add(kp, "%s.detector_strategies: %q is not among the profile's detectors", p, k)
			}
			if msg := checkStrategy(st); msg != "" {
				add(kp, "%s.detector_strategies.%s: %s", p, k, msg)
			}
			if st.Strategy == "token" && needsKey == "" {
				needsKey = kp
			}
		}
		if msg := checkStrategy(prof.Default); msg != "" {
			add(p+".default", "%s.default: %s", p, msg)
		}
		if prof.Default.Strategy == "token" && len(prof.Detectors) > 0 && needsKey == "" {
			needsKey = p + ".default"
		}
	}
	if needsKey != "" && m.KeyRef().IsZero() {
		add(needsKey, "%s: strategy token needs a key: set masking.key_env or masking.key_file (at least %d bytes; never written in this file)", needsKey, MinMaskingKeyLen)
	}
	for i, r := range c.Rules {
		if r.Masking == "" {
			continue
		}
		p := fmt.Sprintf("rules[%d].masking", i)
		if _, ok := m.Profiles[r.Masking]; !ok {
			known := strings.Join(names, ", ")
			if known == "" {
				known = "none is defined under masking.profiles"
			}
			add(p, "rule %q: masking: no profile named %q (known: %s)", r.Name, r.Masking, known)
		}
		if r.Effect == "deny" {
			add(p, "rule %q: a deny rule takes no masking profile (nothing runs)", r.Name)
		}
	}
	return errs
}

// checkStrategy returns what is wrong with a strategy, or "".
func checkStrategy(s MaskingStrategy) string {
	switch s.Strategy {
	case "", "redact", "token", "null":
		if s.KeepLast != 0 {
			return fmt.Sprintf("keep_last applies only to strategies partial and shape, not %q", or(s.Strategy, "redact"))
		}
	case "partial", "shape":
		if s.KeepLast < 0 {
			return fmt.Sprintf("keep_last must not be negative, got %d", s.KeepLast)
		}
	default:
		return fmt.Sprintf("unknown strategy %q (expected one of %s)", s.Strategy, strings.Join(MaskingStrategies, ", "))
	}
	return ""
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// checkColumnGlob accepts schema.table.column globs.
func checkColumnGlob(g string) error {
	parts := strings.Split(g, ".")
	if g == "" || len(parts) != 3 {
		return fmt.Errorf(`expected schema.table.column, each part a name or a glob ("*.customers.ssn")`)
	}
	for _, p := range parts {
		if p == "" {
			return fmt.Errorf("empty schema, table or column name")
		}
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("bad glob: %v", err)
		}
	}
	return nil
}

// maskingWarnings lists masking setups that are valid but do nothing.
func (c *Config) maskingWarnings() []string {
	var out []string
	used := map[string]bool{}
	for _, r := range c.Rules {
		if r.Masking == "" {
			continue
		}
		used[r.Masking] = true
	}
	names := make([]string, 0, len(c.Masking.Profiles))
	for name := range c.Masking.Profiles {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !used[name] {
			out = append(out, fmt.Sprintf("%s:%d: masking profile %q is not used by any rule", c.Path, c.Pos("masking.profiles."+name).Line, name))
		}
	}
	return out
}

// Matches reports whether a connection is selected: its name listed (or
// no names given) and every listed label equal.
func (m ConnectionMatch) Matches(cn Connection) bool {
	if len(m.Names) > 0 && !contains(m.Names, cn.Name) {
		return false
	}
	for k, v := range m.Labels {
		if got, ok := cn.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
