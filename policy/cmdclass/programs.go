package cmdclass

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"mvdan.cc/sh/v3/syntax"

	"github.com/wardenhq/warden/policy"
)

// analysis is what one simple command is found to do.
type analysis struct {
	tag           string
	kinds         kindSet
	reasons       []string
	read, written []policy.Resource
	at            int
	// via names the wrappers the program runs through (sudo, timeout),
	// and wrappers are they with their own arguments.
	via      []string
	wrappers []policy.Command
	// args are the arguments of the program tag; foreign says it was
	// named by a path outside the system's directories.
	args    []policy.Arg
	foreign bool
}

func (a *analysis) add(kind, reason string) {
	a.kinds = a.kinds.with(kind)
	if reason != "" && kind != KindRead {
		a.reasons = append(a.reasons, reason)
	}
}

// procFile: a process substitution's value is a pipe, not a file.
func procFile(v *value) bool { return !v.static && (v.text == "<(…)" || v.text == ">(…)") }

func (a *analysis) readFile(v *value) error {
	if v == nil || (v.static && v.text == "-") || v.text == "" || procFile(v) {
		return nil
	}
	r, err := fileResource(v, a.at)
	if err != nil {
		return err
	}
	a.read = append(a.read, r)
	return nil
}

func (a *analysis) writeFile(v *value) error {
	if v == nil || (v.static && v.text == "-") || v.text == "" || procFile(v) {
		return nil
	}
	r, err := fileResource(v, a.at)
	if err != nil {
		return err
	}
	if v.static && discards[r.Name] {
		return nil
	}
	a.written = append(a.written, r)
	return nil
}

// safeEnv are the variables a prefix assignment may set without making
// the command exec: they change messages, formats and time zones only.
func safeEnv(name string) bool {
	switch name {
	case "LANG", "LANGUAGE", "TZ", "COLUMNS", "NO_COLOR", "SYSTEMD_PAGER", "PAGER", "GIT_PAGER", "SYSTEMD_COLORS":
		// The pagers are safe only as "cat"; checked by the caller.
		return true
	}
	return strings.HasPrefix(name, "LC_")
}

func (w *walker) call(s *syntax.Stmt, ce *syntax.CallExpr, depth int) (int, error) {
	if len(ce.Args) == 0 {
		return 0, refuse("assignment", off(s), "variable assignments are not supported; write the value where it is used")
	}
	a := &analysis{at: off(s)}
	for _, as := range ce.Assigns {
		if as.Append || as.Naked || as.Index != nil || as.Array != nil || !syntax.ValidName(as.Name.Value) {
			return 0, refuse("assignment", off(as), "only NAME=value before a command")
		}
		val := ""
		if as.Value != nil {
			v, err := w.word(as.Value, ctxAssign, depth)
			if err != nil {
				return 0, err
			}
			if !v.static {
				return 0, refuse("assignment", off(as), "the value of "+as.Name.Value+" must be literal")
			}
			val = v.text
		}
		name := as.Name.Value
		if !safeEnv(name) || (strings.HasSuffix(name, "PAGER") && val != "cat") {
			a.add(KindExec, "runs with "+name+" set in its environment, which can change what a program runs or loads")
		}
	}
	prog, err := programWord(ce.Args[0])
	if err != nil {
		return 0, err
	}
	args := make([]*value, 0, len(ce.Args)-1)
	for _, word := range ce.Args[1:] {
		v, err := w.word(word, ctxArg, depth)
		if err != nil {
			return 0, err
		}
		args = append(args, v)
	}
	if err := w.program(a, prog, args, depth, 0); err != nil {
		return 0, err
	}
	if len(w.parts) >= w.c.maxCommands {
		return 0, refuse("size", off(s), fmt.Sprintf("more than %d commands", w.c.maxCommands))
	}
	if a.kinds == 0 {
		a.add(KindExec, "no kind known for "+a.tag)
	}
	if len(a.via) > 0 {
		a.reasons = append(a.reasons, a.tag+" runs through "+strings.Join(a.via, ", "))
	}
	p := policy.Part{Kind: a.kinds.primary(), Kinds: a.kinds.list(), Tag: a.tag, Foreign: a.foreign, Args: a.args, Wrappers: a.wrappers,
		Read: distinct(a.read), Written: distinct(a.written),
		Offset: off(s), Length: stmtEnd(s) - off(s)}
	if p.Kind != KindRead {
		p.Reasons = dedupe(a.reasons)
	}
	w.parts = append(w.parts, p)
	return len(w.parts) - 1, nil
}

func dedupe(ss []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// programWord is the program's name: one unquoted literal word without
// escapes or pattern characters. Quoting in the program's place only
// serves to hide it (\rm, 'r'm, "rm" skip aliases and keywords).
func programWord(word *syntax.Word) (string, error) {
	if len(word.Parts) != 1 {
		return "", refuse("program", off(word), "the program's name must be a plain word (no quotes, escapes or expansions)")
	}
	lit, ok := word.Parts[0].(*syntax.Lit)
	if !ok {
		return "", refuse("program", off(word), "the program's name must be a plain word (no quotes, escapes or expansions)")
	}
	s := lit.Value
	switch {
	case s == "":
		return "", refuse("program", off(word), "empty program name")
	case strings.ContainsAny(s, "\\*?~") || (strings.Contains(s, "[") && s != "[") || hasBraceExpansion(s):
		return "", refuse("program", off(word), "the program's name must be a plain word (no escapes, patterns or ~)")
	case reserved[s]:
		return "", refuse("program", off(word), "a reserved word where a program's name is expected")
	}
	return s, nil
}

// reserved are bash's reserved words: as a program's name they would
// read differently once re-written.
var reserved = map[string]bool{"!": true, "{": true, "}": true, "[[": true, "]]": true, "if": true, "then": true,
	"else": true, "elif": true, "fi": true, "do": true, "done": true, "case": true, "esac": true, "while": true,
	"until": true, "for": true, "in": true, "function": true, "select": true, "time": true, "coproc": true}

// trustedDirs hold the system's programs: a program named by a path in
// one of them is the program the table knows.
var trustedDirs = map[string]bool{"/bin": true, "/usr/bin": true, "/sbin": true, "/usr/sbin": true}

// program classifies running name with args. Names are normalised so a
// path cannot hide a program: the Tag is the base name of the cleaned
// path (/bin/../bin/rm, ./rm and /tmp/rm are all "rm"); the table's
// knowledge applies only to a bare name (found through PATH) or a path
// in a system directory without "..", anything else is exec.
func (w *walker) program(a *analysis, name string, args []*value, depth, level int) error {
	if level > 8 {
		return refuse("wrappers", a.at, "too many programs running one another")
	}
	tag, foreign := name, false
	if strings.Contains(name, "/") {
		clean := path.Clean(name)
		tag = path.Base(clean)
		if tag == "/" || tag == "." || tag == ".." {
			return refuse("program", a.at, "not a program name")
		}
		dotdot := false
		for _, seg := range strings.Split(name, "/") {
			if seg == ".." {
				dotdot = true
			}
		}
		if dotdot || !trustedDirs[path.Dir(clean)] {
			// Not the system's program (or not surely: ".." is resolved
			// lexically here, through symbolic links on the host): exec,
			// and whatever the program of that name would do.
			a.add(KindExec, "runs "+clean+", not a program of the system's directories")
			foreign = true
		}
	}
	a.tag, a.args, a.foreign = tag, commandArgs(args), foreign
	if err := refusedProgram(tag, a.at); err != nil {
		return err
	}
	h, ok := table[tag]
	if !ok {
		a.add(KindExec, "unknown program "+quoteName(tag))
		return nil
	}
	return h(&env{w: w, a: a, depth: depth, level: level, args: args}, args)
}

// commandArgs are the arguments as a Part reports them.
func commandArgs(vs []*value) []policy.Arg {
	if len(vs) == 0 {
		return nil
	}
	out := make([]policy.Arg, len(vs))
	for i, v := range vs {
		out[i] = policy.Arg{Text: v.text, Exact: v.static, MaybeFlag: !v.static && v.optionLike}
	}
	return out
}

// quoteName shows a program's name, escaping what is not printable ASCII
// (a Cyrillic look-alike shows as such).
func quoteName(s string) string {
	q := fmt.Sprintf("%+q", s)
	if q == `"`+s+`"` {
		return s
	}
	return q
}

// env is what a program's handler works with.
type env struct {
	w            *walker
	a            *analysis
	depth, level int
	// args are the arguments the handler was given.
	args []*value
}

// run classifies the program a wrapper runs: args[0] names it, and args
// are the last of the wrapper's arguments (what comes before them are
// the wrapper's own).
func (e *env) run(wrapper string, args []*value) error {
	if len(args) == 0 {
		return nil
	}
	p := args[0]
	if !p.static || p.text == "" {
		return refuse(wrapper, e.a.at, "the program "+wrapper+" runs is known only on the host")
	}
	if strings.ContainsAny(p.text, "\x00") {
		return refuse(wrapper, e.a.at, "bad program name")
	}
	own := len(e.args) - len(args)
	if own < 0 || !slices.Equal(e.args[own:], args) {
		// A handler must pass on a tail of its arguments, or the
		// wrapper's own could not be told from the program's.
		return refuse(wrapper, e.a.at, "the program "+wrapper+" runs is not among its last arguments")
	}
	e.a.via = append(e.a.via, wrapper)
	e.a.wrappers = append(e.a.wrappers, policy.Command{Program: e.a.tag, Args: commandArgs(e.args[:own]), Foreign: e.a.foreign})
	return e.w.program(e.a, p.text, args[1:], e.depth, e.level+1)
}

// refused are the builtins and programs that are refused outright: they
// run text as code, change the shell's state (and so what later words
// mean), or outlive the command's time limit.
var refused = map[string]string{
	"eval":      "runs a string as a command line",
	"source":    "runs a file as a script",
	".":         "runs a file as a script",
	"exec":      "replaces the shell",
	"alias":     "defines aliases",
	"unalias":   "changes aliases",
	"trap":      "runs a string on a signal",
	"read":      "assigns variables from input",
	"mapfile":   "assigns variables from input",
	"readarray": "assigns variables from input",
	"declare":   "declares variables",
	"typeset":   "declares variables",
	"local":     "declares variables",
	"readonly":  "declares variables",
	"export":    "exports variables",
	"unset":     "unsets variables or functions",
	"set":       "changes the shell's options",
	"shopt":     "changes the shell's options",
	"enable":    "enables or disables builtins",
	"hash":      "changes where programs are found",
	"cd":        "changes what relative paths mean; use absolute paths",
	"pushd":     "changes what relative paths mean; use absolute paths",
	"popd":      "changes what relative paths mean; use absolute paths",
	"umask":     "changes the mode of files created later",
	"ulimit":    "changes the shell's limits",
	"getopts":   "assigns variables",
	"let":       "assigns variables through arithmetic",
	"shift":     "changes the positional parameters",
	"fc":        "runs commands from the history",
	"history":   "changes the history",
	"bind":      "changes key bindings",
	"complete":  "changes completion",
	"compgen":   "expands words at run time",
	"compopt":   "changes completion",
	"coproc":    "starts a coprocess",
	"disown":    "lets a job outlive the command",
	"bg":        "resumes a background job",
	"fg":        "resumes a job",
	"suspend":   "suspends the shell",
	"caller":    "not supported",
	"wait":      "waits for background jobs, which are not supported",
	"nohup":     "lets the command outlive its time limit",
	"setsid":    "lets the command outlive its time limit",
	"at":        "schedules a command to run later",
	"batch":     "schedules a command to run later",
	"watch":     "runs its arguments as a shell command line",
	"function":  "defines a function",
	"busybox":   "runs any of its applets, shells included",
	"toybox":    "runs any of its applets, shells included",
}

// shells run a script, from an argument, a file or their input.
var shells = map[string]bool{"sh": true, "bash": true, "dash": true, "zsh": true, "ksh": true, "mksh": true,
	"ash": true, "fish": true, "csh": true, "tcsh": true, "rbash": true, "pdksh": true, "yash": true,
	"posh": true, "oksh": true, "loksh": true, "elvish": true, "nu": true, "xonsh": true, "pwsh": true}

func refusedProgram(tag string, at int) error {
	if r, ok := refused[tag]; ok && r != "" {
		return refuse(tag, at, r)
	}
	if shells[tag] {
		return refuse(tag, at, "a shell runs a script the classifier does not see (sh -c, a file, or its input)")
	}
	return nil
}

// stmtEnd is where a statement's command and redirections end (without
// the ; or & that ends it).
func stmtEnd(s *syntax.Stmt) int {
	end := int(s.Cmd.End().Offset())
	for _, r := range s.Redirs {
		if e := int(r.End().Offset()); e > end {
			end = e
		}
	}
	return end
}
