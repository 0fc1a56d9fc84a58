package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommandsConfig: a rule's commands: list is decoded as written, an
// empty flags list kept apart from none, and the shell kinds admitted.
func TestCommandsConfig(t *testing.T) {
	cfg, err := Parse("w.yaml", []byte(`rules:
  - name: hosts
    effect: allow
    read_only: false
    statements: [read, privileged]
    commands:
      - program: ls
        flags: []
      - program: git
        subcommands: [log, status]
        deny_flags: [-c, --exec-path]
      - program: sudo
`))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Rules[0].Commands
	if len(c) != 3 || c[0].Program != "ls" || c[0].Flags == nil || len(c[0].Flags) != 0 || c[1].Subcommands[1] != "status" ||
		c[1].DenyFlags[1] != "--exec-path" || c[2].Flags != nil {
		t.Errorf("commands = %+v", c)
	}
}

// TestCommandsErrors: each mistake in commands: is reported at its line.
func TestCommandsErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "rules:\n  - name: r\n    effect: allow\n    commands:\n      - {program: ls, flag: [-l]}\n",
			[]string{`w.yaml:5:23: unknown key "flag" in rules[0].commands[0] (expected one of: deny_flags, flags, program, subcommands)`}},
		{"empty program", "rules:\n  - name: r\n    effect: allow\n    commands:\n      - {flags: [-l]}\n",
			[]string{"w.yaml:5:9: rules[0].commands[0]: program is required"}},
		{"a path", "rules:\n  - name: r\n    effect: allow\n    commands:\n      - {program: /bin/ls}\n",
			[]string{`w.yaml:5:19: rules[0].commands[0].program: "/bin/ls" is not a program's base name`}},
		{"duplicate program", "rules:\n  - name: r\n    effect: allow\n    commands:\n      - {program: ls}\n      - {program: ls, flags: [-l]}\n",
			[]string{`w.yaml:6:19: rules[0].commands[1].program: "ls" is listed twice (also commands[0])`}},
		{"on a deny rule", "rules:\n  - name: r\n    effect: deny\n    commands:\n      - {program: rm}\n",
			[]string{"w.yaml:2:5: rules[0]: a deny rule takes no constraints (read_only, statements, tables, multi_statement, commands,"}},
		{"empty list", "rules:\n  - name: r\n    effect: allow\n    commands: []\n",
			[]string{"w.yaml:4:15: rules[0].commands: an empty list admits no command"}},
		{"empty subcommands", "rules:\n  - name: r\n    effect: allow\n    commands:\n      - {program: git, subcommands: []}\n",
			[]string{"rules[0].commands[0].subcommands: an empty list admits no command"}},
		{"flag as subcommand", "rules:\n  - name: r\n    effect: allow\n    commands:\n      - {program: git, subcommands: [-c]}\n",
			[]string{`rules[0].commands[0].subcommands: "-c" is not a subcommand`}},
		{"not a flag", "rules:\n  - name: r\n    effect: allow\n    commands:\n      - program: find\n        deny_flags: [exec, '--', --output=x, '-']\n",
			[]string{`w.yaml:6:22: rules[0].commands[0].deny_flags: "exec" is not a flag`, `"--" is not a flag`, `"--output=x" is not a flag`, `"-" is not a flag`}},
		{"both lists", "rules:\n  - name: r\n    effect: allow\n    commands:\n      - {program: ls, flags: [-l], deny_flags: [-R]}\n",
			[]string{"rules[0].commands[0]: set flags (the only flags admitted) or deny_flags, not both"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("w.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("expected an error")
			}
			msg, at := err.Error(), 0
			for _, w := range tt.want {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("error %q\ndoes not contain (after offset %d) %q", msg, at, w)
				}
				at += i
			}
		})
	}
}

// TestCommandsErrorInInclude: a mistake in an included file's commands:
// is reported at its own file and line.
func TestCommandsErrorInInclude(t *testing.T) {
	dir := t.TempDir()
	inc := filepath.Join(dir, "hosts.yaml")
	if err := os.WriteFile(inc, []byte("rules:\n  - name: r\n    effect: allow\n    commands:\n      - {program: ls}\n      - {program: ls}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Parse(filepath.Join(dir, "w.yaml"), []byte("include: [hosts.yaml]\n"))
	if err == nil || !strings.Contains(err.Error(), inc+`:6:19: rules[0].commands[1].program: "ls" is listed twice`) {
		t.Errorf("err = %v", err)
	}
}
