package credentials

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/policy"
)

// Request asks for the credential a decided call runs with.
type Request struct {
	// Session is the Warden session the credential belongs to; empty for
	// a stateless caller, whose session is its identity's use of the
	// connection with the same grants, kept alive by use.
	Session    string
	Subject    string
	Connection string
	Decision   policy.Decision
	// Require, when set, is what the operation needs on the target, for a
	// connector whose principals are scoped per operation
	// (connectors.ScopedGranter): the grants minted are checked against
	// the decision and never exceed it.
	Require connectors.Grants
}

// LeaseStore is where leases live (package audit), and where
// revocations are recorded.
type LeaseStore interface {
	audit.LeaseStore
	Record(ctx context.Context, ev *audit.Event) error
}

// Credentials is the mint stage. A connection with credentials: static
// runs as its configured user (and every audit event says so); one with
// credentials: jit gets a credential minted for the session, scoped to the
// decision's grants, reused while the session uses it, and revoked when
// the session ends, when it idles, when it expires, or — after a crash —
// by the reaper of the next Warden to start.
type Credentials struct {
	store    LeaseStore
	conns    map[string]connectors.Connector
	settings map[string]config.Connection
	instance audit.Instance
	logger   *slog.Logger

	mu    sync.Mutex
	live  map[string]*lease // by session/connection/grants key
	retry map[string]retryState
	// retryBase is the first wait after a failed revocation; it doubles.
	retryBase time.Duration

	stop chan struct{}
	done chan struct{}
}

type lease struct {
	mu         sync.Mutex // held while minting
	key        string
	id         string
	connection string
	session    string
	principal  string
	cred       connectors.Credential
	expires    time.Time
	lastUsed   time.Time
	minted     bool
	revoked    bool
}

type retryState struct {
	attempts int
	next     time.Time
}

// Revocation retries: 5 attempts with doubling waits, then the lease is
// marked failed for a human (warden leases list) and the audit trail.
const (
	revokeAttempts = 5
	firstRetry     = time.Second
	// reapEvery is how often the reaper runs and the instance heartbeats.
	reapEvery = 2 * time.Second
	// deadAfter is how stale a heartbeat must be for another host's
	// instance to count as dead.
	deadAfter = 30 * time.Second
	// renewBefore: a lease this close to expiry is replaced, not reused.
	renewBefore = time.Minute
)

// New builds the mint stage for the configured connections.
func New(store LeaseStore, conns map[string]connectors.Connector, settings []config.Connection, logger *slog.Logger) *Credentials {
	host, _ := os.Hostname()
	now := time.Now().UTC()
	c := &Credentials{
		store:     store,
		conns:     conns,
		settings:  map[string]config.Connection{},
		instance:  audit.Instance{ID: newLeaseID(), Host: host, PID: os.Getpid(), Boot: audit.ProcessStart(os.Getpid()), Started: now, Heartbeat: now},
		logger:    logger,
		live:      map[string]*lease{},
		retry:     map[string]retryState{},
		retryBase: firstRetry,
	}
	for _, s := range settings {
		c.settings[s.Name] = s
	}
	return c
}

// Start records this instance, reaps what earlier instances left behind,
// and runs the reaper until Close.
func (c *Credentials) Start(ctx context.Context) error {
	if err := c.store.Heartbeat(ctx, c.instance); err != nil {
		return err
	}
	c.reap(ctx)
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(c.done)
		t := time.NewTicker(reapEvery)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
				c.instance.Heartbeat = time.Now().UTC()
				if err := c.store.Heartbeat(context.Background(), c.instance); err != nil {
					c.logger.Error("lease heartbeat", "err", err)
				}
				c.reap(context.Background())
			}
		}
	}()
	return nil
}

// Mint returns the credential req runs with: the connection's own for
// credentials: static, or one minted for the session and the decision's
// grants, reused while they are the same.
func (c *Credentials) Mint(ctx context.Context, req Request) (connectors.Credential, error) {
	set, ok := c.settings[req.Connection]
	if !ok || set.Credentials != "jit" {
		return connectors.Static, nil
	}
	cr, ok := c.conns[req.Connection].(connectors.Credentialer)
	if !ok {
		return connectors.Credential{}, fmt.Errorf("connection %q cannot mint credentials", req.Connection)
	}
	var grants connectors.Grants
	var err error
	if sg, ok := cr.(connectors.ScopedGranter); ok && req.Require != nil {
		grants, err = sg.ScopedGrants(req.Decision, req.Require)
	} else {
		grants, err = cr.Grants(req.Decision)
	}
	if err != nil {
		return connectors.Credential{}, err
	}
	session := req.Session
	if session == "" {
		// A stateless client: the session is the identity's use of this
		// connection with these grants, kept alive by use.
		session = "identity:" + req.Subject
	}
	key := session + "\x00" + req.Connection + "\x00" + grants.Key()

	c.mu.Lock()
	l := c.live[key]
	if l == nil || l.revoked || (l.minted && time.Until(l.expires) < renewBefore) {
		id := newLeaseID()
		l = &lease{key: key, id: id, connection: req.Connection, session: req.Session, principal: cr.Principal(id)}
		c.live[key] = l
	}
	c.mu.Unlock()

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.minted && !l.revoked {
		l.lastUsed = time.Now()
		return l.cred, nil
	}
	if l.revoked {
		return connectors.Credential{}, errors.New("the session's credential was just revoked; try again")
	}
	now := time.Now().UTC()
	rec := audit.Lease{ID: l.id, Connection: req.Connection, Principal: l.principal, Identity: req.Subject,
		Session: req.Session, Instance: c.instance.ID, Created: now, Expires: now.Add(set.JIT.TTL)}
	// The lease is recorded before the role exists: a crash in between
	// leaves a record for the reaper, never an untracked role.
	if err := c.store.CreateLease(ctx, rec); err != nil {
		c.forget(l)
		return connectors.Credential{}, err
	}
	start := time.Now()
	resp, err := cr.Mint(ctx, connectors.MintRequest{Lease: l.id, Grants: grants, TTL: set.JIT.TTL, ConnectionLimit: set.JIT.ConnectionLimit})
	ev := &audit.Event{Session: req.Session, Identity: req.Subject, Tool: "credential.mint", Connection: req.Connection,
		Statement: "mint " + rec.Principal, Credential: l.id, Duration: time.Since(start), Status: audit.StatusOK, Decision: string(req.Decision.Effect), Rule: req.Decision.Rule}
	if err != nil {
		ev.Status, ev.Error = audit.StatusFailed, err.Error()
		c.record(ev)
		c.forget(l)
		// Whatever a failed mint left behind is removed now, or by the reaper.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		c.revoke(rctx, l.id, rec.Principal, req.Connection)
		cancel()
		return connectors.Credential{}, err
	}
	ev.Reason = resp.Summary
	c.record(ev)
	if err := c.store.UpdateLease(ctx, l.id, resp.Summary, resp.Expires); err != nil {
		c.logger.Error("record lease grants", "lease", l.id, "err", err)
	}
	l.cred, l.expires, l.lastUsed, l.minted = resp.Credential, resp.Expires, time.Now(), true
	c.logger.Info("credential minted", "lease", l.id, "connection", req.Connection, "principal", l.principal, "grants", resp.Summary, "ms", time.Since(start).Milliseconds())
	return l.cred, nil
}

func (c *Credentials) forget(l *lease) {
	c.mu.Lock()
	if c.live[l.key] == l {
		delete(c.live, l.key)
	}
	c.mu.Unlock()
}

// EndSession revokes the session's credentials at once.
func (c *Credentials) EndSession(ctx context.Context, session string) {
	if session == "" {
		return
	}
	c.revokeWhere(ctx, func(l *lease) bool { return l.session == session })
}

// Close revokes every credential this instance minted and stops the
// reaper.
func (c *Credentials) Close(ctx context.Context) {
	if c.stop != nil {
		close(c.stop)
		<-c.done
		c.stop = nil
	}
	c.revokeWhere(ctx, func(*lease) bool { return true })
	c.store.ForgetInstance(ctx, c.instance.ID)
}

func (c *Credentials) revokeWhere(ctx context.Context, match func(*lease) bool) {
	c.mu.Lock()
	var victims []*lease
	for k, l := range c.live {
		if match(l) {
			victims = append(victims, l)
			delete(c.live, k)
		}
	}
	c.mu.Unlock()
	// Many leases of one connection whose connector revokes in batches
	// go in one batch (a shutdown with hundreds of sessions); the rest,
	// and a batch that fails, one by one, in parallel.
	byConn := map[string][]*lease{}
	var one []*lease
	for _, l := range victims {
		l.mu.Lock()
		l.revoked = true
		minted := l.minted || l.id != ""
		l.mu.Unlock()
		if !minted {
			continue
		}
		if _, ok := c.conns[l.connection].(connectors.BatchRevoker); ok {
			byConn[l.connection] = append(byConn[l.connection], l)
		} else {
			one = append(one, l)
		}
	}
	for conn, ls := range byConn {
		if len(ls) < 2 || !c.revokeBatch(ctx, conn, ls) {
			one = append(one, ls...)
		}
	}
	var wg sync.WaitGroup
	for _, l := range one {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.revoke(ctx, l.id, l.principal, l.connection)
		}()
	}
	wg.Wait()
}

// revokeBatch revokes leases of one connection in one go and records
// each; false if the batch failed (nothing is recorded then).
func (c *Credentials) revokeBatch(ctx context.Context, connection string, ls []*lease) bool {
	br := c.conns[connection].(connectors.BatchRevoker)
	reqs := make([]connectors.RevokeRequest, len(ls))
	for i, l := range ls {
		reqs[i] = connectors.RevokeRequest{Lease: l.id, Principal: l.principal}
	}
	start := time.Now()
	if err := br.RevokeAll(ctx, reqs); err != nil {
		c.logger.Warn("batch revocation failed; revoking one by one", "connection", connection, "leases", len(ls), "err", err)
		return false
	}
	each := time.Since(start) / time.Duration(len(ls))
	for _, l := range ls {
		c.revoked(ctx, l.id, l.principal, connection, each)
	}
	return true
}

// reap revokes live leases that idled or expired, and active leases in the
// store whose instance is gone (a crash) or whose time is up.
func (c *Credentials) reap(ctx context.Context) {
	now := time.Now()
	c.mu.Lock()
	var stale []*lease
	for k, l := range c.live {
		idle := c.settings[l.connection].JIT.IdleTimeout
		if l.minted && (now.Sub(l.lastUsed) > idle || now.After(l.expires)) && l.mu.TryLock() {
			l.revoked = true
			l.mu.Unlock()
			stale = append(stale, l)
			delete(c.live, k)
		}
	}
	c.mu.Unlock()
	for _, l := range stale {
		c.revoke(ctx, l.id, l.principal, l.connection)
	}

	active, err := c.store.Leases(ctx, audit.LeaseFilter{State: audit.LeaseActive, Limit: audit.MaxListLimit})
	if err != nil {
		c.logger.Error("reaper: list leases", "err", err)
		return
	}
	instances, err := c.store.Instances(ctx)
	if err != nil {
		c.logger.Error("reaper: list instances", "err", err)
		return
	}
	alive := map[string]bool{c.instance.ID: true}
	for _, in := range instances {
		if in.ID != c.instance.ID && c.instanceAlive(in, now) {
			alive[in.ID] = true
		}
	}
	for _, l := range active {
		mine := l.Instance == c.instance.ID
		if mine && c.isLive(l.ID) {
			continue
		}
		if !mine && alive[l.Instance] && now.Before(l.Expires) {
			continue // another live Warden's session
		}
		if rs, ok := c.retryOf(l.ID); ok && now.Before(rs.next) {
			continue
		}
		c.revoke(ctx, l.ID, l.Principal, l.Connection)
	}
	for _, in := range instances {
		if !alive[in.ID] {
			c.store.ForgetInstance(ctx, in.ID)
		}
	}
}

func (c *Credentials) isLive(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.live {
		if l.id == id {
			return true
		}
	}
	return false
}

func (c *Credentials) retryOf(id string) (retryState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rs, ok := c.retry[id]
	return rs, ok
}

// instanceAlive: a process on this host is alive if it still runs (and is
// the same process, not a reused PID); elsewhere, if it heartbeats.
func (c *Credentials) instanceAlive(in audit.Instance, now time.Time) bool {
	if in.Host == c.instance.Host && in.PID > 0 {
		if !audit.ProcessAlive(in.PID, in.Boot) {
			return false
		}
		return now.Sub(in.Heartbeat) < deadAfter*4
	}
	return now.Sub(in.Heartbeat) < deadAfter
}

// revoke revokes one lease, recording the outcome; failures are retried
// by the reaper with backoff, then marked failed.
func (c *Credentials) revoke(ctx context.Context, id, principal, connection string) {
	cr, ok := c.conns[connection].(connectors.Credentialer)
	var err error
	start := time.Now()
	if !ok {
		err = fmt.Errorf("connection %q is not configured here, so lease %s cannot be revoked", connection, id)
	} else {
		err = cr.Revoke(ctx, connectors.RevokeRequest{Lease: id, Principal: principal})
	}
	if err == nil {
		c.revoked(ctx, id, principal, connection, time.Since(start))
		return
	}
	ev := &audit.Event{Tool: "credential.revoke", Connection: connection, Statement: "revoke " + principal,
		Credential: id, Duration: time.Since(start), Status: audit.StatusOK}
	c.mu.Lock()
	rs := c.retry[id]
	rs.attempts++
	rs.next = time.Now().Add(c.retryBase << (rs.attempts - 1))
	c.retry[id] = rs
	c.mu.Unlock()
	failed := rs.attempts >= revokeAttempts
	c.store.LeaseAttempt(ctx, id, err, failed)
	ev.Status, ev.Error = audit.StatusFailed, err.Error()
	if failed {
		ev.Error = fmt.Sprintf("gave up after %d attempts: %v", rs.attempts, err)
		c.mu.Lock()
		delete(c.retry, id)
		c.mu.Unlock()
	}
	c.record(ev)
	c.logger.Error("credential revocation failed", "lease", id, "connection", connection, "attempt", rs.attempts, "gave_up", failed, "err", err)
}

// revoked records a lease revoked: in the store, the audit trail and the
// log.
func (c *Credentials) revoked(ctx context.Context, id, principal, connection string, took time.Duration) {
	c.mu.Lock()
	delete(c.retry, id)
	c.mu.Unlock()
	if err := c.store.LeaseRevoked(ctx, id, time.Now().UTC()); err != nil {
		c.logger.Error("record lease revoked", "lease", id, "err", err)
	}
	c.record(&audit.Event{Tool: "credential.revoke", Connection: connection, Statement: "revoke " + principal,
		Credential: id, Duration: took, Status: audit.StatusOK})
	c.logger.Info("credential revoked", "lease", id, "connection", connection, "principal", principal)
}

func (c *Credentials) record(ev *audit.Event) {
	ev.Transport = audit.TransportInternal
	if err := c.store.Record(context.Background(), ev); err != nil {
		c.logger.Error("audit credential event", "err", err)
	}
}

var leaseEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newLeaseID returns 16 random lower-case letters and digits.
func newLeaseID() string {
	var b [10]byte
	rand.Read(b[:])
	return leaseEncoding.EncodeToString(b[:])
}

// Static is the mint stage of a Warden without just-in-time credentials:
// every call runs as its connection's configured credential, and every
// audit event says so.
type Static struct{}

// Mint returns the static credential.
func (Static) Mint(context.Context, Request) (connectors.Credential, error) {
	return connectors.Static, nil
}

// EndSession does nothing: there is nothing to revoke.
func (Static) EndSession(context.Context, string) {}

// Close does nothing.
func (Static) Close(context.Context) {}
