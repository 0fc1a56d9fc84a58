package main

// The SSH host the SSH benchmarks run against (scripts/sshd.sh's sshd),
// logins to it with a user certificate signed by its CA, and the file
// the streaming benchmark reads.

import (
	"bytes"
	"crypto/ed25519"
	crand "crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	xssh "golang.org/x/crypto/ssh"
)

// sshHost is the test sshd and a user certificate to log in to it.
type sshHost struct {
	addr       string
	port       string
	hostKey    xssh.PublicKey
	knownHosts string // a known_hosts line
	caKeyFile  string
	user       string
	signer     xssh.Signer // the certificate and its key
	key        []byte      // the certificate's key, OpenSSH PEM (for ssh -i)
	cert       []byte      // the certificate, authorized_keys line
}

// loadSSHHost reads scripts/sshd.sh's environment and signs a user
// certificate for its first user with its CA.
func loadSSHHost() (*sshHost, error) {
	const how = "start it with `scripts/sshd.sh start` as root and source the env file it prints"
	h := &sshHost{
		addr:       os.Getenv("WARDEN_TEST_SSH_ADDR"),
		knownHosts: os.Getenv("WARDEN_TEST_SSH_KNOWN_HOSTS"),
		caKeyFile:  os.Getenv("WARDEN_TEST_SSH_CA_KEY_FILE"),
	}
	h.user, _, _ = strings.Cut(os.Getenv("WARDEN_TEST_SSH_USERS"), ",")
	if h.addr == "" || h.knownHosts == "" || h.caKeyFile == "" || h.user == "" {
		return nil, errors.New("no test sshd (WARDEN_TEST_SSH_* unset): " + how)
	}
	_, h.port, _ = strings.Cut(h.addr, ":")
	hk, _, _, _, err := xssh.ParseAuthorizedKey([]byte(os.Getenv("WARDEN_TEST_SSH_HOST_KEY")))
	if err != nil {
		return nil, fmt.Errorf("WARDEN_TEST_SSH_HOST_KEY: %w", err)
	}
	h.hostKey = hk
	caPEM, err := os.ReadFile(h.caKeyFile)
	if err != nil {
		return nil, fmt.Errorf("the user CA key: %w (%s)", err, how)
	}
	ca, err := xssh.ParsePrivateKey(caPEM)
	if err != nil {
		return nil, fmt.Errorf("the user CA key: %w", err)
	}
	pub, priv, err := ed25519.GenerateKey(crand.Reader)
	if err != nil {
		return nil, err
	}
	sshPub, err := xssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	cert := &xssh.Certificate{
		Key: sshPub, CertType: xssh.UserCert, KeyId: "warden-bench", ValidPrincipals: []string{h.user},
		ValidAfter: uint64(now.Add(-time.Minute).Unix()), ValidBefore: uint64(now.Add(12 * time.Hour).Unix()),
		Permissions: xssh.Permissions{Extensions: map[string]string{}},
	}
	if err := cert.SignCert(crand.Reader, ca); err != nil {
		return nil, err
	}
	keySigner, err := xssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	if h.signer, err = xssh.NewCertSigner(cert, keySigner); err != nil {
		return nil, err
	}
	block, err := xssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, err
	}
	h.key, h.cert = pem.EncodeToMemory(block), xssh.MarshalAuthorizedKey(cert)
	return h, nil
}

// dial logs in with the certificate, x/crypto/ssh's client with its
// defaults (as Warden's connector uses it).
func (h *sshHost) dial() (*xssh.Client, error) {
	return xssh.Dial("tcp", h.addr, &xssh.ClientConfig{
		User:              h.user,
		Auth:              []xssh.AuthMethod{xssh.PublicKeys(h.signer)},
		HostKeyCallback:   xssh.FixedHostKey(h.hostKey),
		HostKeyAlgorithms: []string{h.hostKey.Type()},
		Timeout:           10 * time.Second,
	})
}

// writeClientFiles writes what OpenSSH's client needs to log in directly
// (key, certificate, known_hosts) into dir and returns its options.
func (h *sshHost) writeClientFiles(dir string) ([]string, error) {
	key, kh := filepath.Join(dir, "id_ed25519"), filepath.Join(dir, "known_hosts")
	for _, f := range []struct {
		path string
		data []byte
	}{{key, h.key}, {key + "-cert.pub", h.cert}, {kh, []byte(h.knownHosts + "\n")}} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			return nil, err
		}
	}
	return []string{"-F", "/dev/null", "-p", h.port, "-i", key, "-o", "CertificateFile=" + key + "-cert.pub",
		"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "UserKnownHostsFile=" + kh,
		"-o", "StrictHostKeyChecking=yes", h.user + "@127.0.0.1"}, nil
}

// streamFile is the streaming benchmark's file on the host: size bytes
// of log lines, one in about every 4 KB naming an e-mail address.
type streamFile struct {
	path   string
	size   int64
	emails int
}

// streamFileVersion names the generator: a change to streamText must
// change it, so that a file of the old text is made anew.
const streamFileVersion = 1

// ensureStreamFile makes the file on the host, through sshd itself (cat
// into it over a session), unless a file of that size is already there.
func (h *sshHost) ensureStreamFile(c *xssh.Client, mb int) (streamFile, error) {
	var count countingWriter
	n := int64(mb) * 1e6
	emails := streamText(&count, n)
	f := streamFile{path: fmt.Sprintf("/tmp/warden-bench-ssh/stream-v%d-%dMB.log", streamFileVersion, mb), size: count.n, emails: emails}
	sess, err := c.NewSession()
	if err != nil {
		return f, err
	}
	out, _ := sess.Output("stat -c %s " + f.path + " 2>/dev/null || echo 0")
	sess.Close()
	if n, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); n == f.size {
		return f, nil
	}
	fmt.Fprintf(os.Stderr, "bench: writing %s (%d MB) on the host\n", f.path, mb)
	if sess, err = c.NewSession(); err != nil {
		return f, err
	}
	defer sess.Close()
	pr, pw := io.Pipe()
	go func() { streamText(pw, n); pw.Close() }()
	sess.Stdin = pr
	var stderr bytes.Buffer
	sess.Stderr = &stderr
	if err := sess.Run(fmt.Sprintf("mkdir -p %s && cat > %s.tmp && mv %s.tmp %s", filepath.Dir(f.path), f.path, f.path, f.path)); err != nil {
		return f, fmt.Errorf("write %s on the host: %v %s", f.path, err, stderr.String())
	}
	return f, nil
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// streamText writes n bytes (ending at a line) of service log lines: a
// request log with paths, sizes, durations and ids, and about every 4 KB
// a line naming a customer's e-mail address, which the detectors mask. It
// returns how many addresses it wrote.
func streamText(w io.Writer, n int64) int {
	r := rand.New(rand.NewPCG(2026, 7))
	methods := []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	paths := []string{"/api/v1/orders", "/api/v1/customers", "/api/v1/invoices", "/healthz", "/api/v1/products"}
	levels := []string{"INFO ", "INFO ", "INFO ", "DEBUG", "WARN "}
	names := []string{"ada.lovelace", "grace.hopper", "alan.turing", "edsger.dijkstra", "barbara.liskov", "radia.perlman"}
	t := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var written int64
	var line []byte
	emails, sinceEmail := 0, 0
	for written < n {
		t = t.Add(time.Duration(r.IntN(40)) * time.Millisecond)
		line = line[:0]
		line = t.AppendFormat(line, "2006-01-02T15:04:05.000Z ")
		line = append(line, levels[r.IntN(len(levels))]...)
		if sinceEmail >= 4096 {
			sinceEmail = 0
			emails++
			line = fmt.Appendf(line, " billing: sent invoice %d to %s%d@example.com (order %d, %d items)\n",
				100000+r.IntN(900000), names[r.IntN(len(names))], r.IntN(10000), r.IntN(100000), 1+r.IntN(9))
		} else {
			line = fmt.Appendf(line, " http: %s %s/%d?page=%d -> %d, %d bytes in %d.%03d ms, worker %d, cache %s\n",
				methods[r.IntN(len(methods))], paths[r.IntN(len(paths))], r.IntN(100000), 1+r.IntN(20),
				[]int{200, 200, 200, 201, 204, 304, 404}[r.IntN(7)], r.IntN(50000), r.IntN(200), r.IntN(1000),
				r.IntN(16), []string{"hit", "miss"}[r.IntN(2)])
		}
		if written+int64(len(line)) > n {
			break
		}
		w.Write(line)
		written += int64(len(line))
		sinceEmail += len(line)
	}
	return emails
}
