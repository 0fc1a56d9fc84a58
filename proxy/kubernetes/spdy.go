package kubernetes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/moby/spdystream/spdy"
	corev1 "k8s.io/api/core/v1"
)

// Exec and attach over SPDY/3.1, the transport kubectl falls back to when
// the WebSocket upgrade fails (and the one kubectl before 1.30 speaks):
// the client opens one SPDY stream per channel, naming it in the
// streamType header of its SYN_STREAM, and each DATA frame belongs to one
// stream. Headers are zlib-compressed with one context per direction, so
// every frame of a direction is read, in order, by one spdy.Framer.

// spdyHeaderBytes is a SPDY frame's fixed header: 4 bytes (control bit,
// version and type, or the stream ID), a flags byte and a 24-bit length.
const spdyHeaderBytes = 8

// maxRecordedHeaders bounds a control frame's decompressed header
// fields: kubectl's are a handful of short ones.
const maxRecordedHeaders = 64 << 10

var errUnknownStream = errors.New("a SPDY stream Warden did not see opened, or of a type exec does not use")

// spdyFrames reads one direction of a SPDY byte stream as it passes and
// hands on each frame once it has come whole.
type spdyFrames struct {
	buf     []byte
	src     frameSource
	framer  *spdy.Framer
	onFrame func(spdy.Frame) error
}

func newSPDYFrames(onFrame func(spdy.Frame) error) *spdyFrames {
	f := &spdyFrames{onFrame: onFrame}
	// The framer only reads (the recorder writes nothing), from whole
	// frames the feed has split off.
	f.framer, _ = spdy.NewFramerWithOptions(io.Discard, &f.src,
		spdy.WithMaxControlFramePayloadSize(maxRecordedFrame),
		spdy.WithMaxHeaderFieldSize(maxRecordedHeaders), spdy.WithMaxHeaderCount(64))
	return f
}

// feed takes the next bytes of the stream.
func (f *spdyFrames) feed(p []byte) error {
	f.buf = append(f.buf, p...)
	for len(f.buf) >= spdyHeaderBytes {
		n := spdyHeaderBytes + (int(f.buf[5])<<16 | int(f.buf[6])<<8 | int(f.buf[7]))
		if n > maxRecordedFrame {
			return errFrameTooLarge
		}
		if len(f.buf) < n {
			return nil
		}
		f.src.b = f.buf[:n]
		fr, err := f.framer.ReadFrame()
		if err == nil && len(f.src.b) > 0 {
			err = errors.New("its length and its content disagree")
		}
		if err != nil {
			return fmt.Errorf("a SPDY frame Warden cannot read: %w", err)
		}
		if err := f.onFrame(fr); err != nil {
			return err
		}
		f.buf = f.buf[n:]
	}
	if len(f.buf) == 0 {
		f.buf = f.buf[:0:0]
	}
	return nil
}

// frameSource is the framer's input: the one whole frame being read.
type frameSource struct{ b []byte }

func (s *frameSource) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

// spdyExec is an exec or attach session's streams as the recorder knows
// them: each stream's type from its SYN_STREAM, and what the error and
// resize streams have carried so far.
type spdyExec struct {
	rec       Recording
	streams   map[spdy.StreamId]string
	errStatus []byte
	exited    bool
	resize    []byte
}

func newSPDYExec(rec Recording) *spdyExec {
	return &spdyExec{rec: rec, streams: map[spdy.StreamId]string{}}
}

// frame records one frame; fromServer says which direction it came. An
// error ends the stream.
func (e *spdyExec) frame(fr spdy.Frame, fromServer bool) error {
	switch fr := fr.(type) {
	case *spdy.SynStreamFrame:
		switch typ := fr.Headers.Get(corev1.StreamType); typ {
		case corev1.StreamTypeStdin, corev1.StreamTypeStdout, corev1.StreamTypeStderr, corev1.StreamTypeError, corev1.StreamTypeResize:
			if _, dup := e.streams[fr.StreamId]; dup {
				return errUnknownStream
			}
			e.streams[fr.StreamId] = typ
		default:
			return errUnknownStream
		}
	case *spdy.DataFrame:
		typ, ok := e.streams[fr.StreamId]
		if !ok {
			return errUnknownStream
		}
		fin := fr.Flags&spdy.DataFlagFin != 0
		switch {
		case fromServer && (typ == corev1.StreamTypeStdout || typ == corev1.StreamTypeStderr):
			if len(fr.Data) > 0 {
				e.rec.Output(fr.Data)
			}
		case fromServer && typ == corev1.StreamTypeError:
			e.errStatus = append(e.errStatus, fr.Data...)
			if len(e.errStatus) > maxRecordedFrame {
				return errFrameTooLarge
			}
			if fin {
				e.exit()
			}
		case !fromServer && typ == corev1.StreamTypeStdin:
			if len(fr.Data) > 0 {
				e.rec.Input(fr.Data)
			}
		case !fromServer && typ == corev1.StreamTypeResize:
			e.resize = append(e.resize, fr.Data...)
			if len(e.resize) > maxRecordedFrame {
				return errFrameTooLarge
			}
			// One JSON object per line (client-go's resize stream).
			for {
				i := bytes.IndexByte(e.resize, '\n')
				if i < 0 {
					break
				}
				var size struct{ Width, Height int }
				if json.Unmarshal(e.resize[:i], &size) == nil && size.Width > 0 && size.Height > 0 {
					e.rec.Resize(size.Width, size.Height)
				}
				e.resize = e.resize[i+1:]
			}
		case len(fr.Data) > 0:
			// Data the other way round on a channel (stdin from the
			// server, output from the client): not what exec carries.
			return fmt.Errorf("%w: %s data from the %s", errUnknownStream, typ, map[bool]string{true: "server", false: "client"}[fromServer])
		}
	case *spdy.RstStreamFrame:
		// The server ends the error stream with a reset once it has
		// sent the status (client-go reads it to that end).
		if e.streams[fr.StreamId] == corev1.StreamTypeError {
			e.end()
		}
	case *spdy.GoAwayFrame:
		e.end()
	}
	// SYN_REPLY, SETTINGS, PING, HEADERS and WINDOW_UPDATE carry no data
	// of the session's.
	return nil
}

// exit records the exit status the error stream carried, once: a Status
// (v4 and later), or text (older protocols, a failure). An error stream
// that closed empty is success.
func (e *spdyExec) exit() {
	if e.exited {
		return
	}
	e.exited = true
	if len(bytes.TrimSpace(e.errStatus)) == 0 {
		e.rec.Exit(0)
		return
	}
	e.rec.Exit(exitStatus(e.errStatus))
}

// end records what the error stream carried once it, or the whole
// connection, has ended without a FIN.
func (e *spdyExec) end() {
	if !e.exited && len(e.errStatus) > 0 {
		e.exit()
	}
}
