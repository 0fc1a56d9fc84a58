package cmdclass

import "strings"

// Programs that run the program named by their operands. The part's Tag
// is the program run in the end (timeout 5 rm x is "rm"), so that a rule
// on tags is not bypassed through a wrapper.

func timeout(e *env, args []*value) error {
	p := parseArgs(args, optSyntax{short: "sk", long: []string{"--signal", "--kill-after"}, posix: true})
	if len(p.operands) < 2 {
		e.a.add(KindRead, "")
		return nil
	}
	return e.run("timeout", p.operands[1:])
}

func nice(e *env, args []*value) error {
	p := parseArgs(args, optSyntax{short: "n", long: []string{"--adjustment"}, posix: true})
	if len(p.operands) == 0 {
		e.a.add(KindRead, "")
		return nil
	}
	return e.run("nice", p.operands)
}

func ionice(e *env, args []*value) error {
	p := parseArgs(args, optSyntax{short: "cnpPu", long: []string{"--class", "--classdata", "--pid", "--pgid", "--uid"}, posix: true})
	if p.has("-p", "-P", "-u", "--pid", "--pgid", "--uid") {
		e.a.add(KindWrite, "ionice changes the I/O priority of running processes")
		return nil
	}
	if len(p.operands) == 0 {
		e.a.add(KindRead, "")
		return nil
	}
	return e.run("ionice", p.operands)
}

func taskset(e *env, args []*value) error {
	p := parseArgs(args, optSyntax{posix: true})
	if p.has("-p", "--pid") {
		e.a.add(KindWrite, "taskset changes the CPU affinity of running processes")
		return nil
	}
	if len(p.operands) < 2 {
		e.a.add(KindRead, "")
		return nil
	}
	return e.run("taskset", p.operands[1:])
}

func stdbuf(e *env, args []*value) error {
	p := parseArgs(args, optSyntax{short: "ioe", long: []string{"--input", "--output", "--error"}, posix: true})
	if len(p.operands) == 0 {
		e.a.add(KindRead, "")
		return nil
	}
	return e.run("stdbuf", p.operands)
}

func command(e *env, args []*value) error {
	p := parseArgs(args, optSyntax{posix: true})
	if p.has("-v", "-V") || len(p.operands) == 0 {
		e.a.add(KindRead, "")
		return nil
	}
	return e.run("command", p.operands)
}

// bashBuiltins that `builtin` may run; the refused ones are refused by
// name again when run.
var bashBuiltins = map[string]bool{"echo": true, "printf": true, "test": true, "[": true, "true": true, "false": true,
	":": true, "pwd": true, "kill": true, "type": true, "command": true, "exit": true, "return": true, "break": true,
	"continue": true, "jobs": true, "times": true, "help": true, "cd": true, "eval": true, "exec": true, "source": true,
	".": true, "read": true, "set": true, "unset": true, "export": true, "declare": true, "alias": true, "trap": true,
	"hash": true, "enable": true, "shopt": true, "umask": true, "ulimit": true, "wait": true, "let": true, "local": true}

func builtinH(e *env, args []*value) error {
	if len(args) == 0 {
		e.a.add(KindRead, "")
		return nil
	}
	if !args[0].static || !bashBuiltins[args[0].text] {
		return refuse("builtin", e.a.at, "builtin runs only a shell builtin")
	}
	return e.run("builtin", args)
}

// envAssignments classifies NAME=value operands (env, sudo) and returns
// the operands after them.
func envAssignments(e *env, ops []*value) []*value {
	for len(ops) > 0 {
		v := ops[0]
		i := strings.IndexByte(v.text, '=')
		if !v.static || i <= 0 || !validName(v.text[:i]) {
			break
		}
		name := v.text[:i]
		if !safeEnv(name) || (strings.HasSuffix(name, "PAGER") && v.text[i+1:] != "cat") {
			e.a.add(KindExec, "runs with "+name+" set in its environment, which can change what a program runs or loads")
		}
		ops = ops[1:]
	}
	return ops
}

func validName(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

func envH(e *env, args []*value) error {
	p := parseArgs(args, optSyntax{short: "uCS", long: []string{"--unset", "--chdir", "--split-string"}, posix: true})
	for _, o := range p.opts {
		switch {
		case o.isAny([]string{"-S", "--split-string"}):
			return refuse("env -S", e.a.at, "splits a string into a command line, as a shell would")
		case o.isAny([]string{"-C", "--chdir"}):
			return refuse("env -C", e.a.at, "changes what relative paths mean; use absolute paths")
		case o.isAny([]string{"-i", "--ignore-environment", "-u", "--unset", "-0", "--null", "-v", "--debug", "-"}):
		default:
			e.a.add(KindExec, "env: option "+o.name+" is not known")
		}
	}
	if p.unsure {
		e.a.add(KindExec, "env: an argument known only on the host could be an option")
	}
	ops := envAssignments(e, p.operands)
	if len(ops) == 0 {
		e.a.add(KindRead, "")
		return nil
	}
	return e.run("env", ops)
}

func timeH(e *env, args []*value) error {
	p := parseArgs(args, optSyntax{short: "of", long: []string{"--output", "--format"}, posix: true})
	if o := p.get("-o", "--output"); o != nil {
		e.a.add(KindWrite, "time -o writes a file")
		if err := e.a.writeFile(o.val); err != nil {
			return err
		}
	}
	if len(p.operands) == 0 {
		e.a.add(KindRead, "")
		return nil
	}
	return e.run("time", p.operands)
}

// sub classifies a program another runs many times with arguments the
// classifier does not see (find -exec, xargs): its kinds, reasons and
// files count, the Tag stays the outer program's.
func (e *env) sub(wrapper string, args []*value) error {
	if len(args) == 0 {
		return nil
	}
	inner := &analysis{at: e.a.at}
	ie := &env{w: e.w, a: inner, depth: e.depth, level: e.level, args: args}
	if err := ie.run(wrapper, args); err != nil {
		return err
	}
	e.a.kinds |= inner.kinds
	e.a.reasons = append(e.a.reasons, inner.reasons...)
	e.a.read = append(e.a.read, inner.read...)
	e.a.written = append(e.a.written, inner.written...)
	return nil
}

func xargs(e *env, args []*value) error {
	p := parseArgs(args, optSyntax{short: "aEdeIiLlnPs", long: []string{"--arg-file", "--eof", "--delimiter",
		"--replace", "--max-lines", "--max-args", "--max-procs", "--max-chars", "--process-slot-var"}, posix: true})
	if o := p.get("-a", "--arg-file"); o != nil {
		if err := e.a.readFile(o.val); err != nil {
			return err
		}
	}
	prog := "echo"
	if len(p.operands) > 0 {
		prog = p.operands[0].text
	}
	e.a.add(KindExec, "xargs runs "+quoteName(prog)+" with arguments read from its input")
	return e.sub("xargs", p.operands)
}

// Programs that run others with other rights.

func sudo(e *env, args []*value) error {
	e.a.add(KindPrivileged, "runs as another user ("+e.a.tag+")")
	p := parseArgs(args, optSyntax{short: "ugUpChrtTD", long: []string{"--user", "--group", "--other-user", "--prompt",
		"--close-from", "--host", "--role", "--type", "--command-timeout", "--chdir"}, posix: true})
	if p.has("-i", "-s", "--login", "--shell") {
		return refuse("sudo -i/-s", e.a.at, "runs the command line through a shell")
	}
	if p.has("-e", "--edit") {
		e.a.add(KindWrite, "sudo -e edits files")
		e.a.add(KindExec, "sudo -e runs an editor")
		return operandFiles(e.a, p.operands, writesFiles)
	}
	if p.has("-E", "--preserve-env", "-D", "--chdir") {
		e.a.add(KindExec, "sudo keeps the caller's environment or changes directory")
	}
	ops := envAssignments(e, p.operands)
	return e.run(e.a.tag, ops)
}

func doas(e *env, args []*value) error {
	e.a.add(KindPrivileged, "runs as another user (doas)")
	p := parseArgs(args, optSyntax{short: "uC", posix: true})
	if p.has("-s") {
		return refuse("doas -s", e.a.at, "starts a shell")
	}
	return e.run("doas", p.operands)
}

func pkexec(e *env, args []*value) error {
	e.a.add(KindPrivileged, "runs as another user (pkexec)")
	p := parseArgs(args, optSyntax{long: []string{"--user"}, posix: true})
	if len(p.operands) == 0 {
		e.a.add(KindExec, "pkexec without a program starts a shell")
		return nil
	}
	return e.run("pkexec", p.operands)
}

func su(e *env, args []*value) error {
	e.a.add(KindPrivileged, "runs as another user ("+e.a.tag+")")
	p := parseArgs(args, optSyntax{short: "cgGsuw", long: []string{"--command", "--session-command", "--group",
		"--supp-group", "--shell", "--user", "--whitelist-environment"}, posix: true})
	if p.has("-c", "--command", "--session-command") {
		return refuse(e.a.tag+" -c", e.a.at, "runs the command line through the user's shell")
	}
	if e.a.tag == "runuser" && p.has("-u", "--user") {
		return e.run("runuser", p.operands)
	}
	e.a.add(KindExec, e.a.tag+" starts a shell")
	return nil
}

func sudoedit(e *env, args []*value) error {
	e.a.add(KindPrivileged, "runs as another user (sudoedit)")
	e.a.add(KindWrite, "sudoedit edits files")
	e.a.add(KindExec, "sudoedit runs an editor")
	p := parseArgs(args, optSyntax{short: "ugUpChrtT", posix: true})
	return operandFiles(e.a, p.operands, writesFiles)
}
