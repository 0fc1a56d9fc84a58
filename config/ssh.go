package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"

	"golang.org/x/crypto/ssh"
)

// SSHCA says where Warden reads the private key of its SSH user CA: an
// OpenSSH or PKCS#8 PEM ed25519 key, unencrypted, in a file (mode 0600)
// or an environment variable. `warden ssh-ca init` makes one. The key is
// read when the connectors open, never logged and never in an error.
type SSHCA struct {
	PrivateKeyFile string `yaml:"private_key_file"`
	PrivateKeyEnv  string `yaml:"private_key_env"`
}

// IsZero reports whether no CA is configured.
func (a SSHCA) IsZero() bool { return a.PrivateKeyFile == "" && a.PrivateKeyEnv == "" }

// Ref is where the key comes from, as a secret reference.
func (a SSHCA) Ref() SecretRef { return SecretRef{Env: a.PrivateKeyEnv, File: a.PrivateKeyFile} }

// principalPattern is what a remote user name may look like: no spaces,
// commas or shell characters, at most 32 characters (Linux's limit).
var principalPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,31}$`)

// HostKey is a parsed host_key or host_ca.
type HostKey struct {
	Key ssh.PublicKey
	// Hosts are the host patterns of a known_hosts line (informational:
	// the key is pinned to the connection whatever they say).
	Hosts []string
}

// ParseHostKey parses an authorized_keys-format public key or a
// known_hosts line. certAuthority reports whether the line is marked
// @cert-authority. A @revoked line is refused: it pins nothing.
func ParseHostKey(line string) (k HostKey, certAuthority bool, err error) {
	line = strings.TrimSpace(line)
	if line == "" {
		return HostKey{}, false, errors.New("empty key")
	}
	if key, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(line)); err == nil {
		if len(strings.TrimSpace(string(rest))) > 0 {
			return HostKey{}, false, errors.New("more than one key")
		}
		return HostKey{Key: key}, false, nil
	}
	marker, hosts, key, _, rest, err := ssh.ParseKnownHosts([]byte(line))
	if err != nil {
		return HostKey{}, false, errors.New("not a public key (\"ssh-ed25519 AAAA...\") or a known_hosts line (\"host ssh-ed25519 AAAA...\")")
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return HostKey{}, false, errors.New("more than one line")
	}
	switch marker {
	case "":
	case "cert-authority":
		certAuthority = true
	default:
		return HostKey{}, false, fmt.Errorf("a @%s line pins no key", marker)
	}
	return HostKey{Key: key, Hosts: hosts}, certAuthority, nil
}

// sshFieldsSet reports whether any ssh-only field is set.
func (cn *Connection) sshFieldsSet() bool {
	return cn.HostKey != "" || cn.HostCA != "" || len(cn.Principals) > 0 || len(cn.SourceAddress) > 0
}

// validateSSHConnection checks the fields of a kind: ssh connection.
func (c *Config) validateSSHConnection(p string, cn *Connection) Errors {
	var errs Errors
	add := func(path, format string, args ...any) { errs = append(errs, c.Errorf(path, format, args...)) }
	if cn.Address == "" {
		add(p, "%s: address (host:port) is required for an ssh connection", p)
	} else if h, port, err := net.SplitHostPort(cn.Address); err != nil || h == "" || port == "" {
		add(p+".address", "%s.address: expected host:port, got %q", p, cn.Address)
	}
	switch {
	case cn.HostKey == "" && cn.HostCA == "":
		add(p, "%s: host_key or host_ca is required for an ssh connection: Warden never trusts a host key on first use (get it with ssh-keyscan, check it out of band)", p)
	case cn.HostKey != "" && cn.HostCA != "":
		add(p+".host_ca", "%s: set host_key or host_ca, not both", p)
	case cn.HostKey != "":
		if _, ca, err := ParseHostKey(cn.HostKey); err != nil {
			add(p+".host_key", "%s.host_key: %v", p, err)
		} else if ca {
			add(p+".host_key", "%s.host_key: this is a @cert-authority line; put it in host_ca", p)
		}
	default:
		if _, _, err := ParseHostKey(cn.HostCA); err != nil {
			add(p+".host_ca", "%s.host_ca: %v", p, err)
		}
	}
	if len(cn.Principals) == 0 {
		add(p, "%s: principals (the remote users rules may grant) are required for an ssh connection", p)
	}
	seen := map[string]bool{}
	for j, pr := range cn.Principals {
		q := fmt.Sprintf("%s.principals[%d]", p, j)
		switch {
		case !principalPattern.MatchString(pr):
			add(q, "%s.principals: %q is not a user name (letters, digits, '_', '.', '-'; at most 32)", p, pr)
		case seen[pr]:
			add(q, "%s.principals: %q is listed twice", p, pr)
		}
		seen[pr] = true
	}
	for j, a := range cn.SourceAddress {
		if net.ParseIP(a) != nil {
			continue
		}
		if _, _, err := net.ParseCIDR(a); err != nil {
			add(fmt.Sprintf("%s.source_address[%d]", p, j), "%s.source_address: %q is not an IP address or CIDR block (10.0.0.5, 10.0.0.0/24)", p, a)
		}
	}
	if cn.Database != "" || cn.Path != "" || cn.Admin.User != "" || !cn.Admin.SecretRef.IsZero() || cn.SSLMode != "" {
		add(p, "%s: an ssh connection takes address, host_key or host_ca, principals, source_address, labels and jit (no database, path, admin or sslmode: Warden logs in with certificates signed by ssh_ca)", p)
	}
	return errs
}

// validateSSHCA checks ssh_ca, which every ssh connection needs.
func (c *Config) validateSSHCA() Errors {
	var errs Errors
	a := &c.SSHCA
	if a.PrivateKeyFile != "" && a.PrivateKeyEnv != "" {
		errs = append(errs, c.Errorf("ssh_ca", "ssh_ca: set private_key_file or private_key_env, not both"))
	}
	if a.PrivateKeyFile != "" {
		a.PrivateKeyFile = c.resolve(a.PrivateKeyFile)
	}
	if !a.IsZero() {
		return errs
	}
	for i, cn := range c.Connections {
		if cn.Kind == KindSSH {
			p := fmt.Sprintf("connections[%d]", i)
			errs = append(errs, c.Errorf(p, "%s: an ssh connection needs ssh_ca (private_key_file or private_key_env): the user CA that signs its certificates (make one with `warden ssh-ca init --out FILE`)", p))
			break
		}
	}
	return errs
}

// validateRuleSSHGrants checks grants.principal: it must be a principal of
// the ssh connections the rule applies to.
func (c *Config) validateRuleSSHGrants(p, label string, r *Rule) Errors {
	var errs Errors
	pr := r.Grants.Principal
	if pr == "" {
		return nil
	}
	add := func(path, format string, args ...any) { errs = append(errs, c.Errorf(path, format, args...)) }
	if !principalPattern.MatchString(pr) {
		add(p+".grants.principal", "%s.grants.principal: %q is not a user name", label, pr)
		return errs
	}
	if len(r.Connections.Names) > 0 {
		for _, n := range r.Connections.Names {
			cn, ok := c.Connection(n)
			switch {
			case !ok:
				// Reported with connections.names.
			case cn.Kind != KindSSH:
				add(p+".grants.principal", "%s.grants.principal: connection %q is not an ssh connection", label, n)
			case !contains(cn.Principals, pr):
				add(p+".grants.principal", "%s.grants.principal: %q is not one of connection %q's principals (%s)", label, pr, n, strings.Join(cn.Principals, ", "))
			}
		}
		return errs
	}
	for _, cn := range c.Connections {
		if cn.Kind == KindSSH && labelsMatch(r.Connections.Labels, cn.Labels) && contains(cn.Principals, pr) {
			return nil
		}
	}
	add(p+".grants.principal", "%s.grants.principal: %q is not a principal of any ssh connection the rule applies to", label, pr)
	return errs
}

func labelsMatch(want, have map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// sshWarnings flags a CA key file others can read.
func (c *Config) sshWarnings() []string {
	f := c.SSHCA.PrivateKeyFile
	if f == "" {
		return nil
	}
	st, err := os.Stat(f)
	if err != nil || st.Mode().Perm()&0o077 == 0 {
		return nil
	}
	return []string{fmt.Sprintf("%s:%d: ssh_ca.private_key_file %s is readable by other users (mode %04o): anyone who reads it can log in to every host that trusts the CA (chmod 600)",
		c.Path, c.Pos("ssh_ca.private_key_file").Line, f, st.Mode().Perm())}
}
