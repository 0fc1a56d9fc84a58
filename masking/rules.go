package masking

import (
	"fmt"
	"path"
	"strings"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/masking/detect"
)

// profile is a compiled masking profile.
type profile struct {
	name    string
	columns []*columnRule
	// scanner runs the profile's detectors; nil when it has none.
	scanner *detect.Scanner
}

// columnRule is a compiled column rule.
type columnRule struct {
	index                 int    // position in the profile, for messages
	match                 string // as written
	schema, table, column string // the three globs
	conns                 config.ConnectionMatch
	replacer              *detect.Replacer
	strategy              detect.Strategy // without its key, for strictness
	kind                  string          // label; "" means the column's name
	exceptIdentities      map[string]bool
	exceptGroups          map[string]bool
}

// compileProfile builds a profile from its configuration. key is the
// deployment's token key (nil when none is configured).
func compileProfile(name string, p config.MaskingProfile, key []byte) (*profile, error) {
	out := &profile{name: name}
	for i, c := range p.Columns {
		parts := strings.Split(c.Match, ".")
		if len(parts) != 3 {
			return nil, fmt.Errorf("profile %q: columns[%d]: match %q is not schema.table.column", name, i, c.Match)
		}
		st := detect.Strategy{Name: c.Strategy, KeepLast: c.KeepLast}
		if st.Name == detect.StrategyToken {
			st.Key = key
		}
		r, err := detect.NewReplacer(st)
		if err != nil {
			return nil, fmt.Errorf("profile %q: columns[%d]: %w", name, i, err)
		}
		st.Key = nil
		cr := &columnRule{
			index: i, match: c.Match, schema: parts[0], table: parts[1], column: parts[2],
			conns: c.Connections, replacer: r, strategy: st, kind: c.Kind,
			exceptIdentities: setOf(c.Except.Identities), exceptGroups: setOf(c.Except.Groups),
		}
		out.columns = append(out.columns, cr)
	}
	if kinds := config.ExpandDetectors(p.Detectors); len(kinds) > 0 {
		cfg := detect.Config{Default: strategyOf(p.Default, key), Strategies: map[detect.Kind]detect.Strategy{}}
		for _, k := range kinds {
			cfg.Kinds = append(cfg.Kinds, detect.Kind(k))
		}
		for k, st := range p.DetectorStrategies {
			cfg.Strategies[detect.Kind(k)] = strategyOf(st, key)
		}
		sc, err := detect.NewScanner(cfg)
		if err != nil {
			return nil, fmt.Errorf("profile %q: detectors: %w", name, err)
		}
		out.scanner = sc
	}
	return out, nil
}

func strategyOf(s config.MaskingStrategy, key []byte) detect.Strategy {
	st := detect.Strategy{Name: s.Strategy, KeepLast: s.KeepLast}
	if st.Name == detect.StrategyToken {
		st.Key = key
	}
	return st
}

func setOf(list []string) map[string]bool {
	if len(list) == 0 {
		return nil
	}
	m := make(map[string]bool, len(list))
	for _, v := range list {
		m[v] = true
	}
	return m
}

// active returns the column rules that apply to this caller on this
// connection.
func (p *profile) active(subject string, groups []string, conn config.Connection) []*columnRule {
	var out []*columnRule
	for _, r := range p.columns {
		if !r.conns.Matches(conn) || r.excepts(subject, groups) {
			continue
		}
		out = append(out, r)
	}
	return out
}

func (r *columnRule) excepts(subject string, groups []string) bool {
	if r.exceptIdentities[subject] {
		return true
	}
	for _, g := range groups {
		if r.exceptGroups[g] {
			return true
		}
	}
	return false
}

// matches reports whether the rule covers column col of rel, directly or
// through one of its ancestors (a partition's or child's parent table).
func (r *columnRule) matches(rel *relInfo, col int) bool {
	if col < 0 || col >= len(rel.Columns) || rel.Columns[col] == "" {
		return false
	}
	name := rel.Columns[col]
	if !glob(r.column, name) {
		return false
	}
	if glob(r.schema, rel.Schema) && glob(r.table, rel.Name) {
		return true
	}
	for _, a := range rel.Ancestors {
		if glob(r.schema, a.Schema) && glob(r.table, a.Name) {
			return true
		}
	}
	return false
}

func glob(pattern, name string) bool {
	ok, err := path.Match(pattern, name)
	return ok && err == nil
}

// strictness orders strategies from the one that reveals least: when an
// output may be any of several masked columns, the strictest rule applies.
func strictness(st detect.Strategy) int {
	rank := map[string]int{detect.StrategyNull: 0, "": 1, detect.StrategyRedact: 1, detect.StrategyToken: 2,
		detect.StrategyShape: 3, detect.StrategyPartial: 4}[st.Name]
	keep := st.KeepLast
	if keep == 0 {
		keep = detect.DefaultKeepLast
	}
	return rank*1000 + keep
}

// label is the kind a rule's masked values are labelled with.
func (r *columnRule) label(rel *relInfo, col int) detect.Kind {
	if r.kind != "" {
		return detect.Kind(r.kind)
	}
	return detect.Kind(rel.Columns[col])
}
