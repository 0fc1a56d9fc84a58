package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckReportsEverything: type errors do not hide the rest. Every
// problem of the file and of its included files is reported, in file and
// line order, each with its key path; what did decode is kept, and a
// value that could not be decoded is reported once, not again by the
// checks that would have looked at it.
func TestCheckReportsEverything(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "rules.d"), 0o755)
	inc := filepath.Join(dir, "rules.d", "10-more.yaml")
	os.WriteFile(inc, []byte(`rules:
  - name: more
    effect: allow
    max_rows: many
  - name: other
    effect: maybe
`), 0o644)
	main := filepath.Join(dir, "warden.yaml")
	os.WriteFile(main, []byte(`include: [rules.d/*.yaml]
limits:
  statement_timeout: 10
connections:
  - {name: demo, kind: sqlite, path: demo.db}
  - name: [pg]
    kind: oracle
    max_conns: lots
rules:
  - name: r
    effect: allow
    connections: {names: [nope]}
    timeout: soon
    tabels: {}
`), 0o644)

	cfg, err := Check(main)
	if cfg == nil {
		t.Fatalf("no configuration returned with the errors: %v", err)
	}
	if len(cfg.Connections) != 2 || len(cfg.Rules) != 3 {
		t.Errorf("decoded %d connections, %d rules; want 2, 3", len(cfg.Connections), len(cfg.Rules))
	}
	es := AsErrors(err)
	type want struct {
		file         string
		line, column int
		key, msg     string
	}
	wants := []want{
		{main, 3, 22, "limits.statement_timeout", "limits.statement_timeout: expected a duration such as 10s or 2m; got 10 (add a unit)"},
		{main, 6, 11, "connections[1].name", "connections[1].name: expected a single value (text), got a list"},
		{main, 7, 11, "connections[1].kind", `connections[1].kind: expected postgres, mysql, sqlite, ssh or kubernetes, got "oracle"`},
		{main, 8, 16, "connections[1].max_conns", `connections[1].max_conns: expected a whole number such as 100; got "lots"`},
		{main, 12, 27, "rules[0].connections.names[0]", `rules[0].connections.names: no connection named "nope"`},
		{main, 13, 14, "rules[0].timeout", `rules[0].timeout: expected a duration such as 10s or 2m; got "soon"`},
		{main, 14, 5, "rules[0].tabels", `unknown key "tabels" in rules[0]`},
		{inc, 4, 15, "rules[0].max_rows", `rules[0].max_rows: expected a whole number such as 100; got "many"`},
		{inc, 6, 13, "rules[1].effect", `rules[1].effect: expected one of allow, deny, review, got "maybe"`},
	}
	if len(es) != len(wants) {
		t.Errorf("%d errors, want %d:\n%v", len(es), len(wants), err)
	}
	for i, w := range wants {
		if i >= len(es) {
			break
		}
		e := es[i]
		if e.File != w.file || e.Line != w.line || e.Column != w.column || e.Key != w.key || !strings.HasPrefix(e.Msg, w.msg) {
			t.Errorf("error %d = %s:%d:%d [%s] %s\nwant %s:%d:%d [%s] %s", i, e.File, e.Line, e.Column, e.Key, e.Msg, w.file, w.line, w.column, w.key, w.msg)
		}
	}
	// Load refuses the same file, with the same list.
	if _, lerr := Load(main); lerr == nil || lerr.Error() != err.Error() {
		t.Errorf("Load: %v", lerr)
	}
	// The JSON form is what `warden config check --json` prints.
	b, _ := json.Marshal(es[0])
	if got := string(b); got != `{"file":"`+main+`","line":3,"column":22,"key":"limits.statement_timeout","message":"limits.statement_timeout: expected a duration such as 10s or 2m; got 10 (add a unit)"}` {
		t.Errorf("JSON = %s", got)
	}
}

// TestCombine: a later stage's errors join the configuration's, in order,
// without repeating what could not be decoded.
func TestCombine(t *testing.T) {
	cfg, err := Check(writeFile(t, "rules:\n  - name: r\n    effect: allow\n    tools: [{x: 1}, run_query]\n    when: \"1 +\"\nlimits: {max_rows: x}\n"))
	if cfg == nil {
		t.Fatal(err)
	}
	later := Errors{
		cfg.Errorf("rules[0].tools[0]", "rules[0].tools: unknown tool %q", ""),
		cfg.Errorf("rules[0].when", "rule %q: when: syntax error", "r"),
	}
	all := AsErrors(cfg.Combine(err, later))
	var got []string
	for _, e := range all {
		got = append(got, e.Key)
	}
	if strings.Join(got, " ") != "rules[0].tools[0] rules[0].when limits.max_rows" {
		t.Errorf("combined keys = %v\n%v", got, all)
	}
	if cfg.Combine(nil, nil) != nil {
		t.Error("Combine of no errors is not nil")
	}
}

func writeFile(t *testing.T, text string) string {
	p := filepath.Join(t.TempDir(), "w.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
