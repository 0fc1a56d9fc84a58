package policy

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/config"
)

const rulesYAML = `
connections:
  - {name: prod, kind: sqlite, path: p.db, labels: {env: prod}}
  - {name: staging, kind: sqlite, path: s.db, labels: {env: staging}}
  - {name: scratch, kind: sqlite, path: x.db}
rules:
  - name: agents-read-prod
    subjects: {groups: [agents]}
    connections: {labels: {env: prod}}
    tools: [run_query, describe_schema]
    effect: allow
    max_rows: 100
    timeout: 2s
  - name: dba-write-staging
    subjects: {groups: [dba]}
    connections: {names: [staging]}
    effect: allow
    read_only: false
  - name: agents-staging-review
    subjects: {groups: [agents]}
    connections: {names: [staging]}
    tools: [run_query]
    effect: review
  - name: broad-agents
    subjects: {groups: [agents]}
    effect: allow
  - name: mallory-out
    subjects: {identities: [mallory]}
    effect: deny
    message: mallory is suspended
`

func compile(t *testing.T, yaml string) *Engine {
	t.Helper()
	cfg, err := config.Parse("rules.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile(cfg, []string{"run_query", "describe_schema", "list_connections"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestDecide(t *testing.T) {
	e := compile(t, rulesYAML)
	conn := func(name, env string) Connection {
		c := Connection{Name: name, Kind: "sqlite"}
		if env != "" {
			c.Labels = map[string]string{"env": env}
		}
		return c
	}
	tests := []struct {
		name     string
		in       Input
		effect   Effect
		rule     string
		readOnly bool
		maxRows  int
		timeout  time.Duration
		matched  []string
	}{
		{"default deny for a stranger", Input{Subject: "eve", Connection: conn("prod", "prod"), Tool: "run_query"}, Deny, "", false, 0, 0, nil},
		{"first allow supplies constraints", Input{Subject: "a", Groups: []string{"agents"}, Connection: conn("prod", "prod"), Tool: "run_query"},
			Allow, "agents-read-prod", true, 100, 2 * time.Second, []string{"agents-read-prod", "broad-agents"}},
		{"label mismatch falls to broad rule", Input{Subject: "a", Groups: []string{"agents"}, Connection: conn("scratch", ""), Tool: "run_query"},
			Allow, "broad-agents", true, 0, 0, []string{"broad-agents"}},
		{"review beats allow", Input{Subject: "a", Groups: []string{"agents"}, Connection: conn("staging", "staging"), Tool: "run_query"},
			Review, "agents-staging-review", true, 0, 0, []string{"agents-staging-review", "broad-agents"}},
		{"review only for its tool", Input{Subject: "a", Groups: []string{"agents"}, Connection: conn("staging", "staging"), Tool: "describe_schema"},
			Allow, "broad-agents", true, 0, 0, []string{"broad-agents"}},
		{"explicit read_only false", Input{Subject: "d", Groups: []string{"dba"}, Connection: conn("staging", "staging"), Tool: "run_query"},
			Allow, "dba-write-staging", false, 0, 0, []string{"dba-write-staging"}},
		{"deny beats everything", Input{Subject: "mallory", Groups: []string{"agents", "dba"}, Connection: conn("staging", "staging"), Tool: "run_query"},
			Deny, "mallory-out", false, 0, 0, []string{"dba-write-staging", "agents-staging-review", "broad-agents", "mallory-out"}},
		{"group not held", Input{Subject: "a", Groups: []string{"agentsX"}, Connection: conn("prod", "prod"), Tool: "run_query"}, Deny, "", false, 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := e.Decide(context.Background(), tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Effect != tt.effect || d.Rule != tt.rule || d.ReadOnly != tt.readOnly || d.MaxRows != tt.maxRows || d.Timeout != tt.timeout {
				t.Errorf("got %+v", d)
			}
			if !reflect.DeepEqual(d.Matched(), tt.matched) {
				t.Errorf("matched = %v, want %v", d.Matched(), tt.matched)
			}
			if d.Reason == "" {
				t.Error("a decision always carries a reason")
			}
		})
	}
	d, _ := e.Decide(context.Background(), Input{Subject: "mallory", Tool: "run_query", Connection: conn("prod", "prod")})
	if d.Reason != "mallory is suspended" {
		t.Errorf("deny message = %q", d.Reason)
	}
}

func TestCompileErrors(t *testing.T) {
	cfg, err := config.Parse("r.yaml", []byte("rules:\n  - name: r\n    effect: allow\n    tools: [run_query, drop_database]\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Compile(cfg, []string{"run_query"})
	if err == nil || err.Error() != `r.yaml:4:24: rules[0].tools: unknown tool "drop_database" (known: [run_query])` {
		t.Fatalf("err = %v", err)
	}
}

func TestVersionAndWrites(t *testing.T) {
	a := compile(t, rulesYAML)
	b := compile(t, rulesYAML)
	if a.Version() != b.Version() || a.Version() == "" {
		t.Error("the same rules must have the same version")
	}
	c := compile(t, rulesYAML+"  - {name: extra, effect: deny}\n")
	if c.Version() == a.Version() {
		t.Error("changed rules must change the version")
	}
	if !a.AllowsWrites("run_query") {
		t.Error("dba-write-staging allows writes")
	}
	ro := compile(t, "rules:\n  - {name: r, effect: allow, tools: [run_query]}\n")
	if ro.AllowsWrites("run_query") {
		t.Error("rules are read-only by default")
	}
}

func TestWhenTypeChecked(t *testing.T) {
	for _, tc := range []struct{ when, want string }{
		{"statement.kindz == 1", "undefined field 'kindz'"},
		{"identity", "must be a bool"},
		{"'x' in statement.tables_read &&", "Syntax error"},
		{"connection.labels.env == 3", "no matching overload"},
	} {
		cfg, err := config.Parse("r.yaml", []byte("rules:\n  - name: r\n    effect: allow\n    when: \""+tc.when+"\"\n"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = Compile(cfg, []string{"run_query"})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "r.yaml:4") {
			t.Errorf("%q: err = %v, want %q at r.yaml:4", tc.when, err, tc.want)
		}
	}
}

func TestLint(t *testing.T) {
	cfg, err := config.Parse("lint.yaml", []byte(`
identity:
  users: [{name: alice, groups: [agents]}]
connections:
  - {name: prod, kind: sqlite, path: p.db, labels: {env: prod}}
rules:
  - {name: all-off, effect: deny, connections: {names: [prod]}}
  - {name: shadowed, effect: allow, subjects: {groups: [agents]}, connections: {names: [prod]}}
  - {name: ghost-labels, effect: allow, connections: {labels: {env: qa}}}
  - {name: strangers, effect: allow, subjects: {identities: [zed], groups: [nobody]}}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(Lint(cfg), "\n")
	for _, want := range []string{
		`lint.yaml:8: rule "shadowed": never takes effect: rule "all-off" (line 7) denies everything it matches`,
		`lint.yaml:9: rule "ghost-labels": can never match`,
		`rule "strangers": identity "zed" is not a configured user`,
		`rule "strangers": no configured user is in group "nobody"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("lint output lacks %q:\n%s", want, got)
		}
	}
}

// TestWhenSeesTransportAndResources: a rule's when reads the transport and
// the protocol-neutral resources of the facts, and tables: scopes match
// resources by namespace and name, an unqualified pattern in the
// connection's namespace.
func TestWhenSeesTransportAndResources(t *testing.T) {
	e := compile(t, `
rules:
  - {name: proxy-only, effect: deny, when: "transport == 'postgres-proxy' && statement.written.exists(r, r.namespace == 'billing')"}
  - {name: r, effect: allow, read_only: false, tables: {read: [items], write: [items, "billing.*"]}}
`)
	facts := func(ns, name string) *Facts {
		res := []Resource{{Kind: ResourceTable, Namespace: ns, Name: name, Text: ns + "." + name}}
		return &Facts{Parts: []Part{{Kind: KindWrite, Kinds: []string{KindRead, KindWrite}, Tag: "UPDATE", Read: res, Written: res}},
			Kinds: []string{KindRead, KindWrite}, Read: res, Written: res}
	}
	conn := Connection{Name: "c", Kind: "postgres", Namespace: "public"}
	for _, tc := range []struct {
		transport, ns, name string
		want                Effect
		rule                string
	}{
		{"stdio", "billing", "invoices", Allow, "r"},
		{"postgres-proxy", "billing", "invoices", Deny, "proxy-only"},
		{"postgres-proxy", "public", "items", Allow, "r"},
		{"stdio", "other", "items", Deny, "r"},
	} {
		d, err := e.Decide(context.Background(), Input{Subject: "a", Tool: "run_query", Transport: tc.transport, Connection: conn, Facts: facts(tc.ns, tc.name)})
		if err != nil {
			t.Fatal(err)
		}
		if d.Effect != tc.want || d.Rule != tc.rule {
			t.Errorf("%s %s.%s: %s by %q (%s), want %s by %q", tc.transport, tc.ns, tc.name, d.Effect, d.Rule, d.Reason, tc.want, tc.rule)
		}
	}
}
