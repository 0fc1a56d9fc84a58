package cmdclass

import "strings"

func curl(e *env, args []*value) error {
	a := e.a
	p := parseArgs(args, optSyntax{short: "AbcCdDeEFHKmoQrTuUwxXyYz", long: []string{"--output", "--dump-header",
		"--cookie-jar", "--config", "--upload-file", "--trace", "--trace-ascii", "--libcurl", "--stderr",
		"--etag-save", "--hsts", "--alt-svc", "--data", "--data-raw", "--data-binary", "--data-urlencode",
		"--header", "--user", "--url", "--request", "--proxy", "--cookie", "--form", "--max-time",
		"--connect-timeout", "--retry", "--user-agent", "--referer", "--cacert", "--cert", "--key", "--resolve",
		"--write-out", "--output-dir", "--range", "--continue-at", "--proxy-user", "--quote", "--time-cond"}})
	a.add(KindNetwork, "curl talks to other hosts")
	if p.unsure {
		a.add(KindExec, "curl: an argument known only on the host could be one of its options")
	}
	for _, o := range p.opts {
		switch {
		case o.isAny([]string{"-o", "--output", "-D", "--dump-header", "-c", "--cookie-jar", "--trace",
			"--trace-ascii", "--libcurl", "--stderr", "--etag-save", "--hsts", "--alt-svc", "--output-dir"}):
			a.add(KindWrite, "curl "+o.name+" writes a file")
			if err := a.writeFile(o.val); err != nil {
				return err
			}
		case o.isAny([]string{"-O", "--remote-name", "--remote-name-all", "-J", "--remote-header-name"}):
			a.add(KindWrite, "curl -O saves what it downloads under a name the server chooses")
		case o.isAny([]string{"-K", "--config"}):
			a.add(KindExec, "curl -K reads options from a file")
		case o.isAny([]string{"-T", "--upload-file"}):
			if err := a.readFile(o.val); err != nil {
				return err
			}
		}
	}
	return nil
}

func wget(e *env, args []*value) error {
	a := e.a
	p := parseArgs(args, optSyntax{short: "OoaPeiU", long: []string{"--output-document", "--output-file",
		"--append-output", "--directory-prefix", "--execute", "--input-file", "--config", "--post-file",
		"--user-agent", "--header", "--user", "--password", "--tries", "--timeout", "--use-askpass"}})
	a.add(KindNetwork, "wget talks to other hosts")
	if p.unsure {
		a.add(KindExec, "wget: an argument known only on the host could be one of its options")
	}
	saves := !p.has("--spider")
	for _, o := range p.opts {
		switch {
		case o.isAny([]string{"-O", "--output-document"}):
			if o.val != nil && o.val.static && o.val.text == "-" {
				saves = false
				continue
			}
			a.add(KindWrite, "wget -O writes a file")
			saves = false
			if err := a.writeFile(o.val); err != nil {
				return err
			}
		case o.isAny([]string{"-o", "--output-file", "-a", "--append-output", "-P", "--directory-prefix"}):
			a.add(KindWrite, "wget "+o.name+" writes a file")
			if err := a.writeFile(o.val); err != nil {
				return err
			}
		case o.isAny([]string{"-e", "--execute", "--config", "--use-askpass"}):
			a.add(KindExec, "wget "+o.name+" runs commands or reads options from a file")
		case o.isAny([]string{"-i", "--input-file", "--post-file"}):
			if err := a.readFile(o.val); err != nil {
				return err
			}
		}
	}
	if saves {
		a.add(KindWrite, "wget saves what it downloads")
	}
	return nil
}

func sshH(e *env, args []*value) error {
	e.a.add(KindNetwork, "ssh talks to other hosts")
	e.a.add(KindExec, "ssh runs a command or a shell on another host (and its options can run local commands)")
	return nil
}

func scp(e *env, args []*value) error {
	a := e.a
	p := parseArgs(args, optSyntax{short: "cFiJlloPSDX"})
	a.add(KindNetwork, a.tag+" talks to other hosts")
	a.add(KindWrite, a.tag+" copies files")
	if p.has("-S", "-o", "-F", "-D") || a.tag == "sftp" || p.unsure {
		a.add(KindExec, a.tag+": its options or batch commands can run programs (ProxyCommand, -S)")
	}
	for i, v := range p.operands {
		if strings.Contains(v.text, ":") {
			continue
		}
		var err error
		if i == len(p.operands)-1 {
			err = a.writeFile(v)
		} else {
			err = a.readFile(v)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func rsync(e *env, args []*value) error {
	a := e.a
	p := parseArgs(args, optSyntax{short: "eTfB", long: []string{"--rsh", "--rsync-path", "--exclude", "--include",
		"--exclude-from", "--include-from", "--filter", "--temp-dir", "--backup-dir", "--suffix", "--files-from",
		"--log-file", "--password-file", "--chmod", "--chown", "--timeout", "--bwlimit", "--port", "--remote-option"}})
	a.add(KindWrite, "rsync copies files")
	if p.has("-e", "--rsh", "--rsync-path", "--remote-option", "-M", "--daemon", "--config") || p.unsure {
		a.add(KindExec, "rsync: its options can run programs")
	}
	n := len(p.operands)
	for i, v := range p.operands {
		if strings.Contains(v.text, ":") {
			a.add(KindNetwork, "rsync talks to other hosts")
			continue
		}
		var err error
		if i == n-1 {
			err = a.writeFile(v)
		} else {
			err = a.readFile(v)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func ncH(e *env, args []*value) error {
	a := e.a
	p := parseArgs(args, optSyntax{short: "ecpsiwqx", long: []string{"--exec", "--sh-exec", "--lua-exec"}})
	a.add(KindNetwork, a.tag+" talks to other hosts")
	if p.has("-e", "-c", "--exec", "--sh-exec", "--lua-exec") || p.unsure {
		a.add(KindExec, a.tag+" -e/-c runs a program on the connection")
	}
	return nil
}
