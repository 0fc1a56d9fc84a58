package cmdclass

import "github.com/wardenhq/warden/policy"

// Kinds of commands, least severe first. A part's Kind is the most severe
// of its Kinds.
const (
	// KindRead: the command only reads (files, the process table, the
	// journal, a repository) and prints.
	KindRead = policy.KindRead
	// KindWrite: it changes files, services, processes or the system's
	// state on the host (rm, cp, systemctl restart, kill, a > redirection).
	KindWrite = policy.KindWrite
	// KindNetwork: it talks to other hosts (curl, wget, nc, ssh, scp,
	// git fetch, /dev/tcp redirections).
	KindNetwork = "network"
	// KindExec: it runs code the classifier cannot see: an unknown
	// program, an interpreter, a program run by another (find -exec,
	// xargs), a program whose options or environment can make it run
	// anything (an editor, a pager, awk with system(), LD_PRELOAD=...).
	// Whoever admits exec admits anything the account can do.
	KindExec = "exec"
	// KindPrivileged: it runs with other rights (sudo, su, doas, pkexec).
	KindPrivileged = "privileged"
)

// kindSet is a set of kinds; bit i is kindsBySeverity[i].
type kindSet uint8

var kindsBySeverity = [...]string{KindRead, KindWrite, KindNetwork, KindExec, KindPrivileged}

func kindBit(k string) kindSet {
	for i, kk := range kindsBySeverity {
		if kk == k {
			return 1 << i
		}
	}
	// An unknown kind is a programming error: the most severe.
	return 1 << (len(kindsBySeverity) - 1)
}

func (m kindSet) with(k string) kindSet { return m | kindBit(k) }

// primary is the most severe kind in m; an empty set is exec (fail
// closed: a command the table gave no kind to is not a read).
func (m kindSet) primary() string {
	for i := len(kindsBySeverity) - 1; i >= 0; i-- {
		if m&(1<<i) != 0 {
			return kindsBySeverity[i]
		}
	}
	return KindExec
}

// list is m's kinds, least severe first; an empty set is [exec].
func (m kindSet) list() []string {
	var out []string
	for i, k := range kindsBySeverity {
		if m&(1<<i) != 0 {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		out = []string{KindExec}
	}
	return out
}
