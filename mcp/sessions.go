package mcp

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Defaults of the session table.
const (
	// DefaultSessionIdle ends an MCP session (of a revision that has
	// them) unused for this long.
	DefaultSessionIdle = 30 * time.Minute
	// DefaultStatelessIdle ends a stateless caller's Warden session (its
	// just-in-time credentials, shared by its calls) unused for this long:
	// a caller without a session gives no sign that it is done, so its
	// role must not outlive its use by much.
	DefaultStatelessIdle = 30 * time.Second
	// DefaultMaxSessions bounds the stateless sessions tracked at once.
	DefaultMaxSessions = 10000
)

// errTooManySessions refuses a stateless caller when every tracked
// session has a call in flight and the table is full.
var errTooManySessions = errors.New("too many active sessions")

// sessionTable knows the Warden sessions of the MCP front door and the
// calls in flight in each, so that a session ends only when nothing runs
// in it any more, and ending it (end) revokes its just-in-time credentials
// through the revoke function (the pipeline's EndSession) exactly once,
// after its last call.
//
// Sessions come in three kinds:
//
//   - a stdio process and an MCP session (protocol revisions with
//     Mcp-Session-Id) have their own id and lifetime: the front door
//     joins calls to them (join) and ends them (end) when the process's
//     input ends, the client deletes the session or mcp-go's idle sweep
//     closes it. Ending one cancels its calls still in flight (a held
//     call waiting in a task, say), and the credentials are revoked once
//     they have returned.
//   - a stateless caller (revision 2026-07-28, no Mcp-Session-Id) has a
//     session the table makes on first use (joinStateless), keyed by who
//     calls (issuer and subject) and the client's name, kept alive by
//     use, and ended once idle for the idle timeout with no call in
//     flight. At most max of them are tracked: a new one then replaces
//     the one idle the longest (which ends), and when every one is busy
//     the caller is refused.
//
// The table holds entries only for stateless sessions and for sessions
// with calls in flight, so its memory is bounded by max plus the calls in
// flight. It is safe for concurrent use.
type sessionTable struct {
	idle   time.Duration
	max    int
	revoke func(ctx context.Context, session string)
	now    func() time.Time

	mu    sync.Mutex
	byID  map[string]*session
	byKey map[string]*session // stateless sessions

	sweeper sync.Once
	stop    chan struct{}
	done    chan struct{}
	closed  bool
}

// session is one entry of the table.
type session struct {
	id       string
	key      string // stateless sessions only
	lastUsed time.Time
	calls    map[*int]context.CancelFunc
	ended    bool
}

func newSessionTable(idle time.Duration, max int, end func(context.Context, string)) *sessionTable {
	if idle <= 0 {
		idle = DefaultSessionIdle
	}
	if max <= 0 {
		max = DefaultMaxSessions
	}
	return &sessionTable{
		idle: idle, max: max, revoke: end, now: time.Now,
		byID: map[string]*session{}, byKey: map[string]*session{},
		stop: make(chan struct{}), done: make(chan struct{}),
	}
}

// join runs a call in the session id (a stdio process or an MCP session):
// the returned context is cancelled if the session ends, and done must be
// called when the call returns.
func (t *sessionTable) join(ctx context.Context, id string) (context.Context, func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.byID[id]
	if s == nil {
		s = &session{id: id, calls: map[*int]context.CancelFunc{}}
		t.byID[id] = s
	}
	return t.add(ctx, s)
}

// joinStateless runs a call of a stateless caller identified by key in
// its session, made now if it has none: it returns the session's id, a
// context cancelled if the session ends, and done to call when the call
// returns.
func (t *sessionTable) joinStateless(ctx context.Context, key string) (string, context.Context, func(), error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return "", nil, nil, errTooManySessions
	}
	s := t.byKey[key]
	var evicted string
	if s == nil {
		if len(t.byKey) >= t.max {
			victim := t.oldestIdle()
			if victim == nil {
				t.mu.Unlock()
				return "", nil, nil, errTooManySessions
			}
			evicted = victim.id
			t.endLocked(victim)
		}
		s = &session{id: "http-" + NewSessionID(), key: key, calls: map[*int]context.CancelFunc{}}
		t.byKey[key] = s
		t.byID[s.id] = s
	}
	cctx, done := t.add(ctx, s)
	t.mu.Unlock()
	t.sweeper.Do(func() { go t.sweepEvery(t.idle / 4) })
	if evicted != "" {
		t.finish(evicted)
	}
	return s.id, cctx, done, nil
}

// add registers a call in s. t.mu is held.
func (t *sessionTable) add(ctx context.Context, s *session) (context.Context, func()) {
	cctx, cancel := context.WithCancel(ctx)
	token := new(int)
	s.calls[token] = cancel
	s.lastUsed = t.now()
	if s.ended {
		cancel()
	}
	var once sync.Once
	return cctx, func() { once.Do(func() { t.leave(s, token, cancel) }) }
}

// leave is a call's done: it forgets the call and, when it was the last of
// an ended session, revokes the session's credentials.
func (t *sessionTable) leave(s *session, token *int, cancel context.CancelFunc) {
	cancel()
	t.mu.Lock()
	delete(s.calls, token)
	s.lastUsed = t.now()
	last := len(s.calls) == 0
	if last && s.key == "" && t.byID[s.id] == s {
		delete(t.byID, s.id) // a session with its own lifetime is kept only while it has calls
	}
	ended := last && s.ended
	t.mu.Unlock()
	if ended {
		t.finish(s.id)
	}
}

// end ends the session id: its calls in flight are cancelled, and its
// credentials are revoked now, or once the last of them has returned.
func (t *sessionTable) end(id string) {
	t.mu.Lock()
	s := t.byID[id]
	if s == nil || s.ended {
		t.mu.Unlock()
		if s == nil {
			t.finish(id)
		}
		return
	}
	busy := t.endLocked(s)
	t.mu.Unlock()
	if !busy {
		t.finish(id)
	}
}

// endLocked marks s ended and cancels its calls; it reports whether calls
// are still in flight (then the last one's done finishes the session).
// t.mu is held.
func (t *sessionTable) endLocked(s *session) bool {
	t.remove(s)
	s.ended = true
	for _, cancel := range s.calls {
		cancel()
	}
	return len(s.calls) > 0
}

// remove forgets s. t.mu is held.
func (t *sessionTable) remove(s *session) {
	if t.byID[s.id] == s {
		delete(t.byID, s.id)
	}
	if s.key != "" && t.byKey[s.key] == s {
		delete(t.byKey, s.key)
	}
}

// oldestIdle is the stateless session without calls unused the longest.
// t.mu is held.
func (t *sessionTable) oldestIdle() *session {
	var oldest *session
	for _, s := range t.byKey {
		if len(s.calls) == 0 && (oldest == nil || s.lastUsed.Before(oldest.lastUsed)) {
			oldest = s
		}
	}
	return oldest
}

// finish revokes the credentials of an ended session.
func (t *sessionTable) finish(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.revoke(ctx, id)
}

// sweep ends the stateless sessions idle since before now minus the idle
// timeout, and returns their ids.
func (t *sessionTable) sweep(now time.Time) []string {
	t.mu.Lock()
	var idle []string
	for _, s := range t.byKey {
		if len(s.calls) == 0 && now.Sub(s.lastUsed) >= t.idle {
			t.endLocked(s)
			idle = append(idle, s.id)
		}
	}
	t.mu.Unlock()
	for _, id := range idle {
		t.finish(id)
	}
	return idle
}

func (t *sessionTable) sweepEvery(every time.Duration) {
	defer close(t.done)
	every = max(every, 10*time.Millisecond)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			t.sweep(t.now())
		}
	}
}

// len returns the number of stateless sessions tracked.
func (t *sessionTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byKey)
}

// close stops the sweeper and ends every session the table tracks.
func (t *sessionTable) close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	var idle []string
	for _, s := range t.byID {
		if !t.endLocked(s) {
			idle = append(idle, s.id)
		}
	}
	for _, s := range t.byKey {
		if !t.endLocked(s) {
			idle = append(idle, s.id)
		}
	}
	t.mu.Unlock()
	started := true
	t.sweeper.Do(func() { started = false })
	if started {
		close(t.stop)
		<-t.done
	}
	for _, id := range idle {
		t.finish(id)
	}
}
