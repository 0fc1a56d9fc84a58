package budget

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardenhq/warden/connectors"
)

// TestNeverOverSize: 200 callers on a budget of 5 never hold more than 5
// slots at once, and all get one in the end.
func TestNeverOverSize(t *testing.T) {
	b := New("db", 5, time.Minute, nil)
	var inUse, peak atomic.Int32
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, err := b.Acquire(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			n := inUse.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(time.Millisecond)
			inUse.Add(-1)
			release()
			release() // twice gives back one slot
		}()
	}
	wg.Wait()
	st := b.Stats()
	if peak.Load() > 5 || st.Peak > 5 || st.InUse != 0 || st.Acquired != 200 || st.Waiting != 0 {
		t.Errorf("peak %d, stats %+v", peak.Load(), st)
	}
}

// TestFIFO: waiters get slots in the order they came.
func TestFIFO(t *testing.T) {
	b := New("db", 1, time.Minute, nil)
	release, _ := b.Acquire(context.Background())
	var order []int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := b.Acquire(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			r()
		}()
		for b.Stats().Waiting != i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	release()
	wg.Wait()
	for i, v := range order {
		if v != i {
			t.Fatalf("order %v, want 0..4", order)
		}
	}
}

// TestFull: past the wait, a caller gets an error that says the budget,
// the connection and who waits, and matches ErrFull and ErrUnavailable.
func TestFull(t *testing.T) {
	b := New("corpus", 2, 50*time.Millisecond, nil)
	r1, _ := b.Acquire(context.Background())
	r2, _ := b.Acquire(context.Background())
	_, err := b.Acquire(context.Background())
	var fe *FullError
	if !errors.As(err, &fe) || !errors.Is(err, ErrFull) || !errors.Is(err, connectors.ErrUnavailable) ||
		err.Error() != `connection budget of 2 for "corpus" is in use (0 waiting)` {
		t.Fatalf("err %v", err)
	}
	if st := b.Stats(); st.Refused != 1 || st.InUse != 2 {
		t.Errorf("stats %+v", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Acquire(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	r1()
	r2()
	if r, err := b.Acquire(context.Background()); err != nil {
		t.Errorf("after release: %v", err)
	} else {
		r()
	}
	if st := b.Stats(); st.Waiting != 0 || st.InUse != 0 {
		t.Errorf("stats %+v: a waiter that gave up is still queued", st)
	}
}

// TestSizer: a budget sized by the server is 1 until the sizer works,
// then its answer.
func TestSizer(t *testing.T) {
	fail := true
	b := New("db", 0, 10*time.Millisecond, func(context.Context) (int, error) {
		if fail {
			return 0, errors.New("down")
		}
		return 3, nil
	})
	r, err := b.Acquire(context.Background())
	if err != nil || b.Size() != 1 {
		t.Fatalf("%v, size %d", err, b.Size())
	}
	r()
	fail = false
	var rs []func()
	for range 3 {
		r, err := b.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	if _, err := b.Acquire(context.Background()); !IsFull(err) {
		t.Errorf("a fourth slot: %v", err)
	}
	for _, r := range rs {
		r()
	}
}

// TestDialer: a dialled connection holds its slot until closed; a failed
// dial gives it back.
func TestDialer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	b := New("db", 1, 20*time.Millisecond, nil)
	dial := b.Dialer((&net.Dialer{}).DialContext)
	c, err := dial(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dial(context.Background(), "tcp", ln.Addr().String()); !IsFull(err) {
		t.Errorf("second dial: %v", err)
	}
	c.Close()
	c.Close()
	// The slot comes back once the server has closed its side.
	deadline := time.Now().Add(5 * time.Second)
	for b.Stats().InUse != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if st := b.Stats(); st.InUse != 0 {
		t.Fatalf("the slot was not given back: %+v", st)
	}
	if _, err := dial(context.Background(), "tcp", "127.0.0.1:1"); err == nil || IsFull(err) || !strings.Contains(err.Error(), "refused") {
		t.Errorf("dial to a closed port: %v", err)
	}
	if st := b.Stats(); st.InUse != 0 {
		t.Errorf("a failed dial kept its slot: %+v", st)
	}
}
