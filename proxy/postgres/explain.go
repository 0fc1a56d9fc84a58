package postgres

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Why a message pgproto3 could not decode is malformed, for the client's
// 08P01 error: a walk over the message's fields as the protocol lays them
// out, naming the field that does not fit. The words describe the
// message's shape (types, counts, offsets), never what it carries: a
// password message is a secret.

// fields walks a message body.
type fields struct {
	name string // the message, for the error
	b    []byte
	off  int
	err  *wireError
}

func (f *fields) fail(format string, args ...any) bool {
	if f.err == nil {
		f.err = violation("invalid %s message: "+format, append([]any{f.name}, args...)...)
	}
	return false
}

// cstring skips a NUL-terminated string.
func (f *fields) cstring(what string) bool {
	if f.err != nil {
		return false
	}
	i := bytes.IndexByte(f.b[f.off:], 0)
	if i < 0 {
		return f.fail("its %s (at byte %d) has no terminating NUL byte", what, f.off)
	}
	f.off += i + 1
	return true
}

// count reads a 16-bit count.
func (f *fields) count(what string) (int, bool) {
	if f.err != nil {
		return 0, false
	}
	if len(f.b)-f.off < 2 {
		return 0, f.fail("its body ends before its %s", what)
	}
	n := int(binary.BigEndian.Uint16(f.b[f.off:]))
	f.off += 2
	return n, true
}

// array skips n items of size bytes each.
func (f *fields) array(n, size int, what string) bool {
	if f.err != nil {
		return false
	}
	if left := len(f.b) - f.off; left < n*size {
		return f.fail("it claims %d %s (%d bytes) but only %d bytes follow", n, what, n*size, left)
	}
	f.off += n * size
	return true
}

// values skips n length-prefixed values (-1: NULL).
func (f *fields) values(n int, what string) bool {
	for i := range n {
		if f.err != nil {
			return false
		}
		if len(f.b)-f.off < 4 {
			return f.fail("it claims %d %s but its body ends after %d of them", n, what, i)
		}
		l := int64(int32(binary.BigEndian.Uint32(f.b[f.off:])))
		f.off += 4
		switch {
		case l == -1:
		case l < 0:
			return f.fail("%s %d has length %d", what, i+1, l)
		case int64(len(f.b)-f.off) < l:
			return f.fail("%s %d claims %d bytes but only %d follow", what, i+1, l, len(f.b)-f.off)
		default:
			f.off += int(l)
		}
	}
	return f.err == nil
}

// end requires the body to be over.
func (f *fields) end() bool {
	if f.err == nil && f.off != len(f.b) {
		return f.fail("%d bytes follow its last field", len(f.b)-f.off)
	}
	return f.err == nil
}

// explainMessage says what is wrong with a typed message body pgproto3
// refused.
func explainMessage(t byte, body []byte) *wireError {
	name := messageName(t)
	f := &fields{name: name, b: body}
	switch t {
	case 'Q':
		switch i := bytes.IndexByte(body, 0); {
		case i < 0:
			f.fail("its text has no terminating NUL byte")
		case i < len(body)-1:
			f.fail("its text contains a NUL byte (at byte %d of %d): SQL text cannot contain NUL", i, len(body)-1)
		}
	case 'P':
		f.cstring("statement name")
		f.cstring("query text")
		if n, ok := f.count("parameter type count"); ok {
			f.array(n, 4, "parameter types")
		}
	case 'B':
		f.cstring("portal name")
		f.cstring("statement name")
		if n, ok := f.count("parameter format count"); ok {
			f.array(n, 2, "parameter formats")
		}
		if n, ok := f.count("parameter count"); ok {
			f.values(n, "parameter values")
		}
		if n, ok := f.count("result format count"); ok {
			f.array(n, 2, "result formats")
		}
	case 'D', 'C':
		if len(body) < 2 {
			f.fail("its body is %d bytes: a type byte and a name are expected", len(body))
		} else if i := bytes.IndexByte(body[1:], 0); i != len(body)-2 {
			f.fail("its name is not one NUL-terminated string")
		}
	case 'E':
		f.cstring("portal name")
		f.array(1, 4, "row limit")
		f.end()
	case 'S', 'H', 'X', 'c':
		f.fail("its body is %d bytes; it has none", len(body))
	case 'f':
		f.cstring("error message")
	case 'p':
		f.fail("its body (%d bytes) is not laid out as the authentication exchange expects", len(body))
	}
	if f.err != nil {
		return f.err
	}
	return violation("invalid %s message (%d bytes)", name, len(body))
}

// explainStartup says what is wrong with a startup packet body pgproto3
// refused (its length was checked when it was framed).
func explainStartup(body []byte) *wireError {
	code := binary.BigEndian.Uint32(body)
	switch code {
	case pgproto3.ProtocolVersion30, pgproto3.ProtocolVersion32:
	case 80877103, 80877102, 80877104: // SSLRequest, CancelRequest, GSSENCRequest
		return violation("invalid length of startup packet: %d bytes for request code %d", len(body)+4, code)
	default:
		return &wireError{code: "0A000", msg: fmt.Sprintf("unsupported frontend protocol %d.%d: Warden supports 3.0 and 3.2", code>>16, code&0xffff)}
	}
	f := &fields{name: "startup", b: body, off: 4}
	for f.err == nil && len(body)-f.off > 1 {
		f.cstring("parameter name")
		f.cstring("parameter value")
	}
	if f.err == nil && (f.off != len(body)-1 || body[f.off] != 0) {
		return violation("invalid startup packet layout: expected terminator as last byte")
	}
	if f.err != nil {
		return f.err
	}
	return violation("invalid startup packet (%d bytes)", len(body)+4)
}
