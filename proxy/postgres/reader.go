package postgres

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// msgReader is what a client's pgproto3.Backend reads from: it frames the
// client's messages itself and hands the Backend one whole message per
// Read, so that
//
//   - memory for a message is taken as its bytes arrive: pgproto3's reader
//     allocates a message's body from its length field before any of it
//     has come; here the Backend only ever asks for a message that is
//     already here, whole, in a buffer that grew (doubling, never past the
//     message's length) with the bytes the client actually sent;
//   - a message longer than the limit, a length shorter than its own
//     header, an unknown message type or a bad startup packet is refused
//     from its header, before its body is waited for;
//   - the message pgproto3 could not decode is known, to tell the client
//     what was wrong with it (violation).
//
// One read of the connection still serves every message it brought: a
// client's pipelined Bind, Describe, Execute and Sync cost one system call.
//
// The startup phase (SSLRequest, StartupMessage, ...: a length and a body,
// no type byte) is framed until typed is called.
type msgReader struct {
	src io.Reader
	buf []byte
	// buf[r:w] is read from src and not yet handed on; buf[r:end] is the
	// rest of the message being handed on.
	r, w, end int
	// frame is the whole message last handed on (header included), until
	// the next one starts.
	frame []byte

	startup bool
	// limit is the longest message body taken; limitName says where it
	// comes from, for the error.
	limit     int
	limitName string

	// err is src's read error, once it came; readFailed says a Read
	// returned it (as opposed to a message pgproto3 could not decode).
	err        error
	readFailed bool
}

const (
	// readBufSize is the reader's buffer while messages are small (as
	// pgproto3's own).
	readBufSize = 8192
	// maxStartupBody is the longest startup packet body, as PostgreSQL's
	// MAX_STARTUP_PACKET_LENGTH and pgproto3's bound.
	maxStartupBody = 10000
	// authMessageLimit bounds a message before the client has logged in
	// (a password, a SASL response), as PostgreSQL's
	// PG_MAX_AUTH_TOKEN_LENGTH: an access token is far shorter.
	authMessageLimit = 65535
	// smallMessageLimit bounds the messages that carry no SQL and no
	// values (Describe, Close, Execute, Sync, ...), as PostgreSQL's
	// PQ_SMALL_MESSAGE_LIMIT.
	smallMessageLimit = 10000
)

// newMsgReader reads the startup phase of a client from src; messages
// after it are bounded by authMessageLimit until setLimit.
func newMsgReader(src io.Reader) *msgReader {
	return &msgReader{src: src, buf: make([]byte, readBufSize), startup: true,
		limit: authMessageLimit, limitName: "before login"}
}

// typed ends the startup phase: the messages that follow start with a type.
func (m *msgReader) typed() { m.startup = false }

// setLimit bounds the body of the messages that follow.
func (m *msgReader) setLimit(n int, name string) { m.limit, m.limitName = n, name }

// buffered is how many bytes were read past the message last handed on.
func (m *msgReader) buffered() int { return m.w - m.end }

// Read hands on the rest of the current message, or the next one whole
// once it has arrived.
func (m *msgReader) Read(p []byte) (int, error) {
	if m.r == m.end {
		if err := m.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, m.buf[m.r:m.end])
	m.r += n
	return n, nil
}

// next reads until the next message is here whole.
func (m *msgReader) next() error {
	m.frame = nil
	if m.r == m.w {
		m.r, m.w, m.end = 0, 0, 0
		if len(m.buf) > readBufSize {
			m.buf = make([]byte, readBufSize) // a long message is gone
		}
	}
	for {
		size, err := m.frameSize()
		if err != nil {
			return err
		}
		if size > 0 && m.w-m.r >= size {
			m.end = m.r + size
			m.frame = m.buf[m.r:m.end]
			return nil
		}
		if m.err != nil {
			m.readFailed = true
			if m.err == io.EOF && m.w > m.r {
				return io.ErrUnexpectedEOF
			}
			return m.err
		}
		m.makeRoom(size)
		n, err := m.src.Read(m.buf[m.w:])
		m.w += n
		if err != nil {
			m.err = err
		}
	}
}

// makeRoom makes room in buf for more of a message of size bytes (0: its
// header has not all come).
func (m *msgReader) makeRoom(size int) {
	if m.r > 0 {
		// What is left is the start of one message: move it to the front.
		m.w = copy(m.buf, m.buf[m.r:m.w])
		m.r, m.end = 0, 0
	}
	if m.w < len(m.buf) {
		return
	}
	// The buffer holds part of one message and nothing else: twice the
	// bytes that came, never more than the message.
	b := make([]byte, min(2*len(m.buf), size))
	m.w = copy(b, m.buf[:m.w])
	m.buf = b
}

// frameSize is the whole length of the message at buf[r:], header
// included, once its header is here (0 before); a header that cannot
// start a valid message is a *wireError.
func (m *msgReader) frameSize() (int, error) {
	b := m.buf[m.r:m.w]
	if m.startup {
		if len(b) < 4 {
			return 0, nil
		}
		n := binary.BigEndian.Uint32(b)
		if n < 8 || n-4 > maxStartupBody {
			return 0, violation("invalid length of startup packet: %d bytes (8 to %d)", int64(int32(n)), maxStartupBody+4)
		}
		return int(n), nil
	}
	if len(b) < 5 {
		return 0, nil
	}
	name := messageName(b[0])
	if name == "" {
		return 0, violation("invalid frontend message type %d", b[0])
	}
	n := binary.BigEndian.Uint32(b[1:])
	if n < 4 {
		return 0, violation("invalid %s message length %d: a length counts its own 4 bytes", name, n)
	}
	body := int64(n) - 4
	switch {
	case body > int64(m.limit):
		return 0, &wireError{code: "54000", msg: fmt.Sprintf("%s message of %d bytes refused: it is over this Warden's limit of %d bytes (%s)",
			name, body, m.limit, m.limitName)}
	case body > smallMessageLimit && !largeMessage(b[0]):
		return 0, violation("invalid %s message length %d: a %s message is at most %d bytes", name, n, name, smallMessageLimit)
	}
	return int(n) + 1, nil
}

// largeMessage reports whether a message of type t carries SQL or values,
// and may be longer than smallMessageLimit.
func largeMessage(t byte) bool {
	switch t {
	case 'Q', 'P', 'B', 'F', 'd', 'f', 'p':
		return true
	}
	return false
}

// messageName names the frontend message types pgproto3 decodes ("" for
// any other byte).
func messageName(t byte) string {
	switch t {
	case 'B':
		return "Bind"
	case 'C':
		return "Close"
	case 'D':
		return "Describe"
	case 'E':
		return "Execute"
	case 'F':
		return "FunctionCall"
	case 'H':
		return "Flush"
	case 'P':
		return "Parse"
	case 'Q':
		return "Query"
	case 'S':
		return "Sync"
	case 'X':
		return "Terminate"
	case 'd':
		return "CopyData"
	case 'c':
		return "CopyDone"
	case 'f':
		return "CopyFail"
	case 'p':
		return "password"
	}
	return ""
}

// wireError is a client's protocol violation or a message over a limit,
// answered as PostgreSQL answers it: a FATAL error, then the connection
// is closed. Its text describes the message's shape, never its content.
type wireError struct{ code, msg string }

func (e *wireError) Error() string { return e.msg }

func violation(format string, args ...any) *wireError {
	return &wireError{code: "08P01", msg: fmt.Sprintf(format, args...)}
}

// violation returns what to tell the client about err, an error of a
// Backend reading from m: the limit or violation m refused, or why
// pgproto3 could not decode the message last handed on. It returns nil
// when err is the connection's (the client went away, a deadline).
func (m *msgReader) violation(err error) *wireError {
	var we *wireError
	if errors.As(err, &we) {
		return we
	}
	if m.readFailed || m.frame == nil {
		return nil
	}
	if m.startup {
		return explainStartup(m.frame[4:])
	}
	return explainMessage(m.frame[0], m.frame[5:])
}
