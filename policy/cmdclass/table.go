package cmdclass

// handler classifies a program given its arguments.
type handler func(e *env, args []*value) error

// fileRole is what a program does with the files its operands (or an
// option's value) name.
type fileRole int

const (
	noFiles fileRole = iota
	readsFiles
	writesFiles
)

// optEffect is what an option does beyond the program's own kind.
type optEffect struct {
	names  []string // "-o", "--output" (abbreviations of a long name match)
	kind   string
	reason string
	file   fileRole // the option's value is a file read or written
}

// spec describes a program of the simple sort: a kind, options that
// change it, and operands that are files read or written.
type spec struct {
	kind    string
	reason  string
	syn     optSyntax
	effects []optEffect
	files   fileRole
	// skip leading operands that are not files (grep's pattern), unless
	// one of skipUnless is given (grep -e).
	skip       int
	skipUnless []string
}

func (s spec) handler() handler {
	return func(e *env, args []*value) error {
		a := e.a
		p := parseArgs(args, s.syn)
		reason := s.reason
		if reason == "" {
			switch s.kind {
			case KindWrite:
				reason = a.tag + " changes files or the system's state"
			case KindNetwork:
				reason = a.tag + " talks to other hosts"
			case KindExec:
				reason = a.tag + " runs code the classifier cannot see"
			}
		}
		a.add(s.kind, reason)
		if p.unsure && len(s.effects) > 0 {
			a.add(KindExec, a.tag+": an argument known only on the host could be one of its options")
		}
		for _, o := range p.opts {
			for _, ef := range s.effects {
				if !o.isAny(ef.names) {
					continue
				}
				a.add(ef.kind, ef.reason)
				var err error
				switch ef.file {
				case readsFiles:
					err = a.readFile(o.val)
				case writesFiles:
					err = a.writeFile(o.val)
				}
				if err != nil {
					return err
				}
			}
		}
		ops := p.operands
		if skip := s.skip; skip > 0 && !p.has(s.skipUnless...) {
			if skip > len(ops) {
				skip = len(ops)
			}
			ops = ops[skip:]
		}
		return operandFiles(a, ops, s.files)
	}
}

func operandFiles(a *analysis, ops []*value, role fileRole) error {
	for _, v := range ops {
		var err error
		switch role {
		case readsFiles:
			err = a.readFile(v)
		case writesFiles:
			err = a.writeFile(v)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (o opt) isAny(names []string) bool {
	for _, n := range names {
		if o.is(n) {
			return true
		}
	}
	return false
}

// Shorthands for the table.
func reads(short string, long ...string) spec {
	return spec{kind: KindRead, files: readsFiles, syn: optSyntax{short: short, long: long}}
}

func readsNoFiles() spec { return spec{kind: KindRead} }

func writes(short string, long ...string) spec {
	return spec{kind: KindWrite, files: writesFiles, syn: optSyntax{short: short, long: long}}
}

func (s spec) with(effects ...optEffect) spec { s.effects = append(s.effects, effects...); return s }

func (s spec) reasonIs(r string) spec { s.reason = r; return s }

func eff(kind, reason string, file fileRole, names ...string) optEffect {
	return optEffect{names: names, kind: kind, reason: reason, file: file}
}

func execs(reason string) handler { return spec{kind: KindExec, reason: reason}.handler() }

func network(reason string) spec { return spec{kind: KindNetwork, reason: reason} }

const (
	interpreter = "an interpreter runs a program the classifier does not see"
	interactive = "an interactive program that can start a shell or run commands"
)

// table is what the classifier knows of programs, by name. A program
// not in it is exec.
var table map[string]handler

func init() {
	grep := reads("efmABCdD", "--regexp", "--file", "--max-count", "--after-context", "--before-context",
		"--context", "--label", "--include", "--exclude", "--exclude-from", "--exclude-dir", "--binary-files",
		"--devices", "--directories", "--group-separator")
	grep.skip, grep.skipUnless = 1, []string{"-e", "-f", "--regexp", "--file"}
	grep = grep.with(eff(KindRead, "", readsFiles, "-f", "--file", "--exclude-from"))
	rg := reads("ABCefgjmMrtTE", "--regexp", "--file", "--glob", "--iglob", "--type", "--type-not", "--type-add",
		"--max-count", "--max-columns", "--replace", "--encoding", "--context", "--after-context",
		"--before-context", "--threads", "--sort", "--sortr", "--colors", "--color", "--path-separator",
		"--max-depth", "--max-filesize", "--ignore-file", "--engine", "--pre", "--pre-glob", "--hostname-bin")
	rg.skip, rg.skipUnless = 1, []string{"-e", "-f", "--regexp", "--file", "--files", "--type-list"}
	rg = rg.with(eff(KindExec, "rg --pre runs a program on every file", noFiles, "--pre", "--hostname-bin"),
		eff(KindRead, "", readsFiles, "-f", "--file", "--ignore-file"))
	sort := reads("kotST", "--key", "--output", "--buffer-size", "--field-separator", "--temporary-directory",
		"--compress-program", "--files0-from", "--parallel", "--random-source", "--batch-size", "--sort").with(
		eff(KindWrite, "sort -o writes its output to a file", writesFiles, "-o", "--output"),
		eff(KindExec, "sort --compress-program runs a program", noFiles, "--compress-program"),
		eff(KindRead, "", readsFiles, "--files0-from", "--random-source"))
	kills := spec{kind: KindWrite, reason: "sends signals to processes"}
	power := spec{kind: KindWrite, reason: "stops or restarts the host"}
	table = map[string]handler{
		// Files read.
		"cat": reads("").handler(), "tac": reads("s", "--separator").handler(),
		"head": reads("cn", "--bytes", "--lines").handler(), "tail": reads("cns", "--bytes", "--lines", "--pid", "--sleep-interval", "--max-unchanged-stats").handler(),
		"wc": reads("", "--files0-from").handler(), "nl": reads("bdfhilnsvw").handler(),
		"cut":   reads("bcdf", "--bytes", "--characters", "--delimiter", "--fields", "--output-delimiter").handler(),
		"paste": reads("d", "--delimiters").handler(), "comm": reads("", "--output-delimiter").handler(),
		"join": reads("ajoteo12").handler(), "fold": reads("w", "--width").handler(), "fmt": reads("wgp").handler(),
		"expand": reads("t", "--tabs").handler(), "unexpand": reads("t", "--tabs").handler(), "rev": reads("").handler(),
		"strings": reads("nteTo").handler(), "od": reads("AjNtSw").handler(), "hexdump": reads("efns").handler(),
		"md5sum": reads("").handler(), "sha1sum": reads("").handler(), "sha224sum": reads("").handler(), "sha256sum": reads("").handler(),
		"sha384sum": reads("").handler(), "sha512sum": reads("").handler(), "b2sum": reads("l").handler(), "cksum": reads("a").handler(),
		"base64": reads("w", "--wrap").handler(), "base32": reads("w", "--wrap").handler(),
		"stat": reads("ct", "--format", "--printf").handler(), "du": reads("BdtX", "--block-size", "--max-depth", "--threshold", "--exclude-from", "--exclude", "--time-style", "--files0-from").handler(),
		"ls":   reads("ITw", "--ignore", "--hide", "--format", "--sort", "--time", "--time-style", "--width", "--tabsize", "--block-size", "--color", "--quoting-style", "--indicator-style").handler(),
		"diff": reads("CUFIxXSLD", "--label", "--from-file", "--to-file", "--ignore-matching-lines", "--exclude", "--exclude-from", "--starting-file", "--show-function-line", "--width", "--tabsize", "--color", "--palette").handler(),
		"cmp":  reads("iIn", "--ignore-initial", "--bytes").handler(), "readlink": reads("").handler(), "realpath": reads("", "--relative-to", "--relative-base").handler(),
		"zcat": reads("").handler(), "bzcat": reads("").handler(), "xzcat": reads("").handler(), "zstdcat": reads("").handler(),
		"column": reads("sctoNRHJ").handler(), "zgrep": grep.handler(), "grep": grep.handler(), "egrep": grep.handler(), "fgrep": grep.handler(),
		"rg":   rg.handler(),
		"sort": sort.handler(),
		"tree": reads("LPIHT", "--charset", "--filelimit", "--timefmt", "--sort", "--fromfile").with(eff(KindWrite, "tree -o writes its output to a file", writesFiles, "-o")).handler(),
		"file": reads("emfFP", "--exclude", "--magic-file", "--files-from", "--separator", "--parameter").with(
			eff(KindWrite, "file -C writes a compiled magic file", noFiles, "-C", "--compile"),
			eff(KindRead, "", readsFiles, "-m", "-f", "--magic-file", "--files-from")).handler(),
		"df": reads("BtxF", "--block-size", "--type", "--exclude-type", "--output").handler(),
		"jq": spec{kind: KindRead, files: readsFiles, skip: 1, skipUnless: []string{"-f", "--from-file"},
			syn: optSyntax{short: "fL", long: []string{"--from-file", "--indent"}, long2: []string{"--arg", "--argjson", "--slurpfile", "--rawfile"}}}.handler(),
		"tr": readsNoFiles().handler(), "uniq": uniq, "xxd": xxd,

		// Programs that read no files, or the system's state.
		"echo": readsNoFiles().handler(), "printf": printfH, "true": readsNoFiles().handler(), "false": readsNoFiles().handler(),
		":": readsNoFiles().handler(), "pwd": readsNoFiles().handler(), "test": readsNoFiles().handler(), "[": readsNoFiles().handler(),
		"basename": readsNoFiles().handler(), "dirname": readsNoFiles().handler(), "sleep": readsNoFiles().handler(),
		"yes": readsNoFiles().handler(), "seq": readsNoFiles().handler(), "expr": readsNoFiles().handler(), "factor": readsNoFiles().handler(),
		"numfmt": readsNoFiles().handler(), "id": readsNoFiles().handler(), "whoami": readsNoFiles().handler(),
		"groups": readsNoFiles().handler(), "logname": readsNoFiles().handler(), "users": readsNoFiles().handler(),
		"uname": readsNoFiles().handler(), "uptime": readsNoFiles().handler(), "nproc": readsNoFiles().handler(),
		"arch": readsNoFiles().handler(), "tty": readsNoFiles().handler(), "w": readsNoFiles().handler(), "who": readsNoFiles().handler(),
		"last": readsNoFiles().handler(), "lastlog": readsNoFiles().handler(), "free": readsNoFiles().handler(),
		"vmstat": readsNoFiles().handler(), "iostat": readsNoFiles().handler(), "mpstat": readsNoFiles().handler(),
		"lscpu": readsNoFiles().handler(), "lsblk": readsNoFiles().handler(), "lsmod": readsNoFiles().handler(),
		"lspci": readsNoFiles().handler(), "lsusb": readsNoFiles().handler(), "printenv": readsNoFiles().handler(),
		"locale": readsNoFiles().handler(), "getent": readsNoFiles().handler(), "getconf": readsNoFiles().handler(),
		"ps": readsNoFiles().handler(), "pgrep": readsNoFiles().handler(), "pidof": readsNoFiles().handler(),
		"netstat": readsNoFiles().handler(), "findmnt": readsNoFiles().handler(), "cal": readsNoFiles().handler(),
		"which": readsNoFiles().handler(), "type": readsNoFiles().handler(), "whereis": readsNoFiles().handler(),
		"lsof": readsNoFiles().handler(), "exit": readsNoFiles().handler(), "return": readsNoFiles().handler(),
		"break": readsNoFiles().handler(), "continue": readsNoFiles().handler(), "jobs": readsNoFiles().handler(),
		"times": readsNoFiles().handler(), "help": readsNoFiles().handler(), "sensors": readsNoFiles().handler(),
		"hostid": readsNoFiles().handler(),
		"ss":     spec{kind: KindRead, syn: optSyntax{short: "fAF"}}.with(eff(KindWrite, "ss -K closes sockets", noFiles, "-K", "--kill")).handler(),
		"date":   date, "top": top, "hostname": hostname, "dmesg": dmesg, "mount": mount, "ip": ip,
		"timedatectl": ctl, "hostnamectl": ctl, "localectl": ctl,

		// Programs that change files or the system.
		"rm": writes("").handler(), "rmdir": writes("").handler(), "unlink": writes("").handler(),
		"shred": writes("ns", "--iterations", "--size", "--random-source").handler(),
		"touch": writes("drt", "--date", "--reference", "--time").with(eff(KindWrite, "", readsFiles, "-r", "--reference")).handler(),
		"mkdir": writes("m", "--mode", "--context").handler(), "mkfifo": writes("m", "--mode", "--context").handler(),
		"mknod":    spec{kind: KindWrite, files: writesFiles, syn: optSyntax{short: "m", long: []string{"--mode"}}}.handler(),
		"truncate": writes("sr", "--size", "--reference").with(eff(KindWrite, "", readsFiles, "-r", "--reference")).handler(),
		"tee":      writes("", "--output-error").handler(),
		"cp":       copier("cp"), "install": copier("install"), "mv": mover, "ln": linker,
		"chmod": chmod, "chown": chowner, "chgrp": chowner, "dd": dd,
		"sed": sed, "tar": tar, "find": find,
		"kill": kills.handler(), "pkill": kills.handler(), "killall": kills.handler(),
		"reboot": power.handler(), "shutdown": power.handler(), "poweroff": power.handler(), "halt": power.handler(),
		"telinit": power.handler(), "init": power.handler(),

		// Services, journals, repositories, containers.
		"git": git, "systemctl": systemctl, "journalctl": journalctl, "docker": docker, "service": service,

		// Network.
		"curl": curl, "wget": wget, "ssh": sshH,
		"scp": scp, "sftp": scp, "rsync": rsync,
		"nc": ncH, "ncat": ncH, "netcat": ncH,
		"socat":  spec{kind: KindNetwork, reason: "socat talks to other hosts"}.handler(),
		"telnet": network("").handler(), "ftp": network("").handler(), "ping": network("").handler(), "ping6": network("").handler(),
		"dig": network("").handler(), "host": network("").handler(), "nslookup": network("").handler(),
		"traceroute": network("").handler(), "tracepath": network("").handler(), "mtr": network("").handler(),
		"whois": network("").handler(), "arping": network("").handler(),

		// Programs that run other programs.
		"timeout": timeout, "nice": nice, "ionice": ionice, "stdbuf": stdbuf, "command": command,
		"builtin": builtinH, "env": envH, "time": timeH, "xargs": xargs, "taskset": taskset,
		"sudo": sudo, "doas": doas, "pkexec": pkexec, "su": su, "runuser": su, "sudoedit": sudoedit, "run0": sudo,

		// Code the classifier cannot see.
		"awk": awk, "gawk": awk, "mawk": awk, "nawk": awk,
	}
	for _, p := range []string{"python", "python2", "python3", "perl", "ruby", "node", "nodejs", "php", "lua",
		"luajit", "tclsh", "wish", "Rscript", "R", "java", "deno", "bun", "irb", "julia", "guile", "expect",
		"make", "gdb", "strace", "ltrace", "valgrind", "perf", "bc", "dc", "openssl", "crontab", "sqlite3",
		"psql", "mysql", "redis-cli", "kubectl", "ansible", "npm", "npx", "pip", "pip3", "cargo", "go"} {
		table[p] = execs(interpreter)
	}
	for _, p := range []string{"less", "more", "most", "pg", "vi", "vim", "nvim", "view", "vimdiff", "nano", "pico",
		"emacs", "ed", "ex", "joe", "mcedit", "man", "info", "pager", "sensible-pager", "sensible-editor",
		"editor", "ranger", "mc", "tmux", "screen", "script", "zless", "zmore", "lesspipe", "htop", "atop", "iftop"} {
		table[p] = execs(interactive)
	}
}
