// Package cmdclass classifies shell command lines for the policy engine:
// the commands exec_ssh runs on hosts. For every simple command in a
// line it reports, as a policy.Part, the program that runs (Tag), what it
// does (Kinds: read, write, network, exec, privileged, least severe
// first), the files it reads and writes (policy.ResourceFile), and in
// words why it is not a plain read. Facts.Canonical is the line written
// anew from its parse: the host must run it, never the caller's text.
//
// It parses with mvdan.cc/sh/v3/syntax in the bash dialect (the login
// shell sshd runs a command with, on the hosts Warden targets), never
// with regular expressions, and walks every node: lists, pipes,
// subshells, groups, if/while/until/for/case, time, redirections,
// here-documents and here-strings, words and the expansions in them. A
// node it does not know is refused.
//
// # What it must never do
//
// It must never vouch for what it cannot see. Anything whose effect is
// known only when the host runs it is refused with an *Error matching
// policy.ErrNotUnderstood: eval, source, exec, any shell (sh -c, bash
// script, a shell reading its input), an expansion, substitution, quote,
// escape or pattern in the program's place, a reserved word there,
// variables it does not know (IFS, $1, ${x:-y}, ...), assignments,
// declare/export/read/cd/alias/trap/set/hash and other builtins that
// change what later words mean, function definitions, [[ ]], let and
// arithmetic on variables, background jobs, nohup/setsid/watch/at,
// command and process substitution (unless Options.AllowSubstitution),
// brace expansion, ~user, $'...' and $"...", patterns that could expand
// to an option or reach "..", NUL bytes, invalid UTF-8, control
// characters and bidirectional overrides, lines over MaxBytes, more than
// MaxCommands commands or MaxDepth nesting. A program the knowledge
// table does not know, a program named by a path outside the system's
// directories (or through ".."), an interpreter, an editor or pager, a
// program that runs others (find -exec, xargs, awk with system(), git
// -c, tar --to-command, env or a prefix assignment such as LD_PRELOAD=),
// or a known program given an argument whose value is known only on the
// host where it could be an option, is exec: policy should treat exec as
// "anything the account can do".
//
// The package never runs a command, never reads the host's files and
// keeps no mutable state; a Classifier is safe for concurrent use.
//
// # Decisions exec_ssh and policy must know
//
//   - Canonical is bash. Every argument is single-quoted; the program's
//     name is written bare (it can only be a plain word); pattern
//     characters and a leading ~ or ~/ stay unquoted so the host expands
//     them as classified; admitted variables and substitutions are
//     double-quoted ("${HOME}", "$(...)"), so never split or globbed;
//     arithmetic is replaced by its value; here-documents get a quoted
//     delimiter and their processed body. Classifying Canonical gives the
//     same Facts (but for offsets). It needs a bash login shell: here-
//     strings, process substitution, |& and (( )) are bash's.
//   - Tag is the base name of the program that runs in the end: through
//     wrappers (sudo timeout 5 rm x is "rm", with kinds write and
//     privileged) and through paths (/bin/../bin/rm, ./rm and /tmp/rm are
//     "rm"; only a bare name, found through PATH, or a path in /bin,
//     /usr/bin, /sbin or /usr/sbin without ".." gets the table's
//     knowledge alone; any other path is exec as well). A name with
//     Unicode look-alikes is an unknown program.
//   - Facts.CommandLine is set: the parts run as one call. Each part's
//     Args are the arguments of the program Tag, after quote removal
//     (exact, or as written where only the host knows them, with
//     MaybeFlag where they could begin with '-'); Wrappers are the
//     programs it runs through, each with its own arguments (sudo -u
//     root systemctl status: sudo with -u root, then systemctl with
//     status); Foreign marks a program named by a path outside the
//     system's directories. A program another runs with arguments the
//     classifier does not see (find -exec, xargs) stays in the outer
//     program's Args. Policy's commands: reads them.
//   - File names are lexical: path.Clean of the word (relative names stay
//     relative to the account's working directory, ~/x and $HOME/x are
//     written so). Symbolic links on the host are invisible. A glob is
//     reported as its pattern (/var/log/*.log). Writes to /dev/null,
//     /dev/stdout and /dev/stderr are not writes; /dev/tcp and /dev/udp
//     redirections are network.
//   - Admitted variables (Options.Variables, by default HOME, USER and
//     LOGNAME, which the login sets) are assumed not to begin with '-'.
//
// # What it cannot see
//
// What the host's own configuration runs: ~/.bashrc (bash sources it
// for commands run by sshd), functions and PATH set there, a
// repository's .git/config (core.fsmonitor, diff drivers, hooks run by
// git status or git diff), pagers started when a terminal is attached
// (git log, systemctl status, journalctl: with a PTY they are
// interactive and can start a shell), programs' configuration files.
// So it is one wall, not the only one: the account's rights must be the
// least the decision needs.
package cmdclass
