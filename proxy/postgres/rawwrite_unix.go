//go:build unix

package postgres

import (
	"io"
	"net"
	"os"
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
	return &rawWriter{rc: rc}
}

type rawWriter struct {
	rc syscall.RawConn
}

func (w *rawWriter) Write(p []byte) (int, error) {
	n := 0
	var werr error
	err := w.rc.Write(func(fd uintptr) bool {
		for n < len(p) {
			m, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[n])), uintptr(len(p)-n))
			switch errno {
			case 0:
				n += int(m)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false // wait until the socket takes more
			default:
				werr = os.NewSyscallError("write", errno)
				return true
			}
		}
		return true
	})
	if werr != nil {
		return n, werr
	}
	return n, err
}
