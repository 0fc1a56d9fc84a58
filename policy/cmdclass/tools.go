package cmdclass

import "strings"

// find primaries that read, with the number of values they take.
var findPrimaries = map[string]int{
	"-name": 1, "-iname": 1, "-path": 1, "-ipath": 1, "-wholename": 1, "-iwholename": 1, "-regex": 1, "-iregex": 1,
	"-lname": 1, "-ilname": 1, "-type": 1, "-xtype": 1, "-mtime": 1, "-mmin": 1, "-atime": 1, "-amin": 1,
	"-ctime": 1, "-cmin": 1, "-size": 1, "-newer": 1, "-anewer": 1, "-cnewer": 1, "-user": 1, "-group": 1,
	"-uid": 1, "-gid": 1, "-perm": 1, "-links": 1, "-inum": 1, "-samefile": 1, "-fstype": 1, "-maxdepth": 1,
	"-mindepth": 1, "-regextype": 1, "-printf": 1, "-used": 1, "-context": 1, "-files0-from": 1,
	"-print": 0, "-print0": 0, "-ls": 0, "-prune": 0, "-quit": 0, "-empty": 0, "-readable": 0, "-writable": 0,
	"-executable": 0, "-nouser": 0, "-nogroup": 0, "-true": 0, "-false": 0, "-xdev": 0, "-mount": 0,
	"-depth": 0, "-d": 0, "-follow": 0, "-daystart": 0, "-noleaf": 0, "-ignore_readdir_race": 0,
	"-noignore_readdir_race": 0, "-warn": 0, "-nowarn": 0, "-not": 0, "-a": 0, "-o": 0, "-and": 0, "-or": 0,
	"!": 0, "(": 0, ")": 0, ",": 0,
}

func find(e *env, args []*value) error {
	a := e.a
	a.add(KindRead, "")
	i := 0
	for i < len(args) && args[i].static && (args[i].text == "-H" || args[i].text == "-L" || args[i].text == "-P" ||
		strings.HasPrefix(args[i].text, "-O") || args[i].text == "-D") {
		if args[i].text == "-D" {
			i++
		}
		i++
	}
	var paths []*value
	for ; i < len(args); i++ {
		v := args[i]
		if v.static && (strings.HasPrefix(v.text, "-") || v.text == "(" || v.text == "!" || v.text == ")" || v.text == ",") {
			break
		}
		if !v.static && v.optionLike {
			a.add(KindExec, "find: an argument known only on the host could be a primary such as -exec or -delete")
		}
		paths = append(paths, v)
		if err := a.readFile(v); err != nil {
			return err
		}
	}
	if len(paths) == 0 {
		paths = []*value{{text: ".", static: true}}
		if err := a.readFile(paths[0]); err != nil {
			return err
		}
	}
	for ; i < len(args); i++ {
		v := args[i]
		if !v.static {
			a.add(KindExec, "find: a primary known only on the host")
			continue
		}
		t := v.text
		if n, ok := findPrimaries[t]; ok {
			if t == "-files0-from" && i+1 < len(args) {
				if err := a.readFile(args[i+1]); err != nil {
					return err
				}
			}
			i += n
			continue
		}
		if strings.HasPrefix(t, "-newer") && len(t) == 8 {
			i++
			continue
		}
		switch t {
		case "-exec", "-execdir", "-ok", "-okdir":
			j := i + 1
			for j < len(args) && !(args[j].static && (args[j].text == ";" || args[j].text == "+")) {
				j++
			}
			prog := "a program"
			if i+1 < len(args) {
				prog = quoteName(args[i+1].text)
			}
			a.add(KindExec, "find "+t+" runs "+prog+" for each file it finds")
			if err := e.sub("find "+t, args[i+1:j]); err != nil {
				return err
			}
			i = j
		case "-delete":
			a.add(KindWrite, "find -delete removes the files it finds")
			if err := operandFiles(a, paths, writesFiles); err != nil {
				return err
			}
		case "-fprint", "-fprint0", "-fls", "-fprintf":
			a.add(KindWrite, "find "+t+" writes a file")
			if i+1 < len(args) {
				if err := a.writeFile(args[i+1]); err != nil {
					return err
				}
			}
			i++
			if t == "-fprintf" {
				i++
			}
		default:
			a.add(KindExec, "find: unknown primary "+quoteName(t))
		}
	}
	return nil
}

// git's subcommands by what they do; any other (an alias, an extension
// git-<name> found on PATH) is exec.
var gitRead = map[string]bool{"status": true, "log": true, "diff": true, "show": true, "rev-parse": true,
	"ls-files": true, "ls-tree": true, "cat-file": true, "blame": true, "describe": true, "shortlog": true,
	"rev-list": true, "grep": true, "for-each-ref": true, "show-ref": true, "var": true, "count-objects": true,
	"whatchanged": true, "name-rev": true, "merge-base": true, "cherry": true, "version": true,
	"show-branch": true, "diff-tree": true, "diff-files": true, "diff-index": true, "range-diff": true}

var gitWrite = map[string]bool{"add": true, "commit": true, "checkout": true, "switch": true, "restore": true,
	"reset": true, "rm": true, "mv": true, "merge": true, "rebase": true, "cherry-pick": true, "revert": true,
	"init": true, "clean": true, "gc": true, "prune": true, "am": true, "apply": true, "notes": true,
	"stash": true, "tag": true, "branch": true, "config": true, "reflog": true, "worktree": true, "remote": true,
	"update-ref": true, "symbolic-ref": true, "repack": true, "pack-refs": true, "maintenance": true}

var gitNetwork = map[string]bool{"fetch": true, "pull": true, "push": true, "clone": true, "ls-remote": true,
	"submodule": true, "send-email": true, "request-pull": true, "archive": true}

func git(e *env, args []*value) error {
	a := e.a
	i := 0
	for ; i < len(args); i++ {
		v := args[i]
		t := v.text
		if !v.static {
			return refuse("git", a.at, "git's options or subcommand are known only on the host")
		}
		if !strings.HasPrefix(t, "-") {
			break
		}
		switch {
		case t == "-c" || strings.HasPrefix(t, "--config-env") || strings.HasPrefix(t, "--exec-path") || strings.HasPrefix(t, "-c"):
			a.add(KindExec, "git "+strings.SplitN(t, "=", 2)[0]+" can set any configuration, pagers and programs included")
			if t == "-c" || t == "--config-env" {
				i++
			}
		case t == "-C" || t == "--git-dir" || t == "--work-tree" || t == "--namespace" || t == "--super-prefix":
			i++
		case strings.HasPrefix(t, "--git-dir=") || strings.HasPrefix(t, "--work-tree=") || strings.HasPrefix(t, "--namespace="):
		case t == "--no-pager" || t == "-P" || t == "--bare" || t == "--no-replace-objects" || t == "--literal-pathspecs" ||
			t == "--no-optional-locks" || t == "--glob-pathspecs" || t == "--noglob-pathspecs" || t == "--icase-pathspecs" ||
			t == "-p" || t == "--paginate" || t == "--version" || t == "--help" || t == "--html-path" ||
			t == "--man-path" || t == "--info-path" || t == "--no-advice":
		default:
			a.add(KindExec, "git: unknown option "+quoteName(t))
		}
	}
	if i >= len(args) {
		a.add(KindRead, "")
		return nil
	}
	sub := args[i].text
	rest := args[i+1:]
	p := parseArgs(rest, optSyntax{})
	for _, o := range p.opts {
		if o.isAny([]string{"--output", "--ext-diff", "--open-files-in-pager", "-O", "--exec", "--upload-pack",
			"--receive-pack", "--textconv", "--run", "--tool", "--extcmd"}) {
			a.add(KindExec, "git "+sub+" "+o.name+" writes a file or runs a program")
		}
	}
	if p.unsure {
		a.add(KindExec, "git "+sub+": an argument known only on the host could be one of its options")
	}
	switch {
	case gitRead[sub]:
		a.add(KindRead, "")
	case sub == "branch" && gitListing(p, "--list", "-l", "--show-current"):
		a.add(KindRead, "")
	case sub == "tag" && gitListing(p, "--list", "-l"):
		a.add(KindRead, "")
	case sub == "remote" && (len(p.operands) == 0 || p.operands[0].text == "get-url"):
		a.add(KindRead, "")
	case sub == "config" && p.has("--get", "--get-all", "--get-regexp", "--list", "-l", "--get-urlmatch"):
		a.add(KindRead, "")
	case (sub == "stash" || sub == "worktree" || sub == "reflog") && len(p.operands) > 0 && (p.operands[0].text == "list" || p.operands[0].text == "show"):
		a.add(KindRead, "")
	case sub == "reflog" && len(p.operands) == 0:
		a.add(KindRead, "")
	case gitWrite[sub]:
		a.add(KindWrite, "git "+sub+" changes the repository")
	case gitNetwork[sub]:
		a.add(KindNetwork, "git "+sub+" talks to other repositories")
		if sub != "ls-remote" && sub != "push" {
			a.add(KindWrite, "git "+sub+" changes the repository")
		}
		if sub == "submodule" {
			a.add(KindExec, "git submodule can run commands from the repository's configuration")
		}
	default:
		a.add(KindExec, "git "+quoteName(sub)+" is not a known git command (an alias can run anything)")
	}
	return nil
}

// gitListing: git branch/tag only list when given no names, or --list.
func gitListing(p parsed, list ...string) bool {
	if p.has(list...) {
		return !p.has("-d", "-D", "--delete", "-m", "-M", "--move", "-c", "-C", "--copy", "-u", "--set-upstream-to", "--unset-upstream", "--edit-description", "-f", "--force", "-a", "--annotate", "-s", "--sign")
	}
	if len(p.operands) > 0 {
		return false
	}
	for _, o := range p.opts {
		if !o.isAny([]string{"-a", "--all", "-r", "--remotes", "-v", "-vv", "--verbose", "--no-color", "--color", "--sort", "--format", "--contains", "--no-contains", "--merged", "--no-merged", "--points-at", "-n", "--column", "--no-column", "-i", "--ignore-case", "--omit-empty"}) {
			return false
		}
	}
	return true
}

var systemctlRead = map[string]bool{"status": true, "show": true, "cat": true, "is-active": true, "is-enabled": true,
	"is-failed": true, "is-system-running": true, "list-units": true, "list-unit-files": true, "list-sockets": true,
	"list-timers": true, "list-jobs": true, "list-dependencies": true, "list-machines": true,
	"show-environment": true, "get-default": true, "list-automounts": true, "list-paths": true}

var systemctlWrite = map[string]bool{"start": true, "stop": true, "restart": true, "reload": true, "try-restart": true,
	"reload-or-restart": true, "try-reload-or-restart": true, "enable": true, "disable": true, "reenable": true,
	"mask": true, "unmask": true, "daemon-reload": true, "daemon-reexec": true, "kill": true, "reset-failed": true,
	"isolate": true, "set-default": true, "set-property": true, "preset": true, "preset-all": true, "link": true,
	"revert": true, "poweroff": true, "reboot": true, "halt": true, "suspend": true, "hibernate": true,
	"hybrid-sleep": true, "default": true, "rescue": true, "emergency": true, "kexec": true, "set-environment": true,
	"unset-environment": true, "import-environment": true, "freeze": true, "thaw": true, "clean": true,
	"bind": true, "mount-image": true, "switch-root": true, "soft-reboot": true, "exit": true, "add-wants": true,
	"add-requires": true, "condrestart": true, "force-reload": true}

func systemctl(e *env, args []*value) error {
	a := e.a
	p := parseArgs(args, optSyntax{short: "tpPnoHMs", long: []string{"--type", "--state", "--property", "--lines",
		"--output", "--host", "--machine", "--signal", "--kill-whom", "--job-mode", "--root", "--what", "--timestamp",
		"--boot-loader-entry", "--boot-loader-menu", "--message", "--image", "--kill-value", "--drop-in", "--when"}})
	if p.has("-H", "--host", "-M", "--machine") {
		a.add(KindNetwork, "systemctl -H/-M talks to another host or container")
	}
	if p.unsure {
		a.add(KindExec, "systemctl: an argument known only on the host could be one of its options")
	}
	if len(p.operands) == 0 {
		a.add(KindRead, "")
		return nil
	}
	op := p.operands[0]
	switch {
	case !op.static:
		a.add(KindExec, "systemctl: the command is known only on the host")
	case systemctlRead[op.text]:
		a.add(KindRead, "")
	case systemctlWrite[op.text]:
		a.add(KindWrite, "systemctl "+op.text+" changes services or the system's state")
	case op.text == "edit":
		a.add(KindWrite, "systemctl edit changes units")
		a.add(KindExec, "systemctl edit runs an editor")
	default:
		a.add(KindExec, "systemctl "+quoteName(op.text)+" is not a known systemctl command")
	}
	return nil
}

func journalctl(e *env, args []*value) error {
	a := e.a
	p := parseArgs(args, optSyntax{short: "unpSUotgDMFIcTb", long: []string{"--unit", "--user-unit", "--lines",
		"--priority", "--since", "--until", "--output", "--identifier", "--grep", "--directory", "--file", "--machine",
		"--field", "--output-fields", "--cursor", "--after-cursor", "--cursor-file", "--facility", "--namespace",
		"--root", "--image", "--boot", "--vacuum-size", "--vacuum-time", "--vacuum-files", "--interval",
		"--verify-key", "--invocation", "--exclude-identifier"}})
	a.add(KindRead, "")
	for _, o := range p.opts {
		switch {
		case o.isAny([]string{"--vacuum-size", "--vacuum-time", "--vacuum-files", "--rotate", "--flush", "--sync",
			"--relinquish-var", "--smart-relinquish-var", "--setup-keys", "--update-catalog"}):
			a.add(KindWrite, "journalctl "+o.name+" changes the journal")
		case o.isAny([]string{"--cursor-file"}):
			a.add(KindWrite, "journalctl --cursor-file writes a file")
			if err := a.writeFile(o.val); err != nil {
				return err
			}
		case o.isAny([]string{"-M", "--machine"}):
			a.add(KindExec, "journalctl -M reads another machine's journal")
		case o.isAny([]string{"--file", "-D", "--directory"}):
			if err := a.readFile(o.val); err != nil {
				return err
			}
		}
	}
	if p.unsure {
		a.add(KindExec, "journalctl: an argument known only on the host could be one of its options")
	}
	return nil
}

var dockerRead = map[string]bool{"ps": true, "logs": true, "inspect": true, "images": true, "version": true,
	"info": true, "stats": true, "top": true, "port": true, "diff": true, "history": true, "events": true}

var dockerWrite = map[string]bool{"rm": true, "rmi": true, "stop": true, "start": true, "restart": true,
	"kill": true, "pause": true, "unpause": true, "rename": true, "update": true, "tag": true, "create": true,
	"commit": true, "load": true, "import": true, "wait": true, "prune": true}

// dockerGroups are management commands whose read subcommands are
// dockerGroupRead.
var dockerGroups = map[string]bool{"container": true, "image": true, "network": true, "volume": true, "system": true, "node": true, "service": true}

var dockerGroupRead = map[string]bool{"ls": true, "list": true, "inspect": true, "logs": true, "top": true,
	"port": true, "diff": true, "history": true, "stats": true, "df": true, "info": true, "events": true, "ps": true}

func docker(e *env, args []*value) error {
	a := e.a
	p := parseArgs(args, optSyntax{short: "Hcl", long: []string{"--host", "--context", "--config", "--log-level",
		"--tlscacert", "--tlscert", "--tlskey"}, posix: true})
	if p.has("-H", "--host", "-c", "--context", "--config") {
		a.add(KindNetwork, "docker talks to another daemon")
	}
	if len(p.operands) == 0 {
		a.add(KindRead, "")
		return nil
	}
	sub := p.operands[0].text
	rest := parseArgs(p.operands[1:], optSyntax{})
	if !p.operands[0].static || rest.unsure {
		a.add(KindExec, "docker: an argument known only on the host")
		return nil
	}
	if dockerGroups[sub] && len(rest.operands) > 0 {
		sub2 := rest.operands[0].text
		switch {
		case dockerGroupRead[sub2]:
			a.add(KindRead, "")
		case sub2 == "run" || sub2 == "exec" || sub2 == "attach" || sub2 == "cp":
			a.add(KindExec, "docker "+sub+" "+sub2+" runs code in a container")
		default:
			a.add(KindWrite, "docker "+sub+" "+quoteName(sub2)+" changes containers, images or the daemon")
		}
		return nil
	}
	switch {
	case dockerRead[sub]:
		a.add(KindRead, "")
	case dockerWrite[sub]:
		a.add(KindWrite, "docker "+sub+" changes containers, images or the daemon")
	case sub == "pull" || sub == "push" || sub == "login" || sub == "search":
		a.add(KindNetwork, "docker "+sub+" talks to a registry")
		a.add(KindWrite, "docker "+sub+" changes images or credentials")
	case sub == "save" || sub == "export" || sub == "cp":
		a.add(KindWrite, "docker "+sub+" writes files")
	default:
		a.add(KindExec, "docker "+quoteName(sub)+" runs code in a container or is not known")
	}
	return nil
}

func service(e *env, args []*value) error {
	a := e.a
	if len(args) < 2 || !args[0].static || !args[1].static {
		if len(args) == 1 && args[0].static && (args[0].text == "--status-all" || args[0].text == "--version") {
			a.add(KindRead, "")
			return nil
		}
		a.add(KindExec, "service: runs an init script the classifier does not know")
		return nil
	}
	switch args[1].text {
	case "status":
		a.add(KindRead, "")
	case "start", "stop", "restart", "reload", "force-reload", "try-restart", "condrestart":
		a.add(KindWrite, "service "+args[1].text+" changes a service")
	default:
		a.add(KindExec, "service: runs an init script with a command the classifier does not know")
	}
	return nil
}

func ip(e *env, args []*value) error {
	a := e.a
	i := 0
	for ; i < len(args) && args[i].static && strings.HasPrefix(args[i].text, "-"); i++ {
		switch args[i].text {
		case "-b", "-batch", "-B":
			a.add(KindExec, "ip -batch runs commands from a file")
		case "-n", "-netns", "-l", "-loops", "-f", "-family", "-rc", "-rcvbuf":
			i++
		}
	}
	ops := args[i:]
	for _, v := range ops {
		if !v.static {
			a.add(KindExec, "ip: an argument known only on the host")
			return nil
		}
	}
	if len(ops) >= 2 && ops[0].text == "netns" && ops[1].text == "exec" {
		a.add(KindExec, "ip netns exec runs a program")
		return e.sub("ip netns exec", ops[min(3, len(ops)):])
	}
	if len(ops) < 2 {
		a.add(KindRead, "")
		return nil
	}
	switch ops[1].text {
	case "show", "list", "ls", "lst", "get", "help", "monitor":
		a.add(KindRead, "")
	default:
		if strings.HasPrefix(ops[1].text, "-") || ops[0].text == "help" {
			a.add(KindRead, "")
			return nil
		}
		a.add(KindWrite, "ip "+ops[0].text+" "+ops[1].text+" changes the network configuration")
	}
	return nil
}

// ctl: timedatectl, hostnamectl, localectl: status and listings read.
func ctl(e *env, args []*value) error {
	p := parseArgs(args, optSyntax{short: "HMp", long: []string{"--host", "--machine", "--property"}})
	if p.has("-H", "--host", "-M", "--machine") {
		e.a.add(KindNetwork, e.a.tag+" -H/-M talks to another host or container")
	}
	if len(p.operands) == 0 {
		e.a.add(KindRead, "")
		return nil
	}
	op := p.operands[0].text
	if p.operands[0].static && (op == "status" || op == "show" || strings.HasPrefix(op, "list-") || op == "timesync-status" || op == "show-timesync") {
		e.a.add(KindRead, "")
		return nil
	}
	e.a.add(KindWrite, e.a.tag+" "+quoteName(op)+" changes the system's settings")
	return nil
}

func top(e *env, args []*value) error {
	p := parseArgs(args, optSyntax{short: "dnpuUoOwEe"})
	if p.has("-b") && p.has("-n") && !p.unsure {
		e.a.add(KindRead, "")
		return nil
	}
	e.a.add(KindExec, "top without -b -n runs until ended and takes commands (kill, renice) from its terminal")
	return nil
}

func dmesg(e *env, args []*value) error {
	p := parseArgs(args, optSyntax{short: "nFfls", long: []string{"--console-level", "--file", "--facility", "--level", "--buffer-size", "--time-format"}})
	if p.has("-c", "-C", "-D", "-E", "-n", "--clear", "--read-clear", "--console-off", "--console-on", "--console-level") || p.unsure {
		e.a.add(KindWrite, "dmesg clears the kernel's ring buffer or changes its console level")
		return nil
	}
	e.a.add(KindRead, "")
	return nil
}

func mount(e *env, args []*value) error {
	p := parseArgs(args, optSyntax{short: "t", long: []string{"--types"}})
	if len(p.operands) == 0 && !p.unsure {
		for _, o := range p.opts {
			if !o.isAny([]string{"-l", "--show-labels", "-t", "--types", "-v", "--verbose"}) {
				e.a.add(KindWrite, "mount changes what is mounted")
				return nil
			}
		}
		e.a.add(KindRead, "")
		return nil
	}
	e.a.add(KindWrite, "mount changes what is mounted")
	return nil
}
