package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/budget"
	"github.com/wardenhq/warden/policy"
)

// Errors of this connector, besides the shared sentinels.
var (
	// ErrHostKey: the host presented a key other than the pinned one (or a
	// certificate the pinned host CA did not sign). Nothing was sent.
	ErrHostKey = errors.New("ssh: the host key does not match the one pinned in the configuration")
	// ErrRevoked: the credential's lease was revoked (or its certificate
	// expired); its connections are closed and no new one is opened.
	ErrRevoked = errors.New("ssh: the credential was revoked or has expired")
)

// DialTimeout bounds a TCP connect plus the SSH handshake and login.
const DialTimeout = 10 * time.Second

// maxSessionsPerConn is half sshd's default MaxSessions (10): a lease
// whose connection is this busy opens another connection. sshd frees a
// closed session's slot only after it has handled the packets read with
// its close, a new session's open among them, so each busy slot may
// count twice; at 8 a connection, sessions opened as others closed were
// refused ("no more sessions" in sshd's log).
const maxSessionsPerConn = 5

// SSH is a connector for one host.
type SSH struct {
	info       connectors.Info
	address    string
	principals []string
	sources    []string // source_address: certificates' logins from, when set
	budget     *budget.Budget
	ttl        time.Duration
	ca         *CA
	hostKey    xssh.HostKeyCallback
	hostAlgos  []string
	classifier policy.Classifier
	logger     *slog.Logger

	mu      sync.Mutex
	closed  bool
	clients map[string][]*client // by lease
	revoked map[string]time.Time // lease -> when to forget it
}

// Open is the registry's factory: it loads the CA ssh_ca names and takes
// the classifier the binary supplies. It does not dial.
func Open(_ context.Context, cfg config.Connection, opts connectors.OpenOptions) (connectors.Connector, error) {
	ca, err := LoadCA(opts.SSHCA)
	if err != nil {
		return nil, err
	}
	var cl policy.Classifier
	if opts.Classifier != nil {
		cl = opts.Classifier(cfg)
	}
	return New(cfg, ca, cl, opts.Logger)
}

// New builds the connector for cfg (a validated kind: ssh connection),
// signing with ca. classifier is what Classifier returns (nil: none, and
// the gateway refuses the connection's commands). It does not dial.
func New(cfg config.Connection, ca *CA, classifier policy.Classifier, logger *slog.Logger) (*SSH, error) {
	if ca == nil {
		return nil, errors.New("ssh: no user CA (ssh_ca)")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if _, _, err := net.SplitHostPort(cfg.Address); err != nil {
		return nil, fmt.Errorf("ssh: address %q: %w", cfg.Address, err)
	}
	if len(cfg.Principals) == 0 {
		return nil, errors.New("ssh: the connection lists no principals")
	}
	s := &SSH{
		info: connectors.Info{
			Name:   cfg.Name,
			Kind:   config.KindSSH,
			Labels: cfg.Labels,
			Target: cfg.Address,
		},
		address:    cfg.Address,
		principals: append([]string(nil), cfg.Principals...),
		sources:    append([]string(nil), cfg.SourceAddress...),
		ttl:        cfg.JIT.TTL,
		ca:         ca,
		classifier: classifier,
		logger:     logger,
		clients:    map[string][]*client{},
		revoked:    map[string]time.Time{},
	}
	size := cfg.MaxConnections
	if size <= 0 {
		size = config.DefaultSSHMaxConnections
	}
	s.budget = budget.New(cfg.Name, size, cfg.ConnectionWait, nil)
	if s.ttl <= 0 {
		s.ttl = config.DefaultJITTTL
	}
	var err error
	switch {
	case cfg.HostKey != "" && cfg.HostCA != "":
		return nil, errors.New("ssh: set host_key or host_ca, not both")
	case cfg.HostKey != "":
		s.hostKey, s.hostAlgos, err = pinKey(cfg.HostKey)
	case cfg.HostCA != "":
		s.hostKey, err = pinCA(cfg.HostCA)
	default:
		return nil, errors.New("ssh: no host_key or host_ca: Warden never trusts a host key on first use")
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// pinKey accepts exactly the given host key, presented plain or inside a
// host certificate; it offers the host only that key's algorithms.
func pinKey(line string) (xssh.HostKeyCallback, []string, error) {
	hk, ca, err := config.ParseHostKey(line)
	if err != nil {
		return nil, nil, fmt.Errorf("ssh: host_key: %w", err)
	}
	if ca {
		return nil, nil, errors.New("ssh: host_key is a @cert-authority line; use host_ca")
	}
	want := hk.Key.Marshal()
	cb := func(_ string, _ net.Addr, key xssh.PublicKey) error {
		if c, ok := key.(*xssh.Certificate); ok {
			key = c.Key
		}
		if !bytes.Equal(key.Marshal(), want) {
			return fmt.Errorf("%w (got %s %s)", ErrHostKey, key.Type(), xssh.FingerprintSHA256(key))
		}
		return nil
	}
	var algos []string
	switch hk.Key.Type() {
	case xssh.KeyAlgoRSA:
		algos = []string{xssh.KeyAlgoRSASHA512, xssh.KeyAlgoRSASHA256}
	default:
		algos = []string{hk.Key.Type()}
	}
	return cb, algos, nil
}

// pinCA accepts host certificates the pinned CA signed for the host name
// in the connection's address, valid now; nothing else (no plain keys).
func pinCA(line string) (xssh.HostKeyCallback, error) {
	hk, _, err := config.ParseHostKey(line)
	if err != nil {
		return nil, fmt.Errorf("ssh: host_ca: %w", err)
	}
	want := hk.Key.Marshal()
	checker := &xssh.CertChecker{
		IsHostAuthority: func(auth xssh.PublicKey, _ string) bool { return bytes.Equal(auth.Marshal(), want) },
	}
	return func(addr string, remote net.Addr, key xssh.PublicKey) error {
		if _, ok := key.(*xssh.Certificate); !ok {
			return fmt.Errorf("%w (the host presented a plain %s key, not a certificate from host_ca)", ErrHostKey, key.Type())
		}
		if err := checker.CheckHostKey(addr, remote, key); err != nil {
			return fmt.Errorf("%w: %v", ErrHostKey, err)
		}
		return nil
	}, nil
}

// Info implements connectors.Connector.
func (s *SSH) Info() connectors.Info { return s.info }

// Classifier implements connectors.Classifying: the classifier the
// connector was given.
func (s *SSH) Classifier() policy.Classifier { return s.classifier }

// Ping implements connectors.Connector: it dials and completes the key
// exchange, so the host is up and its key is the pinned one. It does not
// log in (that needs a certificate, which only a decision mints), so it
// cannot tell whether the host trusts Warden's CA.
func (s *SSH) Ping(ctx context.Context) error {
	if s.isClosed() {
		return connectors.ErrClosed
	}
	verified := false
	cfg := &xssh.ClientConfig{
		User: s.principals[0],
		HostKeyCallback: func(h string, a net.Addr, k xssh.PublicKey) error {
			err := s.hostKey(h, a, k)
			verified = err == nil
			return err
		},
		HostKeyAlgorithms: s.hostAlgos,
		Timeout:           DialTimeout,
	}
	c, err := s.dialConfig(ctx, cfg)
	if err == nil {
		c.Close()
		return nil
	}
	if verified && errors.Is(err, errAuth) {
		return nil
	}
	return err
}

// Close implements connectors.Connector: it ends every session and
// connection. Later calls fail with ErrClosed.
func (s *SSH) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var all []*client
	for lease, cs := range s.clients {
		all = append(all, cs...)
		delete(s.clients, lease)
	}
	s.mu.Unlock()
	killAll(all)
	return nil
}

func (s *SSH) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// errAuth marks a login the host refused.
var errAuth = errors.New("ssh: the host refused the login")

// dialConfig opens an SSH connection with cfg, bounded by DialTimeout and
// ctx. Errors are mapped (mapDialError).
func (s *SSH) dialConfig(ctx context.Context, cfg *xssh.ClientConfig) (*xssh.Client, error) {
	release, err := s.budget.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	d := net.Dialer{KeepAlive: 30 * time.Second}
	raw, err := d.DialContext(ctx, "tcp", s.address)
	if err != nil {
		release()
		return nil, mapDialError(ctx, err)
	}
	conn := budget.Hold(raw, release)
	dl, _ := ctx.Deadline()
	conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	sc, chans, reqs, err := xssh.NewClientConn(conn, s.address, cfg)
	if !stop() || err != nil {
		conn.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, mapDialError(ctx, err)
	}
	conn.SetDeadline(time.Time{})
	return xssh.NewClient(sc, chans, reqs), nil
}

// mapDialError turns dial and handshake failures into connector errors.
// x/crypto's messages carry algorithm names and fingerprints, never key
// material; they are kept for the operator.
func mapDialError(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, ErrHostKey):
		return err
	case strings.Contains(err.Error(), "unable to authenticate"):
		return connectors.NewTargetError("", "the host refused the certificate (does its sshd trust Warden's CA in TrustedUserCAKeys, is the principal a user there, and does the certificate's source-address match how the host sees Warden?)", "", "", errAuth)
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%w: ssh: connect timed out after %s", connectors.ErrUnavailable, DialTimeout)
	case errors.Is(err, context.Canceled):
		return err
	}
	return fmt.Errorf("%w: ssh: %v", connectors.ErrUnavailable, err)
}

var (
	_ connectors.Exec         = (*SSH)(nil)
	_ connectors.Credentialer = (*SSH)(nil)
	_ connectors.Classifying  = (*SSH)(nil)
)
