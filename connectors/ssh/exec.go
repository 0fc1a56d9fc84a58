package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/wardenhq/warden/connectors"
)

// termGrace is how long a command at its time limit gets between SIGTERM
// and SIGKILL; killGrace how long after SIGKILL before the channel is
// closed regardless.
const (
	termGrace = 2 * time.Second
	killGrace = time.Second
)

// client is one SSH connection logged in with a lease's certificate.
type client struct {
	lease       string
	validBefore time.Time
	c           *xssh.Client
	expiry      *time.Timer

	mu       sync.Mutex
	sessions map[*xssh.Session]chan struct{} // live sessions -> closed when each ends
	reserved int                             // slots taken, guarded by SSH.mu
	dead     bool
}

// Exec implements connectors.Exec: it runs req.Command in a new session
// (channel) on the lease's connection, dialling it if needed.
func (s *SSH) Exec(ctx context.Context, req connectors.ExecRequest) (connectors.ExecResult, error) {
	res := connectors.ExecResult{ExitStatus: -1}
	cert := req.Credential.SSHCertificate
	if req.Credential.Mode != connectors.ModeJIT || cert == nil {
		return res, errors.New("ssh: commands run only as a just-in-time certificate (credentials: jit)")
	}
	c, err := s.acquire(ctx, req.Credential)
	if err != nil {
		return res, err
	}
	defer s.release(c)

	if req.Subsystem != "" {
		return s.subsystem(ctx, c, req)
	}
	sess, err := c.c.NewSession()
	if err != nil {
		return res, s.sessionError(c, err)
	}
	done := make(chan struct{})
	if !c.track(sess, done) {
		sess.Close()
		return res, s.endedError(c)
	}
	defer func() {
		close(done)
		c.untrack(sess)
		sess.Close()
	}()
	if req.PTY {
		term, w, h := "xterm", 80, 24
		modes := xssh.TerminalModes{xssh.ECHO: 0, xssh.TTY_OP_ISPEED: 38400, xssh.TTY_OP_OSPEED: 38400}
		if t := req.Terminal; t != nil {
			if t.Term != "" {
				term = t.Term
			}
			if t.Width > 0 && t.Height > 0 {
				w, h = t.Width, t.Height
			}
			if t.Modes != nil {
				modes = xssh.TerminalModes(t.Modes)
			}
		}
		if err := sess.RequestPty(term, h, w, modes); err != nil {
			return res, connectors.NewTargetError("", "the host refused a pseudo-terminal (the certificate has permit-pty only when a rule grants pty)", "", "", nil)
		}
	}
	for k, v := range req.Env {
		sess.Setenv(k, v) // the host's AcceptEnv decides; a refusal is not an error
	}
	if req.Gate != nil {
		if err := req.Gate(ctx); err != nil {
			return res, err
		}
	}
	stdout, stderr := req.Stdout, req.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if stdout == stderr {
		// One writer for both streams: serialise the two copiers (and
		// hide io.ReaderFrom, with which a bytes.Buffer shared by two
		// concurrent copies loses one's writes).
		w := &lockedWriter{w: stdout}
		stdout, stderr = w, w
	}
	sess.Stdout, sess.Stderr = stdout, stderr
	if req.Stdin != nil {
		sess.Stdin = req.Stdin
	}
	var started error
	if req.Shell {
		started = sess.Shell()
	} else {
		started = sess.Start(req.Command)
	}
	if started != nil {
		return res, s.sessionError(c, started)
	}
	waited := make(chan error, 1)
	go func() { waited <- sess.Wait() }()
	if req.Control != nil {
		stopControl := make(chan struct{})
		defer close(stopControl)
		go forward(sess, req.Control, stopControl)
	}

	var limit <-chan time.Time
	if req.Timeout > 0 {
		t := time.NewTimer(req.Timeout)
		defer t.Stop()
		limit = t.C
	}
	var werr error
	select {
	case werr = <-waited:
	case <-limit:
		res.TimedOut = true
		werr = stop(sess, waited)
	case <-ctx.Done():
		werr = stop(sess, waited)
	}
	var exit *xssh.ExitError
	switch {
	case werr == nil:
		res.ExitStatus = 0
	case errors.As(werr, &exit):
		res.ExitStatus, res.Signal = exit.ExitStatus(), exit.Signal()
		if res.Signal != "" {
			res.ExitStatus = -1
		}
	}
	signalled := res.Signal != "" || (werr != nil && exit == nil)
	switch {
	case res.TimedOut:
		return res, fmt.Errorf("%w: the command ran longer than %s and was ended", connectors.ErrTimeout, req.Timeout)
	case ctx.Err() != nil:
		return res, ctx.Err()
	case signalled && c.isDead():
		// Revoked, expired or closed under the command.
		return res, s.endedError(c)
	case werr == nil || exit != nil:
		return res, nil
	}
	// No exit status: the connection ended under the command.
	return res, s.endedError(c)
}

// subsystem runs req.Subsystem (sftp) on a channel of its own:
// x/crypto's Session copies a session's streams only for a command or a
// shell. Closing the connection (revoke, expiry) ends it.
func (s *SSH) subsystem(ctx context.Context, c *client, req connectors.ExecRequest) (connectors.ExecResult, error) {
	res := connectors.ExecResult{ExitStatus: -1}
	ch, reqs, err := c.c.OpenChannel("session", nil)
	if err != nil {
		return res, s.sessionError(c, err)
	}
	defer ch.Close()
	if req.Gate != nil {
		if err := req.Gate(ctx); err != nil {
			return res, err
		}
	}
	ok, err := ch.SendRequest("subsystem", true, xssh.Marshal(struct{ Name string }{req.Subsystem}))
	if err != nil {
		return res, s.sessionError(c, err)
	}
	if !ok {
		return res, connectors.NewTargetError("", fmt.Sprintf("the host has no %s subsystem", req.Subsystem), "", "", nil)
	}
	exited := make(chan connectors.ExecResult, 1)
	go func() {
		r := connectors.ExecResult{ExitStatus: -1}
		for rq := range reqs {
			switch rq.Type {
			case "exit-status":
				var m struct{ Status uint32 }
				if xssh.Unmarshal(rq.Payload, &m) == nil {
					r.ExitStatus = int(m.Status)
				}
			case "exit-signal":
				var m struct {
					Signal      string
					CoreDumped  bool
					Error, Lang string
				}
				if xssh.Unmarshal(rq.Payload, &m) == nil {
					r.Signal = m.Signal
				}
			}
			if rq.WantReply {
				rq.Reply(false, nil)
			}
		}
		exited <- r
	}()
	stdout, stderr := req.Stdout, req.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); io.Copy(stdout, ch) }()
	go func() { defer wg.Done(); io.Copy(stderr, ch.Stderr()) }()
	if req.Stdin != nil {
		go func() {
			io.Copy(ch, req.Stdin)
			ch.CloseWrite()
		}()
	}
	copied := make(chan struct{})
	go func() { wg.Wait(); close(copied) }()
	select {
	case <-copied:
	case <-ctx.Done():
		ch.Close()
		<-copied
		return res, ctx.Err()
	}
	ch.Close()
	r := <-exited
	if r.ExitStatus < 0 && r.Signal == "" {
		return r, s.endedError(c)
	}
	if r.Signal != "" {
		r.ExitStatus = -1
	}
	return r, nil
}

// forward passes a client's window changes and signals to a session
// until stop is closed.
func forward(sess *xssh.Session, control <-chan connectors.Control, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case c, ok := <-control:
			if !ok {
				return
			}
			if c.Width > 0 && c.Height > 0 {
				sess.WindowChange(c.Height, c.Width)
			}
			if c.Signal != "" {
				sess.Signal(xssh.Signal(c.Signal))
			}
		}
	}
}

// stop ends a running command: SIGTERM, then SIGKILL, then the channel is
// closed. sshd delivers a signal to the command's whole process group.
func stop(sess *xssh.Session, waited <-chan error) error {
	sess.Signal(xssh.SIGTERM)
	select {
	case err := <-waited:
		return err
	case <-time.After(termGrace):
	}
	sess.Signal(xssh.SIGKILL)
	select {
	case err := <-waited:
		return err
	case <-time.After(killGrace):
	}
	sess.Close()
	return <-waited
}

// acquire returns a connection of the credential's lease with a session
// slot reserved: a live one with room, or a new one.
func (s *SSH) acquire(ctx context.Context, cred connectors.Credential) (*client, error) {
	cert := cred.SSHCertificate
	if err := s.usable(cred.Lease, cert); err != nil {
		return nil, err
	}
	s.mu.Lock()
	for _, c := range s.clients[cred.Lease] {
		if !c.isDead() && c.reserved < maxSessionsPerConn {
			c.reserved++
			s.mu.Unlock()
			return c, nil
		}
	}
	s.mu.Unlock()

	c, err := s.dial(ctx, cred)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed || s.isRevoked(cred.Lease) {
		closed := s.closed
		s.mu.Unlock()
		c.kill()
		if closed {
			return nil, connectors.ErrClosed
		}
		return nil, ErrRevoked
	}
	c.reserved++
	s.clients[cred.Lease] = append(s.clients[cred.Lease], c)
	s.mu.Unlock()
	return c, nil
}

// usable refuses a credential that may not open anything any more.
func (s *SSH) usable(lease string, cert *connectors.SSHCertificate) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return connectors.ErrClosed
	case s.isRevoked(lease):
		return ErrRevoked
	case !cert.ValidBefore.IsZero() && !time.Now().Before(cert.ValidBefore):
		return ErrRevoked
	}
	return nil
}

// isRevoked must be called with s.mu held.
func (s *SSH) isRevoked(lease string) bool {
	_, ok := s.revoked[lease]
	return ok
}

func (s *SSH) release(c *client) {
	s.mu.Lock()
	c.reserved--
	s.mu.Unlock()
}

// dial logs in with the credential's certificate.
func (s *SSH) dial(ctx context.Context, cred connectors.Credential) (*client, error) {
	cert := cred.SSHCertificate
	pub, _, _, _, err := xssh.ParseAuthorizedKey(cert.Certificate)
	if err != nil {
		return nil, errors.New("ssh: the credential's certificate does not parse")
	}
	sc, ok := pub.(*xssh.Certificate)
	if !ok {
		return nil, errors.New("ssh: the credential holds a key, not a certificate")
	}
	if cert.Key == nil {
		return nil, errors.New("ssh: the credential has no private key")
	}
	keySigner, err := xssh.NewSignerFromSigner(cert.Key)
	if err != nil {
		return nil, errors.New("ssh: the credential's private key is not usable")
	}
	signer, err := xssh.NewCertSigner(sc, keySigner)
	if err != nil {
		return nil, errors.New("ssh: the credential's certificate is not for its key")
	}
	cfg := &xssh.ClientConfig{
		User:              cert.Principal,
		Auth:              []xssh.AuthMethod{xssh.PublicKeys(signer)},
		HostKeyCallback:   s.hostKey,
		HostKeyAlgorithms: s.hostAlgos,
		Timeout:           DialTimeout,
	}
	xc, err := s.dialConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	validBefore := time.Unix(int64(sc.ValidBefore), 0)
	c := &client{lease: cred.Lease, validBefore: validBefore, c: xc, sessions: map[*xssh.Session]chan struct{}{}}
	// Nothing the certificate opened outlives it.
	c.expiry = time.AfterFunc(time.Until(validBefore), func() { s.drop(c); c.kill() })
	go func() {
		xc.Wait()
		c.mu.Lock()
		c.dead = true
		c.mu.Unlock()
		s.drop(c)
	}()
	return c, nil
}

// drop forgets a connection.
func (s *SSH) drop(c *client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.clients[c.lease]
	for i, x := range cs {
		if x == c {
			s.clients[c.lease] = append(cs[:i:i], cs[i+1:]...)
			break
		}
	}
	if len(s.clients[c.lease]) == 0 {
		delete(s.clients, c.lease)
	}
}

// sessionError maps a failure to open or start a session.
func (s *SSH) sessionError(c *client, err error) error {
	if c.isDead() {
		return s.endedError(c)
	}
	var oce *xssh.OpenChannelError
	if errors.As(err, &oce) {
		return connectors.NewTargetError("", "the host refused a session: "+oce.Message, "", "", nil)
	}
	if strings.Contains(err.Error(), "EOF") {
		return s.endedError(c)
	}
	return fmt.Errorf("ssh: start the command: %w", err)
}

// endedError says why a connection ended under a command.
func (s *SSH) endedError(c *client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return connectors.ErrClosed
	case s.isRevoked(c.lease), !time.Now().Before(c.validBefore):
		return ErrRevoked
	}
	return fmt.Errorf("%w: ssh: the connection to %s was lost", connectors.ErrUnavailable, s.address)
}

func (c *client) isDead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dead
}

// track records a live session; false if the connection is being killed.
func (c *client) track(sess *xssh.Session, done chan struct{}) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return false
	}
	c.sessions[sess] = done
	return true
}

func (c *client) untrack(sess *xssh.Session) {
	c.mu.Lock()
	delete(c.sessions, sess)
	c.mu.Unlock()
}

// kill sends SIGKILL to every live session (sshd signals each command's
// process group: closing the connection alone leaves a command without a
// pty running), waits briefly for them to end, and closes the connection.
func (c *client) kill() {
	c.mu.Lock()
	c.dead = true
	var waits []chan struct{}
	for sess, done := range c.sessions {
		sess.Signal(xssh.SIGKILL)
		waits = append(waits, done)
	}
	c.mu.Unlock()
	c.expiry.Stop()
	deadline := time.After(killGrace)
	for _, w := range waits {
		select {
		case <-w:
		case <-deadline:
		}
	}
	c.c.Close()
}

// killAll kills connections in parallel.
func killAll(cs []*client) {
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() { defer wg.Done(); c.kill() }()
	}
	wg.Wait()
}

// lockedWriter serialises writes from stdout's and stderr's copiers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
