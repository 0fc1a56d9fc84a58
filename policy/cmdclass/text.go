package cmdclass

import "strings"

// sedEffects is what a sed script does beyond printing.
type sedEffects struct {
	reads, writes []string
	execs         bool
}

// sedScript reads a sed script the way GNU sed does, conservatively: it
// reports the files the r/R and w/W commands and the s///w flag name, and
// whether e or s///e run commands. ok is false for anything it does not
// follow, which the caller takes for exec.
func sedScript(s string) (fx sedEffects, ok bool) {
	i := 0
	n := len(s)
	skipSpace := func() {
		for i < n && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
	}
	toEOL := func() string {
		start := i
		for i < n && s[i] != '\n' {
			i++
		}
		return strings.TrimSpace(s[start:i])
	}
	// delimited reads up to an unescaped delimiter; a [ in a regular
	// expression is refused (the delimiter's meaning inside brackets
	// differs between seds).
	delimited := func(d byte, regex bool) bool {
		for i < n {
			c := s[i]
			switch {
			case c == '\\':
				i += 2
				continue
			case c == d:
				i++
				return true
			case c == '\n' && d != '\n':
				return false
			case c == '[' && regex:
				return false
			}
			i++
		}
		return false
	}
	address := func() bool {
		if i >= n {
			return true
		}
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			for i < n && (s[i] >= '0' && s[i] <= '9' || s[i] == '~') {
				i++
			}
		case c == '$':
			i++
		case c == '/':
			i++
			if !delimited('/', true) {
				return false
			}
			for i < n && (s[i] == 'I' || s[i] == 'M') {
				i++
			}
		case c == '\\':
			if i+1 >= n {
				return false
			}
			d := s[i+1]
			i += 2
			if !delimited(d, true) {
				return false
			}
		}
		return true
	}
	for {
		for i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == ';') {
			i++
		}
		if i >= n {
			return fx, true
		}
		if !address() {
			return fx, false
		}
		skipSpace()
		if i < n && s[i] == ',' {
			i++
			skipSpace()
			if i < n && (s[i] == '+' || s[i] == '~') {
				i++
			}
			if !address() {
				return fx, false
			}
		}
		skipSpace()
		for i < n && s[i] == '!' {
			i++
			skipSpace()
		}
		if i >= n {
			return fx, false
		}
		c := s[i]
		i++
		switch c {
		case '{', '}', '=', 'd', 'D', 'g', 'G', 'h', 'H', 'n', 'N', 'p', 'P', 'x', 'z', 'F':
		case 'l', 'q', 'Q', 'L':
			skipSpace()
			for i < n && s[i] >= '0' && s[i] <= '9' {
				i++
			}
		case '#':
			toEOL()
		case ':':
			if toEOL() == "" {
				return fx, false
			}
		case 'b', 't', 'T':
			for i < n && s[i] != ';' && s[i] != '\n' && s[i] != '}' {
				i++
			}
		case 'a', 'i', 'c':
			// Text to the end of the line, continued by backslashes.
			for i < n {
				if s[i] == '\\' && i+1 < n {
					i += 2
					continue
				}
				if s[i] == '\n' {
					break
				}
				i++
			}
		case 'r', 'R':
			skipSpace()
			fx.reads = append(fx.reads, toEOL())
		case 'w', 'W':
			skipSpace()
			fx.writes = append(fx.writes, toEOL())
		case 'e':
			fx.execs = true
			toEOL()
		case 'v':
			for i < n && s[i] != ';' && s[i] != '\n' {
				i++
			}
		case 's', 'y':
			if i >= n || s[i] == '\\' || s[i] == '\n' {
				return fx, false
			}
			d := s[i]
			i++
			if !delimited(d, c == 's') || !delimited(d, false) {
				return fx, false
			}
			if c == 'y' {
				continue
			}
		flags:
			for i < n {
				switch f := s[i]; {
				case f == 'g' || f == 'p' || f == 'i' || f == 'I' || f == 'm' || f == 'M' || f >= '0' && f <= '9':
					i++
				case f == 'e':
					fx.execs = true
					i++
				case f == 'w':
					i++
					skipSpace()
					fx.writes = append(fx.writes, toEOL())
					break flags
				default:
					break flags
				}
			}
		default:
			return fx, false
		}
	}
}

func sed(e *env, args []*value) error {
	a := e.a
	p := parseArgs(args, optSyntax{short: "efl", optional: "i", long: []string{"--expression", "--file", "--line-length"}})
	a.add(KindRead, "")
	var scripts []*value
	inPlace := false
	for _, o := range p.opts {
		switch {
		case o.isAny([]string{"-e", "--expression"}):
			scripts = append(scripts, o.val)
		case o.isAny([]string{"-f", "--file"}):
			a.add(KindExec, "sed -f runs a script from a file")
			if err := a.readFile(o.val); err != nil {
				return err
			}
		case o.isAny([]string{"-i", "--in-place", "-I"}):
			inPlace = true
		case o.isAny([]string{"-n", "--quiet", "--silent", "-E", "-r", "--regexp-extended", "-s", "--separate",
			"-u", "--unbuffered", "-z", "--null-data", "--posix", "--debug", "--sandbox", "-l", "--line-length",
			"--follow-symlinks", "-b", "--binary"}):
		default:
			a.add(KindExec, "sed: unknown option "+quoteName(o.name))
		}
	}
	ops := p.operands
	if len(scripts) == 0 && !p.has("-f", "--file") && len(ops) > 0 {
		scripts, ops = ops[:1], ops[1:]
	}
	for _, sv := range scripts {
		if sv == nil || !sv.static {
			a.add(KindExec, "sed: a script known only on the host")
			continue
		}
		fx, ok := sedScript(sv.text)
		if !ok {
			a.add(KindExec, "sed: a script the classifier cannot follow (it could hold e or w commands)")
			continue
		}
		if fx.execs {
			a.add(KindExec, "sed's e command runs a shell command")
		}
		for _, f := range fx.reads {
			if err := a.readFile(&value{text: f, static: true}); err != nil {
				return err
			}
		}
		for _, f := range fx.writes {
			a.add(KindWrite, "sed's w command writes a file")
			if err := a.writeFile(&value{text: f, static: true}); err != nil {
				return err
			}
		}
	}
	if p.unsure {
		a.add(KindExec, "sed: an argument known only on the host could be one of its options")
	}
	if inPlace {
		a.add(KindWrite, "sed -i edits files in place")
		return operandFiles(a, ops, writesFiles)
	}
	return operandFiles(a, ops, readsFiles)
}

// awkUnsafe are what an awk program needs to write a file or run a
// command: output redirection and pipes (>, |), system(), getline from
// a command, gawk's @ directives. A program with none of them only reads
// its input and prints. ">" also rules out comparisons such as $3 > 100:
// the classifier cannot tell them apart from a redirection without
// parsing awk (write them as 100 < $3).
var awkUnsafe = []string{">", "|", "system", "getline", "@", "close", "fflush", "PROCINFO", "ENVIRON"}

func awk(e *env, args []*value) error {
	a := e.a
	p := parseArgs(args, optSyntax{short: "Fvf", long: []string{"--field-separator", "--assign", "--file"}, posix: true})
	a.add(KindRead, "")
	for _, o := range p.opts {
		switch {
		case o.isAny([]string{"-F", "--field-separator", "-v", "--assign"}):
		case o.isAny([]string{"-f", "--file"}):
			a.add(KindExec, "awk -f runs a program from a file")
		default:
			a.add(KindExec, "awk: option "+quoteName(o.name)+" can load code or write files")
		}
	}
	ops := p.operands
	if !p.has("-f", "--file") {
		if len(ops) == 0 {
			return nil
		}
		prog := ops[0]
		ops = ops[1:]
		switch {
		case !prog.static:
			a.add(KindExec, "awk: a program known only on the host")
		default:
			for _, u := range awkUnsafe {
				if strings.Contains(prog.text, u) {
					a.add(KindExec, "awk program uses "+u+" (awk can write files and run commands with >, | and system())")
					break
				}
			}
		}
	}
	for _, v := range ops {
		if k, _, ok := strings.Cut(v.text, "="); ok && validName(k) {
			continue // an assignment operand
		}
		if err := a.readFile(v); err != nil {
			return err
		}
	}
	return nil
}

// tar options that run programs.
var tarExec = []string{"-I", "-F", "--use-compress-program", "--to-command", "--checkpoint-action", "--info-script",
	"--new-volume-script", "--rsh-command", "--rmt-command"}

func tar(e *env, args []*value) error {
	a := e.a
	// Old style: "tar tvf x.tar": the first word is options without a
	// dash, whose values follow in order.
	const withValue = "bCfFgHIKLNTVX"
	if len(args) > 0 && args[0].static && args[0].text != "" && !strings.HasPrefix(args[0].text, "-") {
		var exp []*value
		rest := args[1:]
		for _, c := range args[0].text {
			exp = append(exp, &value{text: "-" + string(c), static: true})
			if strings.ContainsRune(withValue, c) && len(rest) > 0 {
				exp = append(exp, rest[0])
				rest = rest[1:]
			}
		}
		args = append(exp, rest...)
	}
	p := parseArgs(args, optSyntax{short: withValue, long: []string{"--file", "--directory", "--files-from",
		"--exclude-from", "--to-command", "--use-compress-program", "--checkpoint-action", "--info-script",
		"--new-volume-script", "--rsh-command", "--rmt-command", "--index-file", "--listed-incremental",
		"--newer", "--label", "--format", "--owner", "--group", "--mode", "--transform", "--exclude",
		"--blocking-factor", "--record-size", "--tape-length", "--volno-file", "--suffix"}})
	if p.unsure {
		a.add(KindExec, "tar: an argument known only on the host could be one of its options")
	}
	for _, o := range p.opts {
		if o.isAny(tarExec) {
			a.add(KindExec, "tar "+o.name+" runs a program")
		}
		if o.isAny([]string{"-g", "--listed-incremental", "--index-file", "--volno-file"}) {
			a.add(KindWrite, "tar "+o.name+" writes a file")
			if err := a.writeFile(o.val); err != nil {
				return err
			}
		}
		if o.isAny([]string{"-T", "--files-from", "-X", "--exclude-from"}) {
			if err := a.readFile(o.val); err != nil {
				return err
			}
		}
	}
	var archive *value
	if o := p.get("-f", "--file"); o != nil {
		archive = o.val
		if archive != nil && strings.Contains(archive.text, ":") && !p.has("--force-local") {
			a.add(KindExec, "tar: an archive name with ':' is opened on another host through rsh")
		}
	}
	dir := &value{text: ".", static: true}
	if o := p.get("-C", "--directory"); o != nil && o.val != nil {
		dir = o.val
	}
	switch {
	case p.has("-t", "--list", "-d", "--diff", "--compare"):
		a.add(KindRead, "")
		if err := a.readFile(archive); err != nil {
			return err
		}
	case p.has("-x", "--extract", "--get"):
		if err := a.readFile(archive); err != nil {
			return err
		}
		if p.has("-O", "--to-stdout") {
			a.add(KindRead, "")
			return nil
		}
		a.add(KindWrite, "tar -x writes the archive's files")
		return a.writeFile(dir)
	case p.has("-c", "--create", "-r", "--append", "-u", "--update", "-A", "--catenate", "--concatenate", "--delete"):
		a.add(KindWrite, "tar writes an archive")
		if err := a.writeFile(archive); err != nil {
			return err
		}
		return operandFiles(a, p.operands, readsFiles)
	default:
		a.add(KindExec, "tar without a known mode (-t, -x, -c, ...)")
	}
	return nil
}
