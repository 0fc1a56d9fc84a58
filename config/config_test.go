package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadFull(t *testing.T) {
	cfg, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := filepath.Abs("testdata")
	if got, want := cfg.Store, "sqlite://"+filepath.Join(dir, "audit/warden.db"); got != want {
		t.Errorf("store = %q, want %q", got, want)
	}
	if cfg.Listen.MCP != "127.0.0.1:9000" {
		t.Errorf("listen = %q", cfg.Listen.MCP)
	}
	if cfg.Limits.MaxRows != 1000 || cfg.Limits.DefaultMaxRows != DefaultDefaultMaxRows || cfg.Limits.StatementTimeout != 5*time.Second {
		t.Errorf("limits = %+v", cfg.Limits)
	}
	demo, ok := cfg.Connection("demo")
	if !ok || demo.Path != filepath.Join(dir, "demo.db") || demo.Credentials != "static" {
		t.Errorf("demo connection = %+v", demo)
	}
	pg, _ := cfg.Connection("prod-pg")
	if pg.Admin.Env != "PROD_PG_PASSWORD" || pg.Labels["env"] != "prod" {
		t.Errorf("prod-pg = %+v", pg)
	}
	if len(cfg.Rules) != 2 || cfg.Rules[0].Line != 24 || cfg.Rules[1].Message != "not today" {
		t.Errorf("rules = %+v", cfg.Rules)
	}
	if g := cfg.Groups("alice"); len(g) != 2 {
		t.Errorf("groups = %v", g)
	}
	if w := cfg.Warnings(); len(w) != 1 || !strings.Contains(w[0], "static credentials") {
		t.Errorf("warnings = %v", w)
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := Parse("/etc/warden/warden.yaml", []byte("connections: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store != "sqlite:///etc/warden/warden.db" || cfg.Listen.MCP != DefaultListen {
		t.Errorf("defaults: store %q listen %q", cfg.Store, cfg.Listen.MCP)
	}
	if cfg.Limits.MaxSQLBytes != DefaultMaxSQLBytes || cfg.Limits.MaxRows != DefaultMaxRows || cfg.Limits.StatementTimeout != DefaultStatementTimeout {
		t.Errorf("limits = %+v", cfg.Limits)
	}
}

// TestErrors checks that each mistake is reported at its line with what
// was expected.
func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings, each must appear, in order of lines
	}{
		{"empty", "", []string{"w.yaml: the file is empty"}},
		{"not yaml", "a: [1, 2", []string{"w.yaml"}},
		{"unknown top key", "listen: {mcp: 127.0.0.1:1}\nstorage: x\n", []string{`w.yaml:2:1: unknown key "storage" in the top level (expected one of: `, "connections, identity, include, limits, listen, ", "rules, ssh_ca, store)"}},
		{"unknown nested key", "connections:\n  - name: a\n    kind: sqlite\n    path: x.db\n    pasword_env: X\n", []string{`w.yaml:5:5: unknown key "pasword_env" in connections[0]`}},
		{"wrong shape", "connections: {name: a}\n", []string{"w.yaml:1:14: connections: expected a list, got a mapping"}},
		{"wrong type", "limits:\n  max_rows: lots\n", []string{`w.yaml:2:13: limits.max_rows: expected a whole number such as 100; got "lots"`}},
		{"bad duration", "limits:\n  statement_timeout: soon\n", []string{`w.yaml:2:22: limits.statement_timeout: expected a duration such as 10s or 2m; got "soon"`}},
		{"duration without unit", "limits:\n  statement_timeout: 10\n", []string{"w.yaml:2:22: limits.statement_timeout: expected a duration such as 10s or 2m; got 10 (add a unit)"}},
		{"quoted duration without unit", "limits:\n  statement_timeout: \"10\"\n", []string{`got "10" (add a unit)`}},
		{"wrong type in a list", "connections:\n  - {name: a, kind: sqlite, path: x}\n  - {name: b, kind: postgres, max_conns: lots}\n", []string{`w.yaml:3:42: connections[1].max_conns: expected a whole number such as 100; got "lots"`}},
		{"number out of range", "limits:\n  max_rows: 99999999999999999999\n", []string{"limits.max_rows: expected a whole number such as 100; got 99999999999999999999 (out of range)"}},
		{"not a boolean", "identity:\n  allow_anonymous_loopback: sure\n", []string{`w.yaml:2:29: identity.allow_anonymous_loopback: expected true or false; got "sure"`}},
		{"list for a single value", "store: [a, b]\n", []string{"w.yaml:1:8: store: expected a single value (text), got a list"}},
		{"key written twice", "limits:\n  max_rows: 5\n  max_rows: 6\n", []string{"w.yaml:3:3: limits.max_rows: written twice (first at line 2); remove one"}},
		{"merged mapping checked", "base: &b {max_rows: lots}\nlimits:\n  <<: *b\n", []string{`w.yaml:1:1: unknown key "base"`, `w.yaml:1:21: limits.max_rows: expected a whole number such as 100; got "lots"`}},
		{"missing kind", "connections:\n  - name: a\n", []string{"w.yaml:2:5: connections[0]: kind is required (postgres, mysql, sqlite, ssh or kubernetes)"}},
		{"bad kind", "connections:\n  - name: a\n    kind: oracle\n", []string{`w.yaml:3:11: connections[0].kind: expected postgres, mysql, sqlite, ssh or kubernetes, got "oracle"`}},
		{"postgres needs", "connections:\n  - name: a\n    kind: postgres\n", []string{"address (host:port) is required", "database is required", "admin.user is required", "password_env or password_file is required"}},
		{"duplicate connection", "connections:\n  - {name: a, kind: sqlite, path: x}\n  - {name: a, kind: sqlite, path: y}\n", []string{`w.yaml:3:12: connections[1].name: connection "a" is defined twice`}},
		{"bad name", "connections:\n  - {name: Prod DB, kind: sqlite, path: x}\n", []string{"must be lower-case"}},
		{"both secrets", "connections:\n  - {name: a, kind: postgres, address: 'h:1', database: d, admin: {user: u, password_env: A, password_file: f}}\n", []string{"set password_env or password_file, not both"}},
		{"jit on sqlite", "connections:\n  - {name: a, kind: sqlite, path: x, credentials: jit}\n", []string{"jit credentials need a postgres, mysql, ssh or kubernetes connection"}},
		{"jit bounds", "connections:\n  - {name: a, kind: postgres, address: 'h:1', database: d, credentials: jit, jit: {ttl: 5s}, admin: {user: u, password_env: A}}\n", []string{"ttl must be at least 1m"}},
		{"sqlite extras", "connections:\n  - {name: a, kind: sqlite, path: x, address: 'h:1'}\n", []string{"a sqlite connection takes only a path"}},
		{"bad effect", "rules:\n  - name: r\n    effect: permit\n", []string{`w.yaml:3:13: rules[0].effect: expected one of allow, deny, review, got "permit"`}},
		{"rule names missing connection", "rules:\n  - name: r\n    effect: allow\n    connections: {names: [nope]}\n", []string{`w.yaml:4:27: rules[0].connections.names: no connection named "nope"`}},
		{"deny with constraints", "rules:\n  - {name: r, effect: deny, max_rows: 3}\n", []string{"a deny rule takes no constraints"}},
		{"unknown statement kind", "rules:\n  - {name: r, effect: allow, read_only: false, statements: [read, transaction]}\n", []string{`unknown statement kind "transaction"`}},
		{"read_only with write kinds", "rules:\n  - {name: r, effect: allow, read_only: true, statements: [read, write]}\n", []string{`read_only: true admits only read statements, but statements lists "write"`}},
		{"read_only with write tables", "rules:\n  - {name: r, effect: allow, read_only: true, tables: {write: [a.b]}}\n", []string{"tables.write is set"}},
		{"bad table glob", "rules:\n  - {name: r, effect: allow, tables: {read: [a.b.c, 'x.[']}}\n", []string{`"a.b.c": expected schema.table or table`, `"x.[": bad glob`}},
		{"include matches nothing", "include: [nothing-*.yaml]\n", []string{`w.yaml:1:11: include: "nothing-*.yaml" matches no file`}},
		{"duplicate rule", "rules:\n  - {name: r, effect: deny}\n  - {name: r, effect: deny}\n", []string{`rule "r" is defined twice`}},
		{"bad listen", "listen: {mcp: localhost}\n", []string{`listen.mcp: expected host:port`}},
		{"bad store", "store: mysql://x\n", []string{"store: expected sqlite://PATH"}},
		{"postgres store", "store: postgres://u@db/warden\n", []string{"w.yaml:1:8: store: a PostgreSQL store (for several replicas) is not available in this build yet"}},
		{"limits", "limits: {default_max_rows: 50, max_rows: 10}\n", []string{"limits.default_max_rows (50) is larger than limits.max_rows (10)"}},
		{"several at once", "connections:\n  - {name: a}\nrules:\n  - {name: r, effect: x}\n", []string{"w.yaml:2", "w.yaml:4"}},
		{"oidc without resource", "identity:\n  oidc:\n    - issuer: https://idp.example.com\n", []string{"w.yaml:3:5: identity.resource is required with identity.oidc"}},
		{"oidc without issuer", "identity:\n  resource: https://w.example.com/mcp\n  oidc:\n    - {groups_claim: groups}\n", []string{"w.yaml:4:7: identity.oidc[0]: issuer is required"}},
		{"oidc http issuer", "identity:\n  resource: https://w.example.com/mcp\n  oidc:\n    - issuer: http://idp.example.com\n", []string{`w.yaml:4:15: identity.oidc[0].issuer: expected an https:// URL (http:// is accepted only for localhost), got "http://idp.example.com"`}},
		{"oidc relative issuer", "identity:\n  resource: https://w.example.com/mcp\n  oidc:\n    - issuer: idp.example.com\n", []string{"identity.oidc[0].issuer: expected an absolute https:// URL"}},
		{"oidc issuer with query", "identity:\n  resource: https://w.example.com/mcp\n  oidc:\n    - issuer: https://idp.example.com/?x=1\n", []string{"without query"}},
		{"oidc duplicate issuer", "identity:\n  resource: https://w.example.com/mcp\n  oidc:\n    - issuer: https://idp.example.com\n    - issuer: https://idp.example.com\n", []string{`w.yaml:5:15: identity.oidc[1].issuer: issuer "https://idp.example.com" is listed twice`}},
		{"oidc duplicate name", "identity:\n  resource: https://w.example.com/mcp\n  oidc:\n    - {name: a, issuer: https://a.example.com}\n    - {name: a, issuer: https://b.example.com}\n", []string{`identity.oidc[1].name: name "a" is used twice`}},
		{"oidc bad claim", "identity:\n  resource: https://w.example.com/mcp\n  oidc:\n    - {issuer: https://a.example.com, groups_claim: my groups}\n", []string{`identity.oidc[0].groups_claim: "my groups" must not contain spaces`}},
		{"oidc bad scope", "identity:\n  resource: https://w.example.com/mcp\n  oidc:\n    - {issuer: https://a.example.com, scopes: [\"a b\"]}\n", []string{`identity.oidc[0].scopes: "a b" is not a scope`}},
		{"oidc unknown key", "identity:\n  resource: https://w.example.com/mcp\n  oidc:\n    - {issuer: https://a.example.com, group_claim: g}\n", []string{`unknown key "group_claim" in identity.oidc[0]`}},
		{"bad resource", "identity:\n  resource: /mcp\n", []string{`w.yaml:2:13: identity.resource: expected an absolute https:// URL, got "/mcp"`}},
		{"authorization server not trusted", "identity:\n  resource: https://w.example.com/mcp\n  authorization_servers: [https://b.example.com]\n  oidc:\n    - issuer: https://a.example.com\n", []string{`identity.authorization_servers: "https://b.example.com" is not one of the identity.oidc issuers`}},
		{"authorization servers without oidc", "identity:\n  authorization_servers: [https://b.example.com]\n", []string{"identity.authorization_servers: set identity.oidc too"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("w.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("expected an error")
			}
			msg := err.Error()
			at := 0
			for _, w := range tt.want {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("error %q\ndoes not contain (after offset %d) %q", msg, at, w)
				}
				at += i
			}
			if es := AsErrors(err); len(es) == 0 {
				t.Errorf("error is not config.Errors: %T", err)
			}
		})
	}
}

func TestSecretRef(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	os.WriteFile(file, []byte("s3cret-from-file\n"), 0o600)
	t.Setenv("WARDEN_TEST_SECRET", "s3cret-from-env")

	for _, tt := range []struct {
		ref     SecretRef
		want    string
		wantErr string
	}{
		{SecretRef{Env: "WARDEN_TEST_SECRET"}, "s3cret-from-env", ""},
		{SecretRef{File: file}, "s3cret-from-file", ""},
		{SecretRef{Env: "WARDEN_TEST_UNSET_VAR"}, "", "environment variable WARDEN_TEST_UNSET_VAR is not set"},
		{SecretRef{File: filepath.Join(dir, "nope")}, "", "read " + filepath.Join(dir, "nope")},
		{SecretRef{}, "", "no password_env or password_file"},
	} {
		s, err := tt.ref.Resolve()
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err = %v, want %q", tt.ref.Describe(), err, tt.wantErr)
			}
			continue
		}
		if err != nil || s.Reveal() != tt.want {
			t.Errorf("%s: got %q, %v", tt.ref.Describe(), s.Reveal(), err)
		}
		// The value never leaks through formatting.
		for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), mustJSON(t, s), mustJSON(t, struct{ P Secret }{s})} {
			if strings.Contains(out, tt.want) {
				t.Errorf("secret leaked through formatting: %q", out)
			}
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestInclude(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "rules.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "rules.d", "10-agents.yaml"), []byte(`rules:
  - name: agents-read
    effect: allow
    tables: {read: ["public.*"]}
`), 0o644)
	os.WriteFile(filepath.Join(dir, "rules.d", "20-ops.yaml"), []byte(`rules:
  - name: ops
    effect: allow
    read_only: false
    statements: [read, write, ddl]
`), 0o644)
	main := filepath.Join(dir, "warden.yaml")
	os.WriteFile(main, []byte("include: [rules.d/*.yaml]\nrules:\n  - {name: first, effect: deny}\n"), 0o644)
	cfg, err := Load(main)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Rules) != 3 || cfg.Rules[0].Name != "first" || cfg.Rules[1].Name != "agents-read" || cfg.Rules[2].Name != "ops" {
		t.Fatalf("rules = %+v", cfg.Rules)
	}
	if r := cfg.Rules[2]; r.File != filepath.Join(dir, "rules.d", "20-ops.yaml") || r.Line != 2 || len(r.Statements) != 3 {
		t.Errorf("included rule = %+v", r)
	}

	// Errors in an included file name that file and line.
	os.WriteFile(filepath.Join(dir, "rules.d", "30-bad.yaml"), []byte("rules:\n  - name: first\n    effect: allow\n    tabels: {}\n"), 0o644)
	_, err = Load(main)
	bad := filepath.Join(dir, "rules.d", "30-bad.yaml")
	for _, want := range []string{bad + `:4:5: unknown key "tabels" in rules[0]`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
	os.WriteFile(bad, []byte("rules:\n  - name: first\n    effect: permit\n"), 0o644)
	_, err = Load(main)
	for _, want := range []string{bad + `:3:13: rules[0].effect: expected one of allow, deny, review, got "permit"`, bad + `:2:11: rules[0].name: rule "first" is defined twice`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
}

func TestOIDCConfig(t *testing.T) {
	cfg, err := Parse("w.yaml", []byte(`
identity:
  local: alice
  resource: https://warden.example.com/mcp
  oidc:
    - issuer: https://humans.example.com
      subject_claim: email
      groups_claim: groups
      scopes: [warden]
    - name: machines
      issuer: http://127.0.0.1:9999/realms/ci
      audience: api://warden
      groups_claim: roles
`))
	if err != nil {
		t.Fatal(err)
	}
	id := cfg.Identity
	h, m := id.OIDC[0], id.OIDC[1]
	if h.Name != "https://humans.example.com" || h.Audience != "https://warden.example.com/mcp" || h.SubjectClaim != "email" || len(h.Scopes) != 1 {
		t.Errorf("humans = %+v", h)
	}
	if m.Name != "machines" || m.Audience != "api://warden" || m.SubjectClaim != "sub" {
		t.Errorf("machines = %+v", m)
	}
	if len(id.AuthorizationServers) != 2 || id.AuthorizationServers[1] != "http://127.0.0.1:9999/realms/ci" {
		t.Errorf("authorization servers = %v", id.AuthorizationServers)
	}
	w := strings.Join(cfg.Warnings(), "\n")
	for _, want := range []string{`share subject_prefix ""`, `share groups_prefix ""`} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}

	// Prefixes keep the issuers apart: no warning.
	cfg, err = Parse("w.yaml", []byte(`
identity:
  resource: https://warden.example.com/mcp
  authorization_servers: [https://humans.example.com]
  oidc:
    - {issuer: https://humans.example.com, groups_claim: groups}
    - {issuer: https://machines.example.com, groups_claim: roles, subject_prefix: "m:", groups_prefix: "m:"}
`))
	if err != nil {
		t.Fatal(err)
	}
	if w := cfg.Warnings(); len(w) != 0 {
		t.Errorf("warnings = %v", w)
	}
	if len(cfg.Identity.AuthorizationServers) != 1 {
		t.Errorf("authorization servers = %v", cfg.Identity.AuthorizationServers)
	}
}
