package kubernetes

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/spdystream/spdy"
	"github.com/wardenhq/warden/recording"
)

// Recording is one exec or attach stream's recording as the proxy writes
// it: the container's output (stdout and stderr, as the client got them),
// the client's input, terminal resizes and the exit status.
type Recording = recording.Writer

// RecordingStart is what a recording's header says.
type RecordingStart struct {
	// ID is the audit event of the exec or attach operation.
	ID      string
	Command string // empty for attach
	TTY     bool
	Time    time.Time
}

// The channels of Kubernetes' streaming protocols over WebSocket
// (v4/v5.channel.k8s.io): each binary message's first byte says which
// stream the rest belongs to.
const (
	chanStdin  = 0
	chanStdout = 1
	chanStderr = 2
	chanError  = 3
	chanResize = 4
	chanClose  = 255 // v5: the other side closed the stream numbered next
)

// maxRecordedFrame bounds one WebSocket frame the recorder reads whole;
// kubectl's are 32 KiB at most. A larger one ends the stream, so that no
// frame gets through unrecorded.
const maxRecordedFrame = 4 << 20

var (
	errFrameTooLarge = errors.New("a WebSocket frame larger than Warden records")
	errExtension     = errors.New("a WebSocket frame of an extension Warden cannot record")
)

// isRecordable reports whether r asks to upgrade to a protocol whose
// exec/attach stream Warden can record: WebSocket or SPDY/3.1.
func isRecordable(r *http.Request) bool {
	u := r.Header.Get("Upgrade")
	return strings.EqualFold(u, "websocket") || strings.EqualFold(u, "SPDY/3.1")
}

// execCommand is the command an exec request runs, for the recording's
// header.
func execCommand(r *http.Request) string {
	return strings.Join(r.URL.Query()["command"], " ")
}

// wsFrames reads a WebSocket byte stream, one direction of it, as it
// passes, and hands on each complete data message.
type wsFrames struct {
	buf       []byte
	msg       []byte
	inMessage bool
	onMessage func(msg []byte)
}

// feed takes the next bytes of the stream.
func (f *wsFrames) feed(p []byte) error {
	f.buf = append(f.buf, p...)
	for {
		b := f.buf
		if len(b) < 2 {
			return nil
		}
		if b[0]&0x70 != 0 {
			// A reserved bit: an extension (compression) Warden did not
			// let through, whose frames it could not read.
			return errExtension
		}
		fin, op := b[0]&0x80 != 0, b[0]&0x0f
		masked, n, hdr := b[1]&0x80 != 0, uint64(b[1]&0x7f), 2
		switch n {
		case 126:
			if len(b) < 4 {
				return nil
			}
			n, hdr = uint64(binary.BigEndian.Uint16(b[2:4])), 4
		case 127:
			if len(b) < 10 {
				return nil
			}
			n, hdr = binary.BigEndian.Uint64(b[2:10]), 10
		}
		if n > maxRecordedFrame {
			return errFrameTooLarge
		}
		var key []byte
		if masked {
			if len(b) < hdr+4 {
				return nil
			}
			key, hdr = b[hdr:hdr+4], hdr+4
		}
		if uint64(len(b)-hdr) < n {
			return nil
		}
		payload := b[hdr : hdr+int(n)]
		if masked {
			for i := range payload {
				payload[i] ^= key[i%4]
			}
		}
		f.buf = b[hdr+int(n):]
		switch {
		case op >= 8: // close, ping, pong: not a stream's data
		case op == 0 && f.inMessage, op == 1 || op == 2:
			if op != 0 {
				f.msg = f.msg[:0]
			}
			f.msg = append(f.msg, payload...)
			f.inMessage = !fin
			if len(f.msg) > maxRecordedFrame {
				return errFrameTooLarge
			}
			if fin {
				f.onMessage(f.msg)
			}
		}
		if len(f.buf) == 0 {
			f.buf = f.buf[:0:0]
		}
	}
}

// frameReader reads one direction of an upgraded stream as it passes.
type frameReader interface {
	feed(p []byte) error
}

// recordedStream is an upgraded exec or attach stream to the API server
// whose both directions are read, as they pass, into a recording: what
// the server sends (stdout, stderr, the exit status) and what the client
// sends (stdin, resizes). The bytes pass unchanged; a frame the recorder
// cannot read ends the stream.
type recordedStream struct {
	io.ReadWriteCloser
	rec      Recording
	mu       sync.Mutex // the two directions are copied by two goroutines
	down, up frameReader
	end      func() // what the recorder holds when the stream ends
}

// newRecordedStream reads rwc as protocol says, the Upgrade the API
// server answered with: WebSocket (v4/v5.channel.k8s.io) or SPDY/3.1.
func newRecordedStream(rwc io.ReadWriteCloser, rec Recording, protocol string) (*recordedStream, error) {
	s := &recordedStream{ReadWriteCloser: rwc, rec: rec, end: func() {}}
	switch {
	case strings.EqualFold(protocol, "websocket"):
		s.down = &wsFrames{onMessage: s.fromServer}
		s.up = &wsFrames{onMessage: s.fromClient}
	case strings.EqualFold(protocol, "SPDY/3.1"):
		e := newSPDYExec(rec)
		s.down = newSPDYFrames(func(fr spdy.Frame) error { return e.frame(fr, true) })
		s.up = newSPDYFrames(func(fr spdy.Frame) error { return e.frame(fr, false) })
		s.end = e.end
	default:
		return nil, fmt.Errorf("the API server switched to %q, a protocol Warden cannot record", protocol)
	}
	return s, nil
}

// Read is the server's side: recorded, then passed to the client.
func (s *recordedStream) Read(p []byte) (int, error) {
	n, err := s.ReadWriteCloser.Read(p)
	if n > 0 {
		s.mu.Lock()
		ferr := s.down.feed(p[:n])
		s.mu.Unlock()
		if ferr != nil {
			s.ReadWriteCloser.Close()
			return 0, ferr
		}
	}
	return n, err
}

// Write is the client's side: recorded, then passed to the server.
func (s *recordedStream) Write(p []byte) (int, error) {
	s.mu.Lock()
	ferr := s.up.feed(p)
	s.mu.Unlock()
	if ferr != nil {
		s.ReadWriteCloser.Close()
		return 0, ferr
	}
	return s.ReadWriteCloser.Write(p)
}

// Close ends the stream and what its recording was waiting for.
func (s *recordedStream) Close() error {
	s.mu.Lock()
	s.end()
	s.end = func() {}
	s.mu.Unlock()
	return s.ReadWriteCloser.Close()
}

func (s *recordedStream) fromServer(msg []byte) {
	if len(msg) == 0 {
		return
	}
	switch msg[0] {
	case chanStdout, chanStderr:
		s.rec.Output(msg[1:])
	case chanError:
		s.rec.Exit(exitStatus(msg[1:]))
	}
}

func (s *recordedStream) fromClient(msg []byte) {
	if len(msg) == 0 {
		return
	}
	switch msg[0] {
	case chanStdin:
		s.rec.Input(msg[1:])
	case chanResize:
		var size struct{ Width, Height int }
		if json.Unmarshal(msg[1:], &size) == nil && size.Width > 0 && size.Height > 0 {
			s.rec.Resize(size.Width, size.Height)
		}
	}
}

// exitStatus reads the exit status from the error channel's Status: 0
// for Success, the ExitCode cause of a NonZeroExitCode failure, else 1.
func exitStatus(b []byte) int {
	var st struct {
		Status  string
		Reason  string
		Details struct {
			Causes []struct{ Reason, Message string }
		}
	}
	if json.Unmarshal(b, &st) != nil {
		return 1
	}
	if st.Status == "Success" {
		return 0
	}
	for _, c := range st.Details.Causes {
		if c.Reason == "ExitCode" {
			if n, err := strconv.Atoi(c.Message); err == nil {
				return n
			}
		}
	}
	return 1
}
