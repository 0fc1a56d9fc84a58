package mcp

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// endLog records the sessions a table ended, in order.
type endLog struct {
	mu  sync.Mutex
	ids []string
}

func (l *endLog) end(_ context.Context, id string) {
	l.mu.Lock()
	l.ids = append(l.ids, id)
	l.mu.Unlock()
}

func (l *endLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ids)
}

// clock is a settable time for a table's sweeps.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestTable(t *testing.T, idle time.Duration, max int) (*sessionTable, *endLog, *clock) {
	t.Helper()
	log := &endLog{}
	c := &clock{t: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)}
	tab := newSessionTable(idle, max, log.end)
	tab.now = c.now
	// The tests sweep by hand, on their clock: the table's own sweeper
	// must not run.
	tab.sweeper.Do(func() {})
	close(tab.done)
	t.Cleanup(tab.close)
	return tab, log, c
}

func call(t *testing.T, tab *sessionTable, key string) string {
	t.Helper()
	id, _, done, err := tab.joinStateless(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	done()
	return id
}

func TestStatelessSessionIdleEnd(t *testing.T) {
	tab, log, c := newTestTable(t, 10*time.Minute, 10)
	id := call(t, tab, "alice")
	if !strings.HasPrefix(id, "http-") || len(id) != len("http-")+24 {
		t.Errorf("session id %q", id)
	}
	c.advance(9 * time.Minute)
	if ended := tab.sweep(c.now()); len(ended) != 0 {
		t.Fatalf("ended before its idle timeout: %v", ended)
	}
	c.advance(time.Minute)
	if ended := tab.sweep(c.now()); !slices.Equal(ended, []string{id}) {
		t.Fatalf("swept %v, want %s", ended, id)
	}
	if got := log.list(); !slices.Equal(got, []string{id}) {
		t.Fatalf("ended %v, want %s", got, id)
	}
	if next := call(t, tab, "alice"); next == id {
		t.Error("an ended session was used again")
	}
}

func TestStatelessSessionRenewedByUse(t *testing.T) {
	tab, log, c := newTestTable(t, 10*time.Minute, 10)
	id := call(t, tab, "alice")
	for range 5 {
		c.advance(8 * time.Minute)
		tab.sweep(c.now())
		if again := call(t, tab, "alice"); again != id {
			t.Fatalf("use after %v idle gave a new session %s, want %s", 8*time.Minute, again, id)
		}
	}
	if bob := call(t, tab, "bob"); bob == id {
		t.Error("two callers share a session")
	}
	if got := log.list(); len(got) != 0 {
		t.Errorf("sessions ended while in use: %v", got)
	}
}

// TestStatelessSessionBusyNeverIdles: a call that runs longer than the
// idle timeout (a held call waiting for a person) keeps its session.
func TestStatelessSessionBusyNeverIdles(t *testing.T) {
	tab, log, c := newTestTable(t, time.Minute, 10)
	id, ctx, done, err := tab.joinStateless(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	c.advance(time.Hour)
	if ended := tab.sweep(c.now()); len(ended) != 0 || ctx.Err() != nil {
		t.Fatalf("a busy session was ended: %v %v", ended, ctx.Err())
	}
	done()
	c.advance(59 * time.Second)
	if ended := tab.sweep(c.now()); len(ended) != 0 {
		t.Fatal("idle counts from the end of the last call, not its start")
	}
	c.advance(time.Second)
	if ended := tab.sweep(c.now()); !slices.Equal(ended, []string{id}) || !slices.Equal(log.list(), []string{id}) {
		t.Fatalf("swept %v, ended %v", ended, log.list())
	}
}

// TestStatelessSessionsBounded: the table tracks at most max sessions; a
// new caller replaces the one idle the longest (which ends), and is
// refused when all are busy.
func TestStatelessSessionsBounded(t *testing.T) {
	tab, log, c := newTestTable(t, time.Hour, 3)
	ids := map[string]string{}
	for _, k := range []string{"a", "b", "c"} {
		ids[k] = call(t, tab, k)
		c.advance(time.Second)
	}
	call(t, tab, "a") // a is now the most recently used
	ids["d"] = call(t, tab, "d")
	if tab.len() != 3 {
		t.Fatalf("%d sessions tracked, want 3", tab.len())
	}
	if got := log.list(); !slices.Equal(got, []string{ids["b"]}) {
		t.Fatalf("ended %v, want the least recently used, b's %s", got, ids["b"])
	}
	var dones []func()
	for _, k := range []string{"a", "c", "d"} {
		_, _, done, err := tab.joinStateless(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		dones = append(dones, done)
	}
	if _, _, _, err := tab.joinStateless(context.Background(), "e"); err != errTooManySessions {
		t.Fatalf("a new caller with every session busy: %v", err)
	}
	for _, d := range dones {
		d()
	}
	if _, _, done, err := tab.joinStateless(context.Background(), "e"); err != nil {
		t.Fatal(err)
	} else {
		done()
	}
	if tab.len() != 3 || len(log.list()) != 2 {
		t.Fatalf("%d tracked, ended %v", tab.len(), log.list())
	}
}

// TestSessionEndWaitsForCalls: ending a session cancels its calls in
// flight and revokes its credentials once the last has returned, once.
func TestSessionEndWaitsForCalls(t *testing.T) {
	tab, log, _ := newTestTable(t, time.Hour, 10)
	ctx1, done1 := tab.join(context.Background(), "mcp-session-1")
	ctx2, done2 := tab.join(context.Background(), "mcp-session-1")
	tab.end("mcp-session-1")
	if ctx1.Err() == nil || ctx2.Err() == nil {
		t.Fatal("the session's calls were not cancelled")
	}
	if len(log.list()) != 0 {
		t.Fatal("credentials revoked while a call still runs")
	}
	done1()
	done1()
	if len(log.list()) != 0 {
		t.Fatal("credentials revoked while a call still runs")
	}
	done2()
	if got := log.list(); !slices.Equal(got, []string{"mcp-session-1"}) {
		t.Fatalf("ended %v", got)
	}
	tab.end("mcp-session-1")
	if got := log.list(); len(got) != 2 {
		t.Fatalf("ending a session without calls revokes at once: %v", got)
	}
	// A session without calls leaves nothing behind.
	_, done := tab.join(context.Background(), "stdio-1")
	done()
	tab.mu.Lock()
	n := len(tab.byID)
	tab.mu.Unlock()
	if n != 0 {
		t.Errorf("%d entries left", n)
	}
}

func TestSessionTableClose(t *testing.T) {
	log := &endLog{}
	tab := newSessionTable(20*time.Millisecond, 10, log.end)
	idleID, _, done, _ := tab.joinStateless(context.Background(), "idle")
	done()
	busyID, ctx, busyDone, _ := tab.joinStateless(context.Background(), "busy")
	// The table's own sweeper ends the idle session.
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Contains(log.list(), idleID) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !slices.Contains(log.list(), idleID) || slices.Contains(log.list(), busyID) {
		t.Fatalf("the sweeper ended %v (idle %s, busy %s)", log.list(), idleID, busyID)
	}
	tab.close()
	if ctx.Err() == nil {
		t.Fatal("close did not cancel a call in flight")
	}
	busyDone()
	if !slices.Contains(log.list(), busyID) {
		t.Fatalf("close did not end the busy session: %v", log.list())
	}
	if _, _, _, err := tab.joinStateless(context.Background(), "late"); err == nil {
		t.Error("a closed table made a session")
	}
}
