package policy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/policy/cmdclass"
)

func compileRules(t *testing.T, rules string) *policy.Engine {
	t.Helper()
	cfg, err := config.Parse("rules.yaml", []byte("rules:\n"+rules))
	if err != nil {
		t.Fatal(err)
	}
	e, err := policy.Compile(cfg, []string{"run_query", "exec_ssh"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// decideLine classifies line as exec_ssh's classifier does and decides it.
func decideLine(t *testing.T, e *policy.Engine, line string) policy.Decision {
	t.Helper()
	f, err := cmdclass.New(cmdclass.Options{}).Classify(context.Background(), policy.ClassifyRequest{Statement: line})
	if err != nil {
		t.Fatalf("classify %q: %v", line, err)
	}
	d, err := e.Decide(context.Background(), policy.Input{Subject: "agent", Tool: "exec_ssh", Connection: policy.Connection{Name: "host", Kind: "ssh"},
		Statement: line, Facts: &f})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestCommandLineIsOneCall: a shell line's pipelines and lists are one
// call, whatever multi_statement says; SQL's statements are still one per
// call, and that refusal's hint says so.
func TestCommandLineIsOneCall(t *testing.T) {
	e := compileRules(t, "  - {name: reads, effect: allow}\n")
	for _, line := range []string{"ps aux | grep nginx", "uptime; df -h && free -m || true", "for f in a b; do cat ./$f; done"} {
		if d := decideLine(t, e, line); d.Effect != policy.Allow {
			t.Errorf("%q: %s (%s)", line, d.Effect, d.Reason)
		}
	}
	sql := &policy.Facts{Parts: []policy.Part{
		{Kind: policy.KindRead, Kinds: []string{policy.KindRead}, Tag: "SELECT"},
		{Kind: policy.KindRead, Kinds: []string{policy.KindRead}, Tag: "SELECT"},
	}, Kinds: []string{policy.KindRead}, ReadOnly: true}
	in := policy.Input{Subject: "agent", Tool: "run_query", Connection: policy.Connection{Name: "db"}, Statement: "SELECT 1; SELECT 2", Facts: sql}
	d, err := e.Decide(context.Background(), in)
	if err != nil || d.Effect != policy.Deny || !strings.Contains(d.Reason, "holds 2 statements") || d.Hint != "Send one statement per call" {
		t.Errorf("two SQL statements: %+v, %v", d, err)
	}
	multi := compileRules(t, "  - {name: batches, effect: allow, multi_statement: true}\n")
	if d, err := multi.Decide(context.Background(), in); err != nil || d.Effect != policy.Allow {
		t.Errorf("multi_statement: %+v, %v", d, err)
	}
	if d := decideLine(t, compileRules(t, "  - {name: r, effect: allow, statements: [read, write], read_only: false}\n"), "ls /x; rm /tmp/y"); d.Effect != policy.Allow || d.Hint != "" {
		t.Errorf("a line with a write under a rule admitting writes: %+v", d)
	}
}

// commandsRule admits every kind, so that commands: is the only wall.
const commandsRule = `  - name: hosts
    effect: allow
    read_only: false
    statements: [read, write, network, exec, privileged]
    commands:
      - program: ls
      - program: cat
        flags: []
      - program: find
        deny_flags: [-exec, -execdir, -ok, -okdir, -delete, -fprint, -fprint0, -fprintf, -fls]
      - program: git
        subcommands: [log, status, diff, show]
        deny_flags: [-c, --exec-path, --config-env]
      - program: systemctl
        subcommands: [status, is-active]
      - program: journalctl
        flags: [-u, --unit, -n, --lines, --since, --until, --no-pager, -p]
      - program: tar
        flags: [-t, -v, -f, -z]
      - program: timeout
      - program: sudo
        flags: [-n]
`

// TestCommandsBypass: what commands: admits, and the ways around it an
// agent may try (wrappers, paths, clusters, --, values, abbreviations).
func TestCommandsBypass(t *testing.T) {
	e := compileRules(t, commandsRule)
	tests := []struct {
		line   string
		allow  bool
		reason string // for a refusal: what the reason must say
	}{
		{line: "ls -la /var/log", allow: true},
		{line: "ls /tmp | cat", allow: true},
		{line: "cat -n /etc/hosts", reason: `rule "hosts" admits cat only without flags; -n is one`},
		{line: "rm -rf /tmp/x", reason: "admits only the programs its commands list (ls, cat, find, git, systemctl, journalctl, tar, timeout, sudo); this command line runs rm"},
		{line: "ls /tmp; rm /tmp/x", reason: "runs rm"},
		{line: "ls /tmp && /bin/../bin/rm x", reason: "runs rm"},

		{line: "find /var/log -name '*.gz' -mtime +7", allow: true},
		{line: `find . -name x -exec rm {} \;`, reason: `does not admit find with the flag -exec`},
		{line: "find . -execdir ls ;", reason: "flag -execdir"},
		{line: "find /tmp -delete", reason: "flag -delete"},
		{line: "/bin/../bin/find -name x", reason: "admits find only as the system's program"},
		{line: "/bin/../bin/find -delete", reason: "admits find only as the system's program"},
		{line: "./ls", reason: "admits ls only as the system's program"},
		{line: "/tmp/sudo systemctl status", reason: "admits sudo only as the system's program"},
		{line: "/usr/bin/find . -delete", reason: "flag -delete"},
		{line: "find -- -delete", reason: "a word after -- is a flag all the same"},
		{line: "find . --delete", reason: "flag -delete (in --delete)"},
		{line: "find . -dele", reason: "flag -delete (in -dele)"},
		{line: "find . -fprint0 /tmp/out", reason: "flag -fprint0"},
		{line: "find . -name a -o -name b", allow: true},
		{line: "for a in -delete; do find . $a; done", reason: "flag -delete"},

		{line: "git log --oneline -n 5", allow: true},
		{line: "git --git-dir=/srv/app/.git log", allow: true},
		{line: "git -c core.pager=sh log", reason: "does not admit git with the flag -c"},
		{line: "git -pc core.pager=sh log", reason: "flag -c (in -pc)"},
		{line: "git --exec-path=/tmp log", reason: "flag --exec-path"},
		{line: "git --exec-pa=/tmp log", reason: "flag --exec-path (in --exec-pa=/tmp)"},
		{line: "git --config-env=core.pager=X log", reason: "flag --config-env"},
		{line: "git push origin main", reason: "admits git only with the subcommands log, status, diff, show; this is push"},
		{line: "git", reason: "this command has none"},
		{line: "git --no-pager log", reason: "--no-pager before log could take log as its value"},
		{line: "git -C /srv/app log", reason: "this is /srv/app, or the value of -C: write a flag before the subcommand as --name=value"},
		{line: "git -- log", reason: "-- before log"},

		{line: "systemctl status nginx --no-pager", allow: true},
		{line: "systemctl is-active nginx", allow: true},
		{line: "systemctl restart nginx", reason: "admits systemctl only with the subcommands status, is-active; this is restart"},
		{line: "systemctl -p status restart nginx", reason: "-p before status could take status as its value"},
		{line: "timeout 5 systemctl status nginx", allow: true},
		{line: "timeout 5 systemctl stop nginx", reason: "this is stop"},

		{line: "sudo systemctl status nginx", allow: true},
		{line: "sudo -n systemctl status nginx", allow: true},
		{line: "sudo -u root systemctl status nginx", reason: "admits sudo only with the flags -n"},
		{line: "sudo systemctl restart nginx", reason: "this is restart"},
		{line: "sudo timeout 5 rm /x", reason: "runs rm"},
		{line: "env systemctl status", reason: "runs env (it runs systemctl)"},
		{line: "command systemctl status", reason: "runs command (it runs systemctl)"},

		{line: "journalctl -u nginx -n 100 --no-pager", allow: true},
		{line: "journalctl --unit=nginx --since=-1h", allow: true},
		{line: "journalctl -u nginx -f", reason: "admits journalctl only with the flags -u, --unit, -n, --lines, --since, --until, --no-pager, -p"},
		{line: "journalctl -n5", reason: "-n5 is not one of them"},
		{line: "journalctl --vacuum-size=1", reason: "--vacuum-size=1 is not one of them"},
		{line: "journalctl --un=nginx", reason: "--un=nginx is not one of them"},
		{line: "journalctl -u -- --vacuum-time=1s", reason: "a word after -- is a flag all the same"},
		{line: "journalctl -u=nginx", reason: "-u=nginx is not one of them"},

		{line: "tar -tvzf /tmp/a.tgz", allow: true},
		{line: "tar -tvzxf /tmp/a.tgz", reason: "-tvzxf is not one of them"},
		{line: "ls - /tmp", allow: true},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			d := decideLine(t, e, tc.line)
			if tc.allow {
				if d.Effect != policy.Allow {
					t.Fatalf("%s: %s", d.Effect, d.Reason)
				}
				return
			}
			if d.Effect != policy.Deny || !strings.Contains(d.Reason, tc.reason) {
				t.Fatalf("%s (%s), want a refusal saying %q", d.Effect, d.Reason, tc.reason)
			}
			if d.Rule != "hosts" || !strings.HasPrefix(d.Hint, "Rewrite the command line") {
				t.Errorf("rule %q, hint %q", d.Rule, d.Hint)
			}
		})
	}
}

// TestCommandsUnknownArguments: an argument known only on the host that
// could be a flag is refused by an entry that checks flags, and admitted
// by one that names the program only.
func TestCommandsUnknownArguments(t *testing.T) {
	e := compileRules(t, commandsRule)
	f, err := cmdclass.New(cmdclass.Options{AllowSubstitution: true}).Classify(context.Background(), policy.ClassifyRequest{Statement: `find "$(ls /tmp)"`})
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Decide(context.Background(), policy.Input{Tool: "exec_ssh", Facts: &f})
	if err != nil || d.Effect != policy.Deny || !strings.Contains(d.Reason, "its argument $(…) is known only on the host") {
		t.Errorf("substitution as find's argument: %+v, %v", d, err)
	}
	if d := decideLine(t, e, "ls $HOME/x"); d.Effect != policy.Allow {
		t.Errorf("ls $HOME/x: %s", d.Reason)
	}
	if d := decideLine(t, e, "git log $HOME"); d.Effect != policy.Allow {
		t.Errorf("git log $HOME: %s", d.Reason)
	}
	if d := decideLine(t, e, "systemctl $USER"); d.Effect != policy.Deny || !strings.Contains(d.Reason, "this is $USER") {
		t.Errorf("systemctl $USER: %s %s", d.Effect, d.Reason)
	}
}

// TestCommandsRuleAdmitsOnlyCommandLines: SQL is not a command line.
func TestCommandsRuleAdmitsOnlyCommandLines(t *testing.T) {
	e := compileRules(t, commandsRule)
	sql := &policy.Facts{Parts: []policy.Part{{Kind: policy.KindRead, Kinds: []string{policy.KindRead}, Tag: "SELECT"}}, Kinds: []string{policy.KindRead}, ReadOnly: true}
	d, err := e.Decide(context.Background(), policy.Input{Tool: "run_query", Statement: "SELECT 1", Facts: sql})
	if err != nil || d.Effect != policy.Deny || !strings.Contains(d.Reason, "admits only command lines") {
		t.Errorf("SQL under a commands rule: %+v, %v", d, err)
	}
}

// TestWhenSeesCommands: statement.commands is type-checked and holds the
// program, its arguments and its wrappers.
func TestWhenSeesCommands(t *testing.T) {
	e := compileRules(t, `  - name: no-sudo-as-root
    effect: deny
    when: "statement.commands.exists(c, c.via.exists(w, w.program == 'sudo' && '-u' in w.args))"
  - name: only-nginx-status
    effect: allow
    read_only: false
    statements: [read, privileged]
    when: "statement.commands.all(c, c.program == 'systemctl' && c.args == ['status', 'nginx'])"
`)
	for line, want := range map[string]policy.Effect{
		"systemctl status nginx":              policy.Allow,
		"sudo systemctl status nginx":         policy.Allow,
		"sudo -u root systemctl status nginx": policy.Deny,
		"systemctl status sshd":               policy.Deny,
	} {
		if d := decideLine(t, e, line); d.Effect != want {
			t.Errorf("%q: %s (%s), want %s", line, d.Effect, d.Reason, want)
		}
	}
	cfg, err := config.Parse("r.yaml", []byte("rules:\n  - {name: r, effect: allow, when: \"statement.commands.exists(c, c.argz == [])\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policy.Compile(cfg, nil); err == nil || !strings.Contains(err.Error(), "argz") {
		t.Errorf("a typo in a commands condition compiles: %v", err)
	}
}
