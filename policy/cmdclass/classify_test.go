package cmdclass

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/wardenhq/warden/policy"
)

func file(name string) policy.Resource {
	return policy.Resource{Kind: policy.ResourceFile, Name: name, Text: name}
}

func TestClassify(t *testing.T) {
	tests := map[string]struct {
		line      string
		opts      Options
		tags      []string
		kinds     []string
		read      []policy.Resource
		written   []policy.Resource
		canonical string
		readOnly  bool
	}{
		"pipeline": {line: "ps aux | grep nginx | head", tags: []string{"ps", "grep", "head"}, kinds: []string{KindRead},
			canonical: "ps 'aux' | grep 'nginx' | head", readOnly: true},
		"redirect write": {line: "cat /etc/hosts > /tmp/h", tags: []string{"cat"}, kinds: []string{KindRead, KindWrite},
			read: []policy.Resource{file("/etc/hosts")}, written: []policy.Resource{file("/tmp/h")},
			canonical: "cat '/etc/hosts' >'/tmp/h'"},
		"paths cleaned": {line: "cat /etc//./hosts ./a/../b", tags: []string{"cat"}, kinds: []string{KindRead},
			read:      []policy.Resource{{Kind: policy.ResourceFile, Name: "b", Text: "./a/../b"}, {Kind: policy.ResourceFile, Name: "/etc/hosts", Text: "/etc//./hosts"}},
			canonical: "cat '/etc//./hosts' './a/../b'", readOnly: true},
		"quotes re-quoted": {line: `echo "it's" a\ b 'x'"y"`, tags: []string{"echo"}, kinds: []string{KindRead},
			canonical: `echo 'it'\''s' 'a b' 'xy'`, readOnly: true},
		"dev null is no write": {line: "ls /x 2>/dev/null >&2", tags: []string{"ls"}, kinds: []string{KindRead},
			read: []policy.Resource{file("/x")}, canonical: "ls '/x' 2>'/dev/null' >&'2'", readOnly: true},
		"wrapper tag is the program run": {line: "sudo timeout 5 rm -f /tmp/x", tags: []string{"rm"},
			kinds: []string{KindWrite, KindPrivileged}, written: []policy.Resource{file("/tmp/x")},
			canonical: "sudo 'timeout' '5' 'rm' '-f' '/tmp/x'"},
		"path trick keeps the tag": {line: "/bin/../bin/rm /tmp/x", tags: []string{"rm"}, kinds: []string{KindWrite, KindExec},
			written: []policy.Resource{file("/tmp/x")}, canonical: "/bin/../bin/rm '/tmp/x'"},
		"system path": {line: "/usr/bin/cat x", tags: []string{"cat"}, kinds: []string{KindRead},
			read: []policy.Resource{file("x")}, canonical: "/usr/bin/cat 'x'", readOnly: true},
		"cp": {line: "cp -r a b /dst", tags: []string{"cp"}, kinds: []string{KindWrite},
			read: []policy.Resource{file("a"), file("b")}, written: []policy.Resource{file("/dst")}, canonical: "cp '-r' 'a' 'b' '/dst'"},
		"glob stays a glob": {line: "rm -f /tmp/*.log", tags: []string{"rm"}, kinds: []string{KindWrite},
			written: []policy.Resource{file("/tmp/*.log")}, canonical: "rm '-f' '/tmp/'*'.log'"},
		"tilde": {line: "cat ~/.profile", tags: []string{"cat"}, kinds: []string{KindRead},
			read: []policy.Resource{file("~/.profile")}, canonical: "cat ~/'.profile'", readOnly: true},
		"admitted variable": {line: `ls $HOME/x`, tags: []string{"ls"}, kinds: []string{KindRead},
			read: []policy.Resource{file("$HOME/x")}, canonical: `ls "${HOME}"'/x'`, readOnly: true},
		"loop unrolled": {line: `for f in a b; do cat "$f"; done`, tags: []string{"cat", "cat"}, kinds: []string{KindRead},
			read: []policy.Resource{file("a"), file("b")}, canonical: `for f in 'a' 'b'; do cat "${f}"; done`, readOnly: true},
		"arithmetic evaluated": {line: "head -n $((2*5)) x", tags: []string{"head"}, kinds: []string{KindRead},
			read: []policy.Resource{file("x")}, canonical: "head '-n' '10' 'x'", readOnly: true},
		"heredoc re-delimited": {line: "cat <<EOF\nWARDEN_EOF\n\\$x\nEOF", tags: []string{"cat"}, kinds: []string{KindRead},
			canonical: "cat <<'WARDEN_EOF_1'\nWARDEN_EOF\n$x\nWARDEN_EOF_1\n", readOnly: true},
		"substitution admitted": {line: `echo "$(cat /etc/hostname)"`, opts: Options{AllowSubstitution: true},
			tags: []string{"cat", "echo"}, kinds: []string{KindRead}, read: []policy.Resource{file("/etc/hostname")},
			canonical: `echo "$(cat '/etc/hostname')"`, readOnly: true},
		"substituted option": {line: `find "$(cat /tmp/args)"`, opts: Options{AllowSubstitution: true},
			tags: []string{"cat", "find"}, kinds: []string{KindRead, KindExec}, read: []policy.Resource{file("$(…)"), file("/tmp/args")},
			canonical: `find "$(cat '/tmp/args')"`},
		"safe prefix assignment": {line: "LC_ALL=C sort x", tags: []string{"sort"}, kinds: []string{KindRead},
			read: []policy.Resource{file("x")}, canonical: "LC_ALL='C' sort 'x'", readOnly: true},
		"look-alike is unknown": {line: "l\u0455 /", tags: []string{"l\u0455"}, kinds: []string{KindExec},
			canonical: "l\u0455 '/'"},
		"network redirect": {line: "echo x > /dev/tcp/10.0.0.1/80", tags: []string{"echo"}, kinds: []string{KindRead, KindNetwork},
			canonical: "echo 'x' >'/dev/tcp/10.0.0.1/80'"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := New(tc.opts)
			f, err := classify(t, c, tc.line)
			if err != nil {
				t.Fatal(err)
			}
			var tags []string
			for _, p := range f.Parts {
				tags = append(tags, p.Tag)
				if p.Kind != p.Kinds[len(p.Kinds)-1] {
					t.Errorf("part %s: Kind %s is not the most severe of %v", p.Tag, p.Kind, p.Kinds)
				}
			}
			if strings.Join(tags, ",") != strings.Join(tc.tags, ",") {
				t.Errorf("tags %q, want %q", tags, tc.tags)
			}
			if strings.Join(f.Kinds, ",") != strings.Join(tc.kinds, ",") {
				t.Errorf("kinds %v, want %v", f.Kinds, tc.kinds)
			}
			if !equalResources(f.Read, tc.read) {
				t.Errorf("read %v, want %v", f.Read, tc.read)
			}
			if !equalResources(f.Written, tc.written) {
				t.Errorf("written %v, want %v", f.Written, tc.written)
			}
			if f.Canonical != tc.canonical {
				t.Errorf("canonical\n%q, want\n%q", f.Canonical, tc.canonical)
			}
			if f.ReadOnly != tc.readOnly {
				t.Errorf("ReadOnly %v, want %v", f.ReadOnly, tc.readOnly)
			}
			checkCanonical(t, c, f)
		})
	}
}

func equalResources(a, b []policy.Resource) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRefused(t *testing.T) {
	long := strings.Repeat("a", DefaultMaxBytes)
	tests := map[string]struct {
		line     string
		maxBytes int
		opts     Options
		sentinel error
		text     string
	}{
		"nul byte":           {line: "ls\x00; rm x", sentinel: ErrUnparseable, text: "NUL"},
		"nul in quotes":      {line: "echo 'a\x00b'", sentinel: ErrUnparseable, text: "NUL"},
		"invalid utf-8":      {line: "ls \xff\xfe", sentinel: ErrUnparseable, text: "UTF-8"},
		"crlf":               {line: "ls\r\nrm x", sentinel: ErrUnparseable, text: "control character"},
		"form feed":          {line: "#\n\f", sentinel: ErrUnparseable, text: "control character"},
		"over default limit": {line: "echo " + long, sentinel: ErrUnparseable, text: "longer than"},
		"over request limit": {line: "ls /var/log", maxBytes: 5, sentinel: ErrUnparseable, text: "longer than"},
		"over option limit":  {line: "ls /var/log", opts: Options{MaxBytes: 5}, sentinel: ErrUnparseable, text: "longer than"},
		"syntax":             {line: "if then", sentinel: ErrUnparseable},
		"no variables":       {line: "ls $HOME", opts: Options{Variables: []string{}}, sentinel: ErrUnsupported, text: "$HOME"},
		"other variable":     {line: "ls $PWD", opts: Options{Variables: []string{"PWD"}, MaxCommands: 1}, sentinel: nil},
		"command limit":      {line: "ls; ls", opts: Options{MaxCommands: 1}, sentinel: ErrUnsupported, text: "more than 1"},
		"depth limit":        {line: "{ { ls; }; }", opts: Options{MaxDepth: 1}, sentinel: ErrUnsupported, text: "nested"},
		"loop budget":        {line: "for a in 1 2 3 4 5 6 7 8; do for b in 1 2 3 4 5 6 7 8; do ls; done; done", opts: Options{MaxCommands: 10}, sentinel: ErrUnsupported, text: "more than 10"},
		"nested substitution program": {line: "echo \"$($(echo rm) x)\"", opts: Options{AllowSubstitution: true},
			sentinel: ErrUnsupported, text: "program"},
		"substitution inner shell": {line: "echo \"$(sh -c x)\"", opts: Options{AllowSubstitution: true},
			sentinel: ErrUnsupported, text: "shell"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := New(tc.opts)
			f, err := c.Classify(context.Background(), policy.ClassifyRequest{Statement: tc.line, MaxBytes: tc.maxBytes})
			if tc.sentinel == nil {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error, got %+v", f)
			}
			if !errors.Is(err, tc.sentinel) || !errors.Is(err, policy.ErrNotUnderstood) {
				t.Errorf("error %v does not match %v and policy.ErrNotUnderstood", err, tc.sentinel)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not mention %q", err, tc.text)
			}
			if strings.Contains(err.Error(), "rm x") {
				t.Errorf("error %q repeats the command line", err)
			}
		})
	}
}

func TestOffsets(t *testing.T) {
	line := "ls /a;  cat /b | wc -l"
	f, err := classify(t, New(Options{}), line)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ls /a", "cat /b", "wc -l"}
	if len(f.Parts) != len(want) {
		t.Fatalf("%d parts, want %d", len(f.Parts), len(want))
	}
	for i, p := range f.Parts {
		if got := line[p.Offset : p.Offset+p.Length]; got != want[i] {
			t.Errorf("part %d covers %q, want %q", i, got, want[i])
		}
	}
}

func TestErrorDoesNotLeakArguments(t *testing.T) {
	_, err := classify(t, New(Options{}), "mysql -pS3cretPassw0rd $(cat x)")
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), "S3cret") {
		t.Fatalf("error %q leaks an argument", err)
	}
}

func TestNamespaceAndCancel(t *testing.T) {
	c := New(Options{})
	if c.Namespace() != "" {
		t.Errorf("Namespace %q, want empty", c.Namespace())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Classify(ctx, policy.ClassifyRequest{Statement: "ls"}); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}

// TestConcurrent runs one Classifier from many goroutines (go test -race).
func TestConcurrent(t *testing.T) {
	c := New(Options{AllowSubstitution: true})
	lines := []string{"ps aux | grep x", "for f in a b; do cat \"$f\"; done", "rm -rf /tmp/x", "echo \"$(date)\""}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				line := lines[(i+j)%len(lines)]
				f, err := c.Classify(context.Background(), policy.ClassifyRequest{Statement: line})
				if err != nil || len(f.Parts) == 0 {
					t.Errorf("%q: %v %+v", line, err, f)
					return
				}
			}
		}(i)
	}
	wg.Wait()
}

// TestArgsAndWrappers: a part carries the arguments of the program that
// runs in the end and, apart, each wrapper's own; the line is one command
// line.
func TestArgsAndWrappers(t *testing.T) {
	exact := func(ss ...string) []policy.Arg {
		out := make([]policy.Arg, len(ss))
		for i, s := range ss {
			out[i] = policy.Arg{Text: s, Exact: true}
		}
		return out
	}
	tests := map[string]struct {
		line     string
		opts     Options
		args     []policy.Arg
		wrappers []policy.Command
		foreign  bool
	}{
		"plain":          {line: "ls -la /tmp", args: exact("-la", "/tmp")},
		"no arguments":   {line: "uptime"},
		"quotes removed": {line: `grep -e 'a b' "c"`, args: exact("-e", "a b", "c")},
		"wrappers' own arguments": {line: "sudo -u root timeout 5 /usr/bin/systemctl status nginx", args: exact("status", "nginx"),
			wrappers: []policy.Command{{Program: "sudo", Args: exact("-u", "root")}, {Program: "timeout", Args: exact("5")}}},
		"sudo --":            {line: "sudo -- rm -- -x", args: exact("--", "-x"), wrappers: []policy.Command{{Program: "sudo", Args: exact("--")}}},
		"env assignment":     {line: "env LC_ALL=C sort x", args: exact("x"), wrappers: []policy.Command{{Program: "env", Args: exact("LC_ALL=C")}}},
		"loop item is exact": {line: "for f in -x; do ls $f; done", args: exact("-x")},
		"variable and glob":  {line: "ls $HOME/a ./*.log", args: []policy.Arg{{Text: "$HOME/a"}, {Text: "./*.log"}}},
		"substitution may be a flag": {line: `find "$(ls)"`, opts: Options{AllowSubstitution: true},
			args: []policy.Arg{{Text: "$(…)", MaybeFlag: true}}},
		"foreign wrapper": {line: "/tmp/sudo -n /bin/ls x", args: exact("x"),
			wrappers: []policy.Command{{Program: "sudo", Foreign: true, Args: exact("-n")}}},
		"foreign program": {line: "sudo -n ./ls x", foreign: true, args: exact("x"),
			wrappers: []policy.Command{{Program: "sudo", Args: exact("-n")}}},
		"find -exec stays find's": {line: `find . -exec rm {} \;`, args: exact(".", "-exec", "rm", "{}", ";")},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f, err := New(tc.opts).Classify(context.Background(), policy.ClassifyRequest{Statement: tc.line})
			if err != nil {
				t.Fatal(err)
			}
			if !f.CommandLine {
				t.Error("not a command line")
			}
			p := f.Parts[len(f.Parts)-1]
			if !reflect.DeepEqual(p.Args, tc.args) || !reflect.DeepEqual(p.Wrappers, tc.wrappers) || p.Foreign != tc.foreign {
				t.Errorf("args %+v wrappers %+v foreign %v\nwant %+v %+v %v", p.Args, p.Wrappers, p.Foreign, tc.args, tc.wrappers, tc.foreign)
			}
		})
	}
}
