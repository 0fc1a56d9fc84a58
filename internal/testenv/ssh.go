package testenv

import (
	"os"
	"strings"
	"testing"
)

// SSHServer describes the test OpenSSH server (scripts/sshd.sh).
type SSHServer struct {
	// Addr is host:port.
	Addr string
	// HostKey is the host's public key (authorized_keys format);
	// KnownHosts the same as a known_hosts line; HostCA the public key of
	// the CA that signed the host's certificate.
	HostKey, KnownHosts, HostCA string
	// CAKeyFile is the private key of the user CA sshd trusts
	// (TrustedUserCAKeys).
	CAKeyFile string
	// Users are the accounts on the host (at least two).
	Users []string
	// Log is sshd's log file.
	Log string
}

// SSH returns the test sshd, or skips/fails the test.
func SSH(t testing.TB) SSHServer {
	t.Helper()
	const how = "run `source \"$(scripts/sshd.sh start)\"` as root, or `make test`"
	s := SSHServer{
		Addr:       os.Getenv("WARDEN_TEST_SSH_ADDR"),
		HostKey:    os.Getenv("WARDEN_TEST_SSH_HOST_KEY"),
		KnownHosts: os.Getenv("WARDEN_TEST_SSH_KNOWN_HOSTS"),
		HostCA:     os.Getenv("WARDEN_TEST_SSH_HOST_CA"),
		CAKeyFile:  os.Getenv("WARDEN_TEST_SSH_CA_KEY_FILE"),
		Log:        os.Getenv("WARDEN_TEST_SSH_LOG"),
	}
	if u := os.Getenv("WARDEN_TEST_SSH_USERS"); u != "" {
		s.Users = strings.Split(u, ",")
	}
	if s.Addr == "" || s.HostKey == "" || s.CAKeyFile == "" || len(s.Users) < 2 {
		missing(t, "sshd", how)
	}
	if _, err := os.Stat(s.CAKeyFile); err != nil {
		missing(t, "sshd", "the user CA key: "+err.Error()+"; "+how)
	}
	return s
}
