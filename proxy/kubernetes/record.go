package kubernetes

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

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

// isWebSocket reports whether r asks to upgrade to WebSocket, the only
// exec/attach transport whose stream Warden can record (SPDY is not).
func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
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

// recordedStream is an upgraded exec or attach stream to the API server
// whose both directions are read, as they pass, into a recording: what
// the server sends (stdout, stderr, the exit status) and what the client
// sends (stdin, resizes). The bytes pass unchanged.
type recordedStream struct {
	io.ReadWriteCloser
	rec        Recording
	mu         sync.Mutex // the two directions are copied by two goroutines
	down, up   wsFrames
	downBroken error
	upBroken   error
}

func newRecordedStream(rwc io.ReadWriteCloser, rec Recording) *recordedStream {
	s := &recordedStream{ReadWriteCloser: rwc, rec: rec}
	s.down.onMessage = s.fromServer
	s.up.onMessage = s.fromClient
	return s
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
