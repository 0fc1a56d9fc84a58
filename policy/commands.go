package policy

import (
	"fmt"
	"strings"

	"github.com/wardenhq/warden/config"
)

// A rule's commands: list admits a command line only if every program it
// runs (each command's program, and each wrapper the program runs
// through) matches an entry, as the system's program (not Foreign). How
// an entry reads a program's arguments, knowing nothing of the program,
// fails closed:
//
//   - A flag is an exact argument that begins with '-', other than "-"
//     and "--", wherever it stands: "--" does not end the flags, since
//     programs differ (find reads -delete after it as an action) and
//     the word before it may take it as its value.
//   - "--name=value" is the flag --name. A word beginning with one '-'
//     is the flag as written ("-exec", "-u") and also a cluster of
//     one-letter flags ("-xvf" is -x, -v and -f).
//   - Any other argument is not a flag: an operand, or the value of the
//     flag before it (-u nginx). Which flags take a value is not known,
//     so a value that begins with '-' is a flag.
//   - An argument known only on the host that may begin with '-' (a
//     command substitution, --unit=$USER) could be any flag: an entry
//     with subcommands, flags or deny_flags refuses it.
//
// deny_flags refuses a flag that is denied, that abbreviates a denied
// long flag (GNU programs take --del for --delete; a single-dash word of
// two letters or more for a denied -name too, as iproute2 does), whose
// name is a denied one with one dash more or less (-exec-path, --exec),
// or a cluster holding a denied one-letter flag (-xc for -c, which also
// refuses a value written in the same word, -cfoo). flags: admits a flag
// only as listed, in full, or a cluster of listed one-letter flags; a
// value written in the flag's word must be --name=value, or a word of
// its own.
//
// subcommands: the first argument that is not a flag must be one of
// them, and must surely be the subcommand: every argument before it must
// be a --name=value flag, since any other flag could take it as its
// value (systemctl -p restart poweroff powers off).

// commandList is a rule's commands: compiled.
type commandList struct {
	entries  map[string]*commandEntry
	programs string // the programs listed, for reasons
}

type commandEntry struct {
	config.CommandEntry
	subcommands set
	flags       *flagSet // nil: any flag
	deny        *flagSet
}

func (e *commandEntry) constrained() bool {
	return e.subcommands != nil || e.flags != nil || e.deny != nil
}

// flagSet is a list of flags, as a rule writes them.
type flagSet struct {
	// listed are the flags as written ("-u", "-exec", "--unit").
	listed set
	// names are the multi-letter flags without their dashes ("exec",
	// "unit").
	names []string
}

func newFlagSet(flags []string) *flagSet {
	if flags == nil {
		return nil
	}
	fs := &flagSet{listed: set{}}
	for _, f := range flags {
		fs.listed[f] = struct{}{}
		if n := strings.TrimLeft(f, "-"); len(n) > 1 {
			fs.names = append(fs.names, n)
		}
	}
	return fs
}

func compileCommands(entries []config.CommandEntry) *commandList {
	if entries == nil {
		return nil
	}
	l := &commandList{entries: map[string]*commandEntry{}}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		ce := &commandEntry{CommandEntry: e, subcommands: newSet(e.Subcommands), flags: newFlagSet(e.Flags)}
		if len(e.DenyFlags) > 0 {
			ce.deny = newFlagSet(e.DenyFlags)
		}
		l.entries[e.Program] = ce
		names = append(names, e.Program)
	}
	l.programs = strings.Join(names, ", ")
	return l
}

// admit checks every program of part against the list, and says why
// when one does not match. rule names the rule in reasons.
func (l *commandList) admit(rule string, part Part) (bool, string) {
	for i, w := range part.Wrappers {
		runs := part.Tag
		if i+1 < len(part.Wrappers) {
			runs = part.Wrappers[i+1].Program
		}
		if ok, why := l.admitProgram(rule, w.Program, w.Foreign, w.Args, " (it runs "+runs+")"); !ok {
			return false, why
		}
	}
	return l.admitProgram(rule, part.Tag, part.Foreign, part.Args, "")
}

func (l *commandList) admitProgram(rule, program string, foreign bool, args []Arg, runs string) (bool, string) {
	e, ok := l.entries[program]
	if !ok {
		return false, fmt.Sprintf("rule %q admits only the programs its commands list (%s); this command line runs %s%s", rule, l.programs, program, runs)
	}
	if foreign {
		return false, fmt.Sprintf("rule %q admits %s only as the system's program: name it bare or by its path in /bin, /usr/bin, /sbin or /usr/sbin, without ..", rule, program)
	}
	if !e.constrained() {
		return true, ""
	}
	afterEnd := false // past a "--"
	for _, a := range args {
		if !a.Exact && a.MaybeFlag {
			return false, fmt.Sprintf("rule %q checks the flags of %s, and its argument %s is known only on the host, where it could be any flag; write flags literally", rule, program, a.Text)
		}
		if !isFlag(a) {
			afterEnd = afterEnd || (a.Exact && a.Text == "--")
			continue
		}
		note := ""
		if afterEnd {
			note = " (a word after -- is a flag all the same: programs such as find read -delete after it)"
		}
		if e.deny != nil {
			if denied := e.deny.denies(a.Text); denied != "" {
				in := ""
				if denied != a.Text {
					in = " (in " + a.Text + ")"
				}
				return false, fmt.Sprintf("rule %q does not admit %s with the flag %s%s%s", rule, program, denied, in, note)
			}
		}
		if e.flags != nil && !e.flags.admits(a.Text) {
			if len(e.Flags) == 0 {
				return false, fmt.Sprintf("rule %q admits %s only without flags; %s is one%s", rule, program, a.Text, note)
			}
			return false, fmt.Sprintf("rule %q admits %s only with the flags %s (each written in full, a value as a word of its own or as --name=value); %s is not one of them%s",
				rule, program, strings.Join(e.Flags, ", "), a.Text, note)
		}
	}
	if e.subcommands != nil {
		return e.admitSubcommand(rule, args)
	}
	return true, ""
}

// admitSubcommand checks that the first argument that is not a flag is
// surely the subcommand, and one of the entry's.
func (e *commandEntry) admitSubcommand(rule string, args []Arg) (bool, string) {
	list := strings.Join(e.Subcommands, ", ")
	for i, a := range args {
		if isFlag(a) || (a.Exact && a.Text == "--") {
			continue
		}
		if !a.Exact || !e.subcommands.has(a.Text) {
			after := ""
			if i > 0 && !valued(args[i-1]) {
				after = fmt.Sprintf(", or the value of %s: write a flag before the subcommand as --name=value", args[i-1].Text)
			}
			return false, fmt.Sprintf("rule %q admits %s only with the subcommands %s; this is %s%s", rule, e.Program, list, a.Text, after)
		}
		for _, b := range args[:i] {
			if !valued(b) {
				return false, fmt.Sprintf("rule %q admits %s only with its subcommand first: %s before %s could take %s as its value; write the subcommand first and the flags after it (or as --name=value)",
					rule, e.Program, b.Text, a.Text, a.Text)
			}
		}
		return true, ""
	}
	return false, fmt.Sprintf("rule %q admits %s only with one of the subcommands %s; this command has none", rule, e.Program, list)
}

// isFlag reports whether a is a flag: exact, beginning with '-', and
// neither "-" (standard input, by custom) nor "--".
func isFlag(a Arg) bool {
	return a.Exact && len(a.Text) > 1 && a.Text[0] == '-' && a.Text != "--"
}

// valued reports whether a is a flag written with its value, --name=value,
// which surely does not take the next argument as its value.
func valued(a Arg) bool {
	return a.Exact && strings.HasPrefix(a.Text, "--") && strings.Contains(a.Text, "=")
}

// denies returns the denied flag the flag word w names, or "".
func (fs *flagSet) denies(w string) string {
	if strings.HasPrefix(w, "--") {
		name, _, _ := strings.Cut(w[2:], "=")
		if name == "" {
			return ""
		}
		if fs.listed.has("--" + name) {
			return "--" + name
		}
		for _, n := range fs.names {
			if strings.HasPrefix(n, name) { // --name itself, -name, or an abbreviation
				return fs.original(n)
			}
		}
		if len(name) == 1 && fs.listed.has("-"+name) {
			return "-" + name
		}
		return ""
	}
	word := w[1:]
	name, _, _ := strings.Cut(word, "=")
	if fs.listed.has(w) {
		return w
	}
	if fs.listed.has("-" + name) {
		return "-" + name
	}
	for _, n := range fs.names {
		if n == name || (len(name) > 1 && strings.HasPrefix(n, name)) {
			return fs.original(n)
		}
	}
	for _, r := range word {
		if f := "-" + string(r); fs.listed.has(f) {
			return f
		}
	}
	return ""
}

// original is the flag whose name without dashes is n, as listed.
func (fs *flagSet) original(n string) string {
	for _, f := range []string{"-" + n, "--" + n} {
		if fs.listed.has(f) {
			return f
		}
	}
	return n
}

// admits reports whether the flag word w is one of the set's, in full
// (--name=value as --name), or a cluster of its one-letter flags.
func (fs *flagSet) admits(w string) bool {
	if strings.HasPrefix(w, "--") {
		name, _, _ := strings.Cut(w, "=")
		return fs.listed.has(name)
	}
	if fs.listed.has(w) {
		return true
	}
	for _, r := range w[1:] {
		if !fs.listed.has("-" + string(r)) {
			return false
		}
	}
	return true
}
