package policy

import (
	"fmt"
	"strings"

	"github.com/wardenhq/warden/config"
)

// Lint finds rules that are valid but probably wrong: rules that can never
// match, or never take effect, and subjects nobody configured has. It
// assumes the configuration compiled.
func Lint(cfg *config.Config) []string {
	var out []string
	warn := func(r config.Rule, format string, args ...any) {
		out = append(out, fmt.Sprintf("%s:%d: rule %q: %s", r.File, r.Line, r.Name, fmt.Sprintf(format, args...)))
	}
	users, groups := map[string]bool{}, map[string]bool{}
	for _, u := range cfg.Identity.Users {
		users[u.Name] = true
		for _, g := range u.Groups {
			groups[g] = true
		}
	}
	if cfg.Identity.Local != "" {
		users[cfg.Identity.Local] = true
	}
	for i, r := range cfg.Rules {
		if len(r.Connections.Labels) > 0 || len(r.Connections.Names) > 0 {
			any := false
			for _, c := range cfg.Connections {
				if connectionMatches(r.Connections, c) {
					any = true
					break
				}
			}
			if !any {
				warn(r, "can never match: no configured connection has its names and labels")
			}
		}
		for _, id := range r.Subjects.Identities {
			if !users[id] {
				warn(r, "identity %q is not a configured user (fine if an identity provider issues it)", id)
			}
		}
		for _, g := range r.Subjects.Groups {
			if !groups[g] {
				warn(r, "no configured user is in group %q (fine if an identity provider issues it)", g)
			}
		}
		for _, earlier := range cfg.Rules[:i] {
			if earlier.Effect == string(Deny) && strings.TrimSpace(earlier.When) == "" && covers(earlier, r) {
				warn(r, "never takes effect: rule %q (line %d) denies everything it matches", earlier.Name, earlier.Line)
				break
			}
		}
	}
	return out
}

func connectionMatches(m config.ConnectionMatch, c config.Connection) bool {
	if len(m.Names) > 0 && !contains(m.Names, c.Name) {
		return false
	}
	for k, v := range m.Labels {
		if c.Labels[k] != v {
			return false
		}
	}
	return true
}

// covers reports whether every request r matches is also matched by a.
func covers(a, r config.Rule) bool {
	if len(a.Tools) > 0 && (len(r.Tools) == 0 || !subset(r.Tools, a.Tools)) {
		return false
	}
	if len(a.Connections.Names) > 0 && (len(r.Connections.Names) == 0 || !subset(r.Connections.Names, a.Connections.Names)) {
		return false
	}
	for k, v := range a.Connections.Labels {
		if r.Connections.Labels[k] != v {
			return false
		}
	}
	if len(a.Subjects.Identities)+len(a.Subjects.Groups) > 0 {
		if len(r.Subjects.Identities)+len(r.Subjects.Groups) == 0 {
			return false
		}
		if !subset(r.Subjects.Identities, a.Subjects.Identities) || !subset(r.Subjects.Groups, a.Subjects.Groups) {
			return false
		}
	}
	return true
}

func subset(xs, of []string) bool {
	for _, x := range xs {
		if !contains(of, x) {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
