package cmdclass

import (
	"path"
	"strings"
)

// Programs whose operands have positions: which is read and which
// written depends on where it stands.

// positional classifies "in [out]" programs (uniq, xxd): the first
// operand is read, the second written.
func positional(e *env, p parsed, base string) error {
	a := e.a
	a.add(base, "")
	if p.unsure {
		a.add(KindExec, a.tag+": an argument known only on the host could be one of its options")
	}
	if len(p.operands) > 0 {
		if err := a.readFile(p.operands[0]); err != nil {
			return err
		}
	}
	if p.multiOperand() {
		a.add(KindWrite, a.tag+" writes its second operand, and a pattern may expand to one")
		for _, v := range p.operands {
			if err := a.writeFile(v); err != nil {
				return err
			}
		}
		return nil
	}
	if len(p.operands) > 1 {
		a.add(KindWrite, a.tag+" writes its output to a file")
		return a.writeFile(p.operands[1])
	}
	return nil
}

func uniq(e *env, args []*value) error {
	return positional(e, parseArgs(args, optSyntax{short: "fsw", long: []string{"--skip-fields", "--skip-chars", "--check-chars"}}), KindRead)
}

func xxd(e *env, args []*value) error {
	return positional(e, parseArgs(args, optSyntax{short: "cglsoCn", posix: true}), KindRead)
}

func printfH(e *env, args []*value) error {
	if len(args) > 0 && args[0].static && strings.HasPrefix(args[0].text, "-v") {
		return refuse("printf -v", e.a.at, "assigns a variable")
	}
	if len(args) > 0 && !args[0].static && args[0].optionLike {
		return refuse("printf", e.a.at, "the format is known only on the host and could be -v")
	}
	e.a.add(KindRead, "")
	return nil
}

// copier: cp, install. The last operand (or -t DIR) is written, the
// others read.
func copier(name string) handler {
	syn := optSyntax{short: "tS", long: []string{"--target-directory", "--suffix"}}
	if name == "install" {
		syn.short = "tSmogb"
		syn.long = append(syn.long, "--mode", "--owner", "--group", "--strip-program")
	}
	return func(e *env, args []*value) error {
		p := parseArgs(args, syn)
		return copies(e, p, name+" writes files")
	}
}

func copies(e *env, p parsed, reason string) error {
	a := e.a
	a.add(KindWrite, reason)
	if p.has("--strip-program") {
		a.add(KindExec, "install --strip-program runs a program")
	}
	if t := p.get("-t", "--target-directory"); t != nil {
		if err := a.writeFile(t.val); err != nil {
			return err
		}
		return operandFiles(a, p.operands, readsFiles)
	}
	n := len(p.operands)
	if n == 0 {
		return nil
	}
	if err := operandFiles(a, p.operands[:n-1], readsFiles); err != nil {
		return err
	}
	return a.writeFile(p.operands[n-1])
}

// mover: mv removes its sources and writes its destination.
func mover(e *env, args []*value) error {
	p := parseArgs(args, optSyntax{short: "tS", long: []string{"--target-directory", "--suffix"}})
	e.a.add(KindWrite, "mv moves files")
	if t := p.get("-t", "--target-directory"); t != nil {
		if err := e.a.writeFile(t.val); err != nil {
			return err
		}
	}
	return operandFiles(e.a, p.operands, writesFiles)
}

func linker(e *env, args []*value) error {
	p := parseArgs(args, optSyntax{short: "tS", long: []string{"--target-directory", "--suffix"}})
	if len(p.operands) == 1 && p.get("-t", "--target-directory") == nil {
		e.a.add(KindWrite, "ln creates links")
		v := *p.operands[0]
		v.text = path.Base(v.text)
		return e.a.writeFile(&v)
	}
	return copies(e, p, "ln creates links")
}

// modeArg: chmod takes modes such as -x or -w+r as its first operand.
func chmod(e *env, args []*value) error {
	a := e.a
	a.add(KindWrite, "chmod changes files' modes")
	var ops []*value
	mode := false
	ref := false
	for i := 0; i < len(args); i++ {
		v := args[i]
		t := v.text
		switch {
		case v.static && t == "--":
			ops = append(ops, args[i+1:]...)
			i = len(args)
		case v.static && strings.HasPrefix(t, "--reference"):
			ref = true
			if !strings.Contains(t, "=") && i+1 < len(args) {
				i++
			}
		case v.static && strings.HasPrefix(t, "--"):
		case v.static && len(t) > 1 && t[0] == '-' && strings.Trim(t[1:], "Rcfv") == "":
		case !mode && !ref:
			mode = true // the mode
		default:
			if !v.static && v.optionLike {
				a.add(KindExec, "chmod: an argument known only on the host could be one of its options")
			}
			ops = append(ops, v)
		}
	}
	return operandFiles(a, ops, writesFiles)
}

func chowner(e *env, args []*value) error {
	a := e.a
	a.add(KindWrite, a.tag+" changes files' owners")
	p := parseArgs(args, optSyntax{long: []string{"--from"}})
	ops := p.operands
	if !p.has("--reference") && len(ops) > 0 {
		ops = ops[1:]
	}
	return operandFiles(a, ops, writesFiles)
}

func dd(e *env, args []*value) error {
	a := e.a
	a.add(KindWrite, "dd copies data between files and devices")
	for _, v := range args {
		k, val, ok := strings.Cut(v.text, "=")
		if !ok {
			continue
		}
		f := &value{text: val, static: v.static, glob: v.glob}
		var err error
		switch k {
		case "if":
			err = a.readFile(f)
		case "of":
			err = a.writeFile(f)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func date(e *env, args []*value) error {
	p := parseArgs(args, optSyntax{short: "dfrs", long: []string{"--date", "--file", "--reference", "--set"}, optional: "I"})
	a := e.a
	a.add(KindRead, "")
	if p.has("-s", "--set") {
		a.add(KindWrite, "date -s sets the clock")
	}
	if p.unsure {
		a.add(KindExec, "date: an argument known only on the host could be one of its options")
	}
	for _, o := range p.opts {
		if o.isAny([]string{"-f", "--file", "-r", "--reference"}) {
			if err := a.readFile(o.val); err != nil {
				return err
			}
		}
	}
	for _, v := range p.operands {
		if !strings.HasPrefix(v.text, "+") {
			a.add(KindWrite, "date with an operand that is not a +format sets the clock")
		}
	}
	return nil
}

func hostname(e *env, args []*value) error {
	p := parseArgs(args, optSyntax{short: "F", long: []string{"--file"}})
	if len(p.operands) > 0 || p.has("-F", "--file", "-b", "--boot") || p.unsure {
		e.a.add(KindWrite, "hostname sets the host's name")
		return nil
	}
	e.a.add(KindRead, "")
	return nil
}
