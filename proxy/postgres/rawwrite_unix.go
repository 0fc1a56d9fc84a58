//go:build unix

package postgres

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// fastWriter returns a writer for a TCP or Unix socket that writes with a
// raw system call, or w itself for anything else (TLS, test pipes).
//
// The proxy writes one small buffer per statement to each socket, and on
// loopback a write(2) does the receiver's network work too, so it often
// takes longer than the 20 µs after which Go's runtime hands the
// goroutine's processor to another thread: two thread switches per write,
// on a machine whose cores the database and its clients need. A raw write
// keeps the processor. The socket is non-blocking; when it is full the
// write waits for it through the runtime's poller, with the connection's
// deadlines, as net.Conn.Write does.
func fastWriter(w io.Writer) io.Writer {
	var sc syscall.Conn
	switch c := w.(type) {
	case *net.TCPConn:
		sc = c
	case *net.UnixConn:
		sc = c
	default:
		return w
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return w
	}
	rw := &rawWriter{rc: rc}
	rw.fn = rw.write
	return rw
}

// rawWriter keeps the state of the write in progress in itself, so that a
// write allocates nothing.
type rawWriter struct {
	rc syscall.RawConn
	fn func(fd uintptr) bool // rw.write, bound once

	mu  sync.Mutex
	p   []byte
	n   int
	err error
}

func (w *rawWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.p, w.n, w.err = p, 0, nil
	err := w.rc.Write(w.fn)
	n, werr := w.n, w.err
	w.p, w.err = nil, nil
	if werr != nil {
		return n, werr
	}
	return n, err
}

// write is called by the RawConn with the socket; false asks it to wait
// until the socket takes more.
func (w *rawWriter) write(fd uintptr) bool {
	for w.n < len(w.p) {
		m, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&w.p[w.n])), uintptr(len(w.p)-w.n))
		switch errno {
		case 0:
			w.n += int(m)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			w.err = os.NewSyscallError("write", errno)
			return true
		}
	}
	return true
}
