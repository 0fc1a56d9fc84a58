//go:build unix

package postgres

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// TestRawWriter: the raw socket writer delivers everything when the socket
// fills (waiting through the poller), honours write deadlines, and fails
// on a connection the peer closed.
func TestRawWriter(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dial := func() (net.Conn, net.Conn) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return c, s
	}

	c, s := dial()
	w := fastWriter(c)
	if _, ok := w.(*rawWriter); !ok {
		t.Fatalf("fastWriter(TCP) = %T", w)
	}
	big := bytes.Repeat([]byte("warden"), 4<<20/6) // far more than the socket buffers
	got := make(chan []byte)
	go func() {
		time.Sleep(50 * time.Millisecond) // let the writer fill the socket first
		b, _ := io.ReadAll(s)
		got <- b
	}()
	if n, err := w.Write(big); err != nil || n != len(big) {
		t.Fatalf("write = %d, %v", n, err)
	}
	c.Close()
	if b := <-got; !bytes.Equal(b, big) {
		t.Fatalf("read %d bytes, not what was written", len(b))
	}

	c, s = dial()
	w = fastWriter(c)
	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, err = w.Write(big) // nobody reads
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("write past the deadline: %v", err)
	}
	c.Close()
	s.Close()

	c, s = dial()
	w = fastWriter(c)
	s.Close()
	var werr error
	for range 100 { // the first writes may still be taken before the reset arrives
		if _, werr = w.Write([]byte("hello")); werr != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if werr == nil {
		t.Error("writes to a closed peer never failed")
	}
	c.Close()
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("write on a closed connection succeeded")
	}

	// Anything but a socket is written as it is.
	var buf bytes.Buffer
	if fastWriter(&buf) != io.Writer(&buf) {
		t.Error("fastWriter wrapped a buffer")
	}
}
