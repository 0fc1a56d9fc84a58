// Package budget bounds the connections Warden holds open to one target,
// across every session and front door: a gateway in front of a database
// must never be what takes the database's connection slots from everyone
// else, or from Warden's own revocations (which use a reserve outside the
// budget).
//
// A Budget is a counting semaphore with a fair (first come, first served)
// queue and a bounded wait. Connectors take a slot for each connection
// they open to the target and give it back when the connection closes;
// Dialer does both for a dial function.
package budget

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/wardenhq/warden/connectors"
)

// DefaultWait is how long a call waits for a slot when none is given.
const DefaultWait = 5 * time.Second

// ErrFull matches the error of an Acquire that waited its time and got no
// slot. It wraps connectors.ErrUnavailable.
var ErrFull = fmt.Errorf("%w: connection budget in use", connectors.ErrUnavailable)

// FullError is an Acquire that got no slot: the budget's size and how many
// others were waiting.
type FullError struct {
	Connection string
	Size       int
	Waiting    int
}

func (e *FullError) Error() string {
	return fmt.Sprintf("connection budget of %d for %q is in use (%d waiting)", e.Size, e.Connection, e.Waiting)
}

// Is lets errors.Is match ErrFull and connectors.ErrUnavailable.
func (e *FullError) Is(target error) bool {
	return target == ErrFull || target == connectors.ErrUnavailable
}

// Stats is a budget's state and counters (for metrics).
type Stats struct {
	Size     int   // slots
	InUse    int   // slots taken now
	Waiting  int   // callers queued now
	Peak     int   // most slots taken at once
	Acquired int64 // slots given
	Refused  int64 // callers that waited their time and got none
}

// Budget is a connection budget. Its zero value is not usable: use New.
type Budget struct {
	name string
	wait time.Duration

	mu      sync.Mutex
	size    int
	sizer   func(ctx context.Context) (int, error) // sets size on first use, when set
	sized   bool
	used    int
	queue   []*waiter // FIFO
	peak    int
	granted int64
	refused int64

	reclaim    func()
	reclaiming bool
}

type waiter struct {
	ready chan struct{} // closed when the slot is handed over
	done  bool          // handed over (guarded by Budget.mu)
}

// New returns a budget of size slots for connection name; a call waits up
// to wait (DefaultWait if <= 0) for one. size <= 0 with sizer set: the
// budget is sized by sizer on first use (the server's own limit is known
// only once Warden reached it); until sizer succeeds, size 1 holds.
func New(name string, size int, wait time.Duration, sizer func(ctx context.Context) (int, error)) *Budget {
	if wait <= 0 {
		wait = DefaultWait
	}
	b := &Budget{name: name, wait: wait, size: size}
	if size <= 0 {
		b.size, b.sizer = 1, sizer
	} else {
		b.sized = true
	}
	return b
}

// Acquire takes a slot, waiting in line up to the budget's wait (or until
// ctx ends). The returned release gives it back; calling it more than
// once gives back one slot.
func (b *Budget) Acquire(ctx context.Context) (release func(), err error) {
	b.ensureSized(ctx)
	b.mu.Lock()
	if b.used < b.size && len(b.queue) == 0 {
		b.take()
		b.mu.Unlock()
		return b.releaser(), nil
	}
	w := &waiter{ready: make(chan struct{})}
	b.queue = append(b.queue, w)
	if b.reclaim != nil && !b.reclaiming {
		b.reclaiming = true
		go b.runReclaim(b.reclaim)
	}
	b.mu.Unlock()

	t := time.NewTimer(b.wait)
	defer t.Stop()
	select {
	case <-w.ready:
		return b.releaser(), nil
	case <-t.C:
		err = nil
	case <-ctx.Done():
		err = ctx.Err()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if w.done {
		// Handed over as the wait ended: keep it.
		return b.releaser(), nil
	}
	for i, q := range b.queue {
		if q == w {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			break
		}
	}
	if err != nil {
		return nil, err
	}
	b.refused++
	return nil, &FullError{Connection: b.name, Size: b.size, Waiting: len(b.queue)}
}

func (b *Budget) runReclaim(reclaim func()) {
	reclaim()
	b.mu.Lock()
	b.reclaiming = false
	b.mu.Unlock()
}

// take must be called with b.mu held and a slot free.
func (b *Budget) take() {
	b.used++
	b.granted++
	b.peak = max(b.peak, b.used)
}

func (b *Budget) releaser() func() {
	var once sync.Once
	return func() { once.Do(b.release) }
}

// release gives a slot back, to the first in line if anyone waits.
func (b *Budget) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used--
	b.handOver()
}

// handOver gives free slots to those waiting, in order. b.mu held.
func (b *Budget) handOver() {
	for len(b.queue) > 0 && b.used < b.size {
		w := b.queue[0]
		b.queue = b.queue[1:]
		b.take()
		w.done = true
		close(w.ready)
	}
}

// ensureSized runs the sizer once it can succeed.
func (b *Budget) ensureSized(ctx context.Context) {
	b.mu.Lock()
	if b.sized || b.sizer == nil {
		b.mu.Unlock()
		return
	}
	sizer := b.sizer
	b.mu.Unlock()
	n, err := sizer(ctx)
	if err != nil || n < 1 {
		return // try again on the next Acquire
	}
	b.mu.Lock()
	if !b.sized {
		b.size, b.sized = n, true
		b.handOver()
	}
	b.mu.Unlock()
}

// Waiting reports whether anyone waits for a slot now.
func (b *Budget) Waiting() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue) > 0
}

// OnWait sets what the budget calls (in its own goroutine, one call at a
// time) when a caller has to queue: a connector closes its idle
// connections there, so that slots held by connections nobody uses go to
// those who wait.
func (b *Budget) OnWait(reclaim func()) {
	b.mu.Lock()
	b.reclaim = reclaim
	b.mu.Unlock()
}

// SizeNow sizes the budget if it has a sizer that has not run yet, and
// returns its size.
func (b *Budget) SizeNow(ctx context.Context) int {
	b.ensureSized(ctx)
	return b.Size()
}

// Size is the number of slots (1 until a sizer has run).
func (b *Budget) Size() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.size
}

// Stats returns the budget's state and counters.
func (b *Budget) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Stats{Size: b.size, InUse: b.used, Waiting: len(b.queue), Peak: b.peak, Acquired: b.granted, Refused: b.refused}
}

// DialFunc dials a network connection (pgconn.DialFunc's shape).
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Dialer wraps dial so that each connection it opens holds a slot of b
// until it is closed.
func (b *Budget) Dialer(dial DialFunc) DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		release, err := b.Acquire(ctx)
		if err != nil {
			return nil, err
		}
		c, err := dial(ctx, network, addr)
		if err != nil {
			release()
			return nil, err
		}
		return Hold(c, release), nil
	}
}

// Hold returns c holding a slot, released when c is closed and the
// other side has closed too.
func Hold(c net.Conn, release func()) net.Conn { return &conn{Conn: c, release: release} }

// closeWait bounds how long a closed connection keeps its slot waiting
// for the server to close its side.
const closeWait = 2 * time.Second

// conn is a connection holding a budget slot.
type conn struct {
	net.Conn
	release func()
	once    sync.Once
	err     error
}

// Close closes the connection. The slot is given back once the server
// has closed its side too (or after closeWait): a server process that
// ends after its client left still takes one of the server's connection
// slots until it is gone, and a new connection opened in between would
// take the server past what the budget allows.
func (c *conn) Close() error {
	c.once.Do(func() {
		hc, ok := c.Conn.(interface{ CloseWrite() error })
		if !ok || hc.CloseWrite() != nil {
			c.err = c.Conn.Close()
			c.release()
			return
		}
		go func() {
			c.Conn.SetReadDeadline(time.Now().Add(closeWait))
			io.Copy(io.Discard, c.Conn)
			c.Conn.Close()
			c.release()
		}()
	})
	return c.err
}

// IsFull reports whether err is a budget that had no slot.
func IsFull(err error) bool { return errors.Is(err, ErrFull) }
