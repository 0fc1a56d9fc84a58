package masking

import (
	"context"
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// StatementReporter is a SourceResolver whose target compiles a statement
// and says what it makes of it: SQLite, whose result columns carry no
// source the way PostgreSQL's RowDescription does, but whose compiler
// knows every table column a statement reads and where each plain output
// column comes from. The engine uses it instead of the reported OIDs.
type StatementReporter interface {
	SourceResolver
	// ReportStatement compiles sql (never running it) and reports what
	// the target reads and returns. An error is a technical failure, or
	// the target's refusal to compile the statement; either refuses the
	// result.
	ReportStatement(ctx context.Context, sql string) (StatementReport, error)
	// SameProgram reports whether the target compiles a and b, one
	// statement each, to the same program: whether they mean the same.
	SameProgram(ctx context.Context, a, b string) (bool, error)
}

// StatementReport is what a target's compiler says of a statement.
type StatementReport struct {
	// Statements is how many statements the text holds.
	Statements int
	// Reads are the table columns the statements read, anywhere (outputs,
	// filters, views, triggers); a read of a whole table without a column
	// (count(*)) has Column "".
	Reads []SourceColumn
	// Columns are the result columns of the statement (the last one):
	// each the source column it is passed through from, zero when
	// computed (for a compound SELECT, its first arm's source).
	Columns []SourceColumn
	// Opaque, when set, says why the statement reads data whose origin
	// cannot be traced (raw database pages, samples of column values).
	Opaque string
}

// SourceColumn is a table column as the target names it.
type SourceColumn struct {
	Schema, Table, Column string
}

func (s SourceColumn) String() string { return s.Schema + "." + s.Table + "." + s.Column }

// planStatement plans the masking of a result whose target reports its
// statements (SQLite). A statement that reads no column a rule masks is
// masked by the detectors alone: the target's compiler vouches for every
// column it reads. Otherwise the statement is traced as the engine traces
// PostgreSQL's (lineage.go, with PostgreSQL's grammar and the target's
// catalog), after the target confirmed that the statement, as that
// grammar read it and wrote it back, compiles to the same program as the
// caller's text; and every output the target says is a column passed
// through must be one the trace found. Any doubt refuses the result.
func (e *Engine) planStatement(ctx context.Context, req Request, sr StatementReporter, rules []*columnRule, m *rowMasker) error {
	first := req.Columns[0].Name
	rep, err := sr.ReportStatement(ctx, req.SQL)
	if err != nil {
		return fmt.Errorf("masking: compile the statement: %w", err)
	}
	var masked []SourceColumn
	var rule *columnRule
	for _, r := range rep.Reads {
		if r.Column == "" {
			continue
		}
		if cr := matching(rules, r); cr != nil {
			if rule == nil {
				rule = cr
			}
			masked = append(masked, r)
		}
	}
	if rep.Opaque != "" {
		return &RefusedError{Column: first, Reason: fmt.Sprintf(
			"the statement %s, so masking cannot tell which outputs hold masked values; select plain columns instead", rep.Opaque)}
	}
	if len(masked) == 0 {
		return nil // no masked column is read: detectors only
	}
	what := fmt.Sprintf("the statement reads masked column %s (masking rule %q)", masked[0], rule.match)
	refuse := func(why string) error {
		return &RefusedError{Column: first, Reason: fmt.Sprintf(
			"%s, and %s, so masking cannot tell which outputs hold its values; select the masked column as it is, in plain SQL, or leave it out",
			what, why)}
	}
	switch {
	case rep.Statements != 1:
		return refuse(fmt.Sprintf("the SQL holds %d statements", rep.Statements))
	case len(rep.Columns) != len(req.Columns):
		return refuse("the result's columns are not the ones the statement compiles to")
	}
	tree, err := pg_query.Parse(req.SQL)
	if err != nil || len(tree.GetStmts()) != 1 {
		return refuse("masking traces SQLite statements with PostgreSQL's grammar, which does not read this one")
	}
	written, err := pg_query.Deparse(tree)
	if err != nil {
		return refuse("masking cannot write the statement back from its parse")
	}
	same, err := sr.SameProgram(ctx, req.SQL, written)
	if err != nil || !same {
		return refuse("the statement as PostgreSQL's grammar reads it does not compile to the same program as the statement itself")
	}
	n := newNeed()
	collectNames(tree, n)
	view, err := e.catalog(req.Connection).view(ctx, req.Sources, n)
	if err != nil {
		return err
	}
	an := newAnalyser(view)
	lin := an.statement(tree)
	if !lin.ok {
		return refuse(lin.why)
	}
	traced, ok := align(lin.outputs, len(req.Columns))
	if !ok {
		return refuse("its outputs cannot be traced")
	}
	for i, c := range req.Columns {
		t := traced[i]
		// A source that is no relation of the catalog is a recursive WITH
		// query, which SQLite keeps as a table of its own: the trace
		// follows it instead.
		if o := rep.Columns[i]; o.Column != "" && known(view, o) && !passesThrough(t, o) {
			return refuse(fmt.Sprintf("the target says output column %q is %s, which the trace does not find", c.Name, o))
		}
		plan, refusal := judge(c.Name, t, rules)
		if refusal != nil {
			return refusal
		}
		if plan.rule != nil {
			plan.key = m.key("column:" + plan.source)
		}
		m.plans[i] = plan
	}
	return nil
}

// matching is the first rule that masks source column s for the caller.
func matching(rules []*columnRule, s SourceColumn) *columnRule {
	rel := &relInfo{Relation: Relation{Schema: strings.ToLower(s.Schema), Name: strings.ToLower(s.Table), Columns: []string{strings.ToLower(s.Column)}}}
	for _, r := range rules {
		if r.matches(rel, 0) {
			return r
		}
	}
	return nil
}

// passesThrough reports whether t may be source column o's value
// unchanged.
func passesThrough(t taint, o SourceColumn) bool {
	for _, s := range t.direct {
		if strings.EqualFold(s.rel.Schema, o.Schema) && strings.EqualFold(s.rel.Name, o.Table) && strings.EqualFold(s.rel.Columns[s.col], o.Column) {
			return true
		}
	}
	return false
}

// known reports whether o's table is a relation of the catalog view.
func known(v *catalogView, o SourceColumn) bool {
	for _, r := range v.all() {
		if strings.EqualFold(r.Schema, o.Schema) && strings.EqualFold(r.Name, o.Table) {
			return true
		}
	}
	return false
}
