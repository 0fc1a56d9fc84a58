package masking

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/masking/detect"
	"github.com/wardenhq/warden/policy/sqlclass"
)

// Engine is the Masker built from the masking: section of warden.yaml. It
// is safe for concurrent use.
//
// For a result whose decision names a profile, every output column is
// either masked by a column rule of its source column, refused (computed
// from a masked column), or passed through the profile's detectors.
type Engine struct {
	profiles map[string]*profile
	conns    map[string]config.Connection
	ttl      time.Duration
	now      func() time.Time

	mu       sync.Mutex
	catalogs map[string]*catalog // by connection
}

// DefaultCatalogTTL is how long catalog answers (relations, views,
// functions) and traced statements are trusted.
const DefaultCatalogTTL = time.Minute

// ErrUnknownProfile is returned by For for a profile the configuration
// does not define.
var ErrUnknownProfile = errors.New("masking: unknown profile")

// New builds the engine from a validated configuration. It reads the
// token key (masking.key_env or key_file) when a profile uses the token
// strategy; the error names where the key was looked for, never its value.
func New(cfg *config.Config) (*Engine, error) {
	e := &Engine{profiles: map[string]*profile{}, conns: map[string]config.Connection{},
		ttl: DefaultCatalogTTL, now: time.Now, catalogs: map[string]*catalog{}}
	for _, c := range cfg.Connections {
		e.conns[c.Name] = c
	}
	var key []byte
	if usesToken(cfg.Masking) {
		ref := cfg.Masking.KeyRef()
		if ref.IsZero() {
			return nil, fmt.Errorf("masking: strategy token needs masking.key_env or masking.key_file")
		}
		secret, err := ref.Resolve()
		if err != nil {
			return nil, fmt.Errorf("masking key: %w", err)
		}
		if len(secret.Reveal()) < detect.MinTokenKeyLen {
			return nil, fmt.Errorf("masking key from %s: shorter than %d bytes", ref.Describe(), detect.MinTokenKeyLen)
		}
		key = []byte(secret.Reveal())
	}
	for name, p := range cfg.Masking.Profiles {
		cp, err := compileProfile(name, p, key)
		if err != nil {
			return nil, fmt.Errorf("masking: %w", err)
		}
		e.profiles[name] = cp
	}
	return e, nil
}

func usesToken(m config.MaskingConfig) bool {
	for _, p := range m.Profiles {
		for _, c := range p.Columns {
			if c.Strategy == detect.StrategyToken {
				return true
			}
		}
		if len(p.Detectors) == 0 {
			continue
		}
		if p.Default.Strategy == detect.StrategyToken {
			return true
		}
		for _, s := range p.DetectorStrategies {
			if s.Strategy == detect.StrategyToken {
				return true
			}
		}
	}
	return false
}

// For implements Masker.
func (e *Engine) For(ctx context.Context, req Request) (RowMasker, error) {
	if req.Profile == "" {
		return noop{}, nil
	}
	prof, ok := e.profiles[req.Profile]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownProfile, req.Profile)
	}
	conn := e.connection(req.Connection)
	m := &rowMasker{scanner: prof.scanner, plans: make([]colPlan, len(req.Columns))}
	rules := prof.active(req.Subject, req.Groups, conn)
	if len(rules) > 0 && len(req.Columns) > 0 {
		m.strict = true
		if req.Sources == nil {
			return nil, &RefusedError{Column: req.Columns[0].Name, Reason: fmt.Sprintf(
				"masking profile %q has column rules for connection %q, which cannot report where result columns come from, so they cannot be enforced; the result is withheld (an operator can mask this connection with detectors instead)",
				prof.name, req.Connection)}
		}
		plan := e.planColumns
		if sr, ok := req.Sources.(StatementReporter); ok {
			plan = func(ctx context.Context, req Request, rules []*columnRule, m *rowMasker) error {
				return e.planStatement(ctx, req, sr, rules, m)
			}
		}
		if err := plan(ctx, req, rules, m); err != nil {
			return nil, err
		}
	}
	for i := range m.plans {
		if m.plans[i].rule == nil && prof.scanner != nil {
			m.plans[i].detect = true
		}
	}
	if !m.strict && prof.scanner == nil {
		return noop{}, nil
	}
	return m, nil
}

// planColumns plans the masking of every column under column rules: by
// the rule of the masked column it is, or refused. Plans are cached by
// everything they depend on (who asks, the statement's shape, the columns
// the target reports) until the first catalog answer they rest on
// expires, so a statement a client runs again and again is traced once.
func (e *Engine) planColumns(ctx context.Context, req Request, rules []*columnRule, m *rowMasker) error {
	cat := e.catalog(req.Connection)
	key := planKey(req)
	if p, ok := cat.plan(key); ok {
		if p.refusal != nil {
			cp := *p.refusal
			return &cp
		}
		copy(m.plans, p.plans)
		m.keys = slices.Clone(p.keys)
		m.byKey = make([]int64, len(p.keys))
		return nil
	}
	taints, expires, err := e.sources(ctx, req)
	if err != nil {
		return err
	}
	for i, t := range taints {
		plan, refusal := judge(req.Columns[i].Name, t, rules)
		if refusal != nil {
			cp := *refusal
			cat.putPlan(string(key), planEntry{refusal: &cp, expires: expires})
			return refusal
		}
		if plan.rule != nil {
			plan.key = m.key("column:" + plan.source)
		}
		m.plans[i] = plan
	}
	cat.putPlan(string(key), planEntry{plans: slices.Clone(m.plans), keys: slices.Clone(m.keys), expires: expires})
	return nil
}

// planKey is everything column plans depend on besides the catalog: the
// profile, who asks (which rules apply), the statement (as traceKey has
// it) and each column's name, type and reported source.
func planKey(req Request) []byte {
	b := make([]byte, 0, 128+len(req.SQL))
	b = append(b, req.Profile...)
	b = append(b, 0)
	b = append(b, req.Subject...)
	for _, g := range req.Groups {
		b = append(b, 0, 1)
		b = append(b, g...)
	}
	for _, c := range req.Columns {
		b = append(b, 0, 2)
		b = append(b, c.Name...)
		b = append(b, 0)
		b = append(b, c.Type...)
		b = binary.LittleEndian.AppendUint32(b, c.TableOID)
		b = binary.LittleEndian.AppendUint32(b, uint32(c.Attribute))
		if c.Origin != (ColumnName{}) {
			b = append(b, 0, 4)
			b = append(b, c.Origin.Schema...)
			b = append(b, 0)
			b = append(b, c.Origin.Table...)
			b = append(b, 0)
			b = append(b, c.Origin.Column...)
		}
	}
	b = append(b, 0, 3, 's')
	// A shape is PostgreSQL's reading of the text: a MySQL statement is
	// keyed by its text.
	if shaped, ok := sqlclass.AppendShape(b, req.SQL); ok && !isMySQL(req.Sources) {
		return shaped
	}
	b[len(b)-1] = 't'
	return append(b, req.SQL...)
}

// traceKey is what a statement's lineage is cached by: its shape when it
// has one (lineage follows names, never constants' values, so every text
// of a shape traces alike), else the text itself. The first byte keeps
// the two apart.
func traceKey(sql string) string {
	if shape, ok := sqlclass.Shape(sql); ok {
		return "s" + shape
	}
	return "t" + sql
}

// sources traces every result column to what it derives from: the source
// the target reports (RowDescription table OID and attribute), and the
// statement's lineage.
func (e *Engine) sources(ctx context.Context, req Request) ([]taint, time.Time, error) {
	if isMySQL(req.Sources) {
		return e.mysqlSources(ctx, req)
	}
	cat := e.catalog(req.Connection)
	n := newNeed()
	for _, c := range req.Columns {
		if c.TableOID != 0 {
			n.oids[c.TableOID] = true
		}
	}
	var tree *pg_query.ParseResult
	key := traceKey(req.SQL)
	lin, expires, cached := cat.trace(key)
	if !cached && req.SQL != "" {
		var err error
		if tree, err = pg_query.Parse(req.SQL); err != nil {
			lin = &lineage{why: "the SQL cannot be parsed"}
		} else {
			collectNames(tree, n)
		}
	}
	view, err := cat.view(ctx, req.Sources, n)
	if err != nil {
		return nil, time.Time{}, err
	}
	an := newAnalyser(view)
	if tree != nil {
		// The lineage rests on the catalog answers of the view: it is kept
		// no longer than the first of them.
		lin = an.statement(tree)
		expires = cat.putTrace(key, lin, view.expires)
	}
	if !view.expires.IsZero() && view.expires.Before(expires) {
		expires = view.expires
	}
	var traced []taint
	if lin != nil && lin.ok {
		traced, _ = align(lin.outputs, len(req.Columns))
	}
	out := make([]taint, len(req.Columns))
	for i, c := range req.Columns {
		var t taint
		if traced != nil {
			t.add(traced[i])
		}
		if c.TableOID != 0 {
			t.add(an.origin(c.TableOID, int(c.Attribute)))
		}
		if traced == nil && c.TableOID == 0 {
			why := "the statement could not be traced"
			if lin != nil && lin.why != "" {
				why = lin.why
			} else if req.SQL == "" {
				why = "the statement is not known"
			}
			t.addOpaque("has no source column the target reports, and " + why)
		}
		out[i] = t
	}
	return out, expires, nil
}

// origin is the source a RowDescription reports: a table column, or a
// view column traced through the view.
func (a *analyser) origin(oid uint32, attnum int) taint {
	rel := a.cat.byOID[oid]
	if rel == nil {
		return opaqueTaint("comes from relation %d, which the catalog does not know", oid)
	}
	col := attnum - 1
	if col < 0 || col >= len(rel.Columns) || rel.Columns[col] == "" {
		return opaqueTaint("comes from an unknown column of %s", rel.qualified())
	}
	if !rel.isView() && !(rel.Schema == "pg_catalog" && statisticsRelations[rel.Name]) {
		var t taint
		t.addDirect(src{rel: rel, col: col})
		return t
	}
	for _, c := range a.relationColumns(rel) {
		if c.definite(rel.Columns[col]) {
			return c.t
		}
	}
	return opaqueTaint("comes from view %s, whose column %s cannot be traced", rel.qualified(), rel.Columns[col])
}

// connection is the configured connection of that name (for column rules'
// connections:), or a bare one.
func (e *Engine) connection(name string) config.Connection {
	if c, ok := e.conns[name]; ok {
		return c
	}
	return config.Connection{Name: name}
}

func (e *Engine) catalog(conn string) *catalog {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.catalogs[conn]
	if !ok {
		c = newCatalog(e.ttl, e.now)
		e.catalogs[conn] = c
	}
	return c
}

// judge decides how an output column is masked: by the strictest rule of
// a masked column it is directly, refused if it is computed from one (or
// from what masking cannot see), otherwise by the detectors.
func judge(name string, t taint, rules []*columnRule) (colPlan, *RefusedError) {
	for _, s := range t.computed {
		for _, r := range rules {
			if r.matches(s.rel, s.col) {
				return colPlan{}, &RefusedError{Column: name, Reason: fmt.Sprintf(
					"output column %q is computed from masked column %s (masking rule %q); select the column itself, which is masked, or leave it out",
					name, s, r.match)}
			}
		}
	}
	if len(t.opaque) > 0 {
		return colPlan{}, &RefusedError{Column: name, Reason: fmt.Sprintf(
			"output column %q %s, so masking cannot tell whether it holds masked values; select plain columns instead",
			name, t.opaque[0])}
	}
	var plan colPlan
	best := -1
	for _, s := range t.direct {
		for _, r := range rules {
			if !r.matches(s.rel, s.col) {
				continue
			}
			if st := strictness(r.strategy); best < 0 || st < best {
				best = st
				plan = colPlan{rule: r, label: r.label(s.rel, s.col), source: s.String()}
			}
		}
	}
	return plan, nil
}

var _ Masker = (*Engine)(nil)
