package proxy

import (
	"bufio"
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// lineEngine is the smallest protocol: it greets a client with "hello"
// and serves until the client goes away; a client past the limit is told
// "busy".
type lineEngine struct{ served atomic.Int32 }

func (e *lineEngine) Serve(ctx context.Context, c net.Conn) {
	e.served.Add(1)
	c.Write([]byte("hello\n"))
	bufio.NewReader(c).ReadString('\n') // until the client or the server closes
}

func (e *lineEngine) Busy(c net.Conn) { c.Write([]byte("busy\n")) }

func readLine(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	s, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return s
}

// TestServerLimitAndShutdown: clients past MaxConnections are refused by
// the engine's Busy; a slot freed is taken again; ending the context
// closes every client connection and Serve returns.
func TestServerLimitAndShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &lineEngine{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(e, Options{MaxConnections: 2}).Serve(ctx, ln) }()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := dial(), dial()
	if readLine(t, a) != "hello\n" || readLine(t, b) != "hello\n" {
		t.Fatal("the first two clients are served")
	}
	if got := readLine(t, dial()); got != "busy\n" {
		t.Fatalf("third client got %q, want busy", got)
	}
	a.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := dial()
		if readLine(t, c) == "hello\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a freed slot was not taken again")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := b.Read(make([]byte, 1)); err == nil {
		t.Error("a client connection outlived the server")
	}
	if n := e.served.Load(); n != 3 {
		t.Errorf("engine served %d clients, want 3", n)
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[net.Addr]bool{
		&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}:   true,
		&net.TCPAddr{IP: net.IPv6loopback}:         true,
		&net.TCPAddr{IP: net.IPv4(10, 0, 0, 1)}:    false,
		&net.UnixAddr{Name: "/tmp/s", Net: "unix"}: true,
	} {
		if IsLoopback(addr) != want {
			t.Errorf("IsLoopback(%v) != %v", addr, want)
		}
	}
}
