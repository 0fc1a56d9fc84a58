package postgres

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// chunked yields its data n bytes per Read, then err (io.EOF when nil),
// and counts its reads.
type chunked struct {
	data  []byte
	n     int
	err   error
	reads int
}

func (c *chunked) Read(p []byte) (int, error) {
	c.reads++
	if len(c.data) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		return 0, io.EOF
	}
	k := min(len(p), c.n, len(c.data))
	copy(p, c.data[:k])
	c.data = c.data[k:]
	return k, nil
}

func encode(t testing.TB, msgs ...pgproto3.FrontendMessage) []byte {
	t.Helper()
	var b []byte
	for _, m := range msgs {
		var err error
		if b, err = m.Encode(b); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// typedReader is a msgReader past the startup phase, logged in, with a
// limit of limit bytes.
func typedReader(src io.Reader, limit int) (*msgReader, *pgproto3.Backend) {
	m := newMsgReader(src)
	m.typed()
	m.setLimit(limit, "proxy.postgres.max_message_bytes")
	return m, pgproto3.NewBackend(m, io.Discard)
}

// receiveAll decodes messages until an error and returns them encoded
// again (pgproto3 reuses its message values) with that error.
func receiveAll(t testing.TB, be *pgproto3.Backend) ([]byte, error) {
	var out []byte
	for {
		msg, err := be.Receive()
		if err != nil {
			return out, err
		}
		if out, err = msg.Encode(out); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMsgReaderFraming: whatever the size of the connection's reads, the
// Backend decodes exactly the messages sent, and one read of the
// connection serves every message it brought.
func TestMsgReaderFraming(t *testing.T) {
	long := strings.Repeat("x", 100_000)
	stream := encode(t,
		&pgproto3.Query{String: "SELECT 1"},
		&pgproto3.Parse{Name: "s1", Query: "SELECT $1::text", ParameterOIDs: []uint32{25}},
		&pgproto3.Bind{PreparedStatement: "s1", Parameters: [][]byte{[]byte(long), nil}, ResultFormatCodes: []int16{0}},
		&pgproto3.Describe{ObjectType: 'P'},
		&pgproto3.Execute{MaxRows: 10},
		&pgproto3.Sync{},
		&pgproto3.Query{String: "SELECT '" + long + "'"},
		&pgproto3.Terminate{},
	)
	for _, n := range []int{1, 3, 5, 100, 8192, 10_000, len(stream)} {
		src := &chunked{data: stream, n: n}
		_, be := typedReader(src, 1<<20)
		got, err := receiveAll(t, be)
		if !errors.Is(err, io.ErrUnexpectedEOF) || !bytes.Equal(got, stream) {
			t.Fatalf("reads of %d bytes: err %v, %d bytes decoded of %d", n, err, len(got), len(stream))
		}
	}

	small := encode(t, &pgproto3.Bind{PreparedStatement: "s1", Parameters: [][]byte{[]byte("42")}},
		&pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{}, &pgproto3.Sync{})
	src := &chunked{data: small, n: len(small), err: errors.New("stop")}
	_, be := typedReader(src, 1<<20)
	for range 4 {
		if _, err := be.Receive(); err != nil {
			t.Fatal(err)
		}
	}
	if src.reads != 1 {
		t.Fatalf("four pipelined messages took %d reads of the connection", src.reads)
	}
}

// TestMsgReaderMemoryFollowsBytes: a header claiming a long message takes
// memory as the message's bytes come, not from its length field.
func TestMsgReaderMemoryFollowsBytes(t *testing.T) {
	const claimed, sent = 32 << 20, 100 << 10
	stream := []byte{'B', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(stream[1:], claimed+4)
	stream = append(stream, make([]byte, sent)...)
	stall := errors.New("stalled")
	src := &chunked{data: stream, n: 4096, err: stall}
	m, be := typedReader(src, 64<<20)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := be.Receive()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, stall) || m.violation(err) != nil {
		t.Fatalf("Receive: %v (violation %v)", err, m.violation(err))
	}
	if cap(m.buf) > 2*(sent+5) {
		t.Errorf("buffer of %d bytes for %d bytes received", cap(m.buf), sent+5)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("%d bytes allocated for %d bytes received of a %d-byte claim", alloc, sent, claimed)
	}
}

// TestMsgReaderRefusals: what the client is told, and that the messages
// before the bad one are decoded first.
func TestMsgReaderRefusals(t *testing.T) {
	good := encode(t, &pgproto3.Query{String: "SELECT 1"})
	header := func(typ byte, length uint32, body ...byte) []byte {
		b := []byte{typ, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(b[1:], length)
		return append(b, body...)
	}
	bind30000 := []byte{0, 0, 0, 0, 0x75, 0x30} // portal, statement, no formats, 30000 parameters
	bind30000 = append(bind30000, 0, 0, 0, 1, 'x')
	for name, tc := range map[string]struct {
		stream []byte
		code   string
		want   string
	}{
		"a 1 GiB claim":           {header('Q', 1<<30+4), "54000", "Query message of 1073741824 bytes refused: it is over this Warden's limit of 1048576 bytes (proxy.postgres.max_message_bytes)"},
		"a 4 GiB claim":           {header('B', 0xffffffff), "54000", "Bind message of 4294967291 bytes"},
		"shorter than its header": {header('Q', 3), "08P01", "invalid Query message length 3"},
		"an unknown type":         {header('Z', 4), "08P01", "invalid frontend message type 90"},
		"a long Sync":             {header('S', 20_004), "08P01", "a Sync message is at most 10000 bytes"},
		"a NUL in a Query":        {encode(t, &pgproto3.Query{String: "SELECT 1\x00; DROP TABLE t"}), "08P01", "invalid Query message: its text contains a NUL byte (at byte 8 of 23)"},
		"a Query without NUL":     {header('Q', 6, 'a', 'b'), "08P01", "its text has no terminating NUL byte"},
		"30,000 parameters":       {header('B', uint32(4+len(bind30000)), bind30000...), "08P01", "invalid Bind message: it claims 30000 parameter values but its body ends after 1 of them"},
		"a Sync with a body":      {header('S', 5, 0), "08P01", "invalid Sync message: its body is 1 bytes; it has none"},
		"a Describe without name": {header('D', 5, 'S'), "08P01", "invalid Describe message"},
		"an Execute cut short":    {header('E', 7, 0, 0, 0), "08P01", "invalid Execute message: it claims 1 row limit (4 bytes) but only 2 bytes follow"},
	} {
		t.Run(name, func(t *testing.T) {
			m, be := typedReader(&chunked{data: append(slicesClone(good), tc.stream...), n: 7}, 1<<20)
			msg, err := be.Receive()
			if q, ok := msg.(*pgproto3.Query); err != nil || !ok || q.String != "SELECT 1" {
				t.Fatalf("the message before: %v %v", msg, err)
			}
			_, err = be.Receive()
			we := m.violation(err)
			if we == nil || we.code != tc.code || !strings.Contains(we.msg, tc.want) {
				t.Fatalf("got %v (%v), want %s %q", we, err, tc.code, tc.want)
			}
		})
	}
	// The connection's own end is no violation.
	m, be := typedReader(&chunked{data: good[:3], n: 7}, 1<<20)
	if _, err := be.Receive(); m.violation(err) != nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a message cut by the end of the connection: %v, %v", err, m.violation(err))
	}
}

func slicesClone(b []byte) []byte { return append([]byte(nil), b...) }

// TestMsgReaderStartup: the startup phase has no type byte; a packet
// pgproto3 refuses is explained as PostgreSQL explains it.
func TestMsgReaderStartup(t *testing.T) {
	packet := func(body ...byte) []byte {
		b := make([]byte, 4, 4+len(body))
		binary.BigEndian.PutUint32(b, uint32(4+len(body)))
		return append(b, body...)
	}
	ssl := encode(t, &pgproto3.SSLRequest{})
	start := encode(t, &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "u"}})
	query := encode(t, &pgproto3.Query{String: "SELECT 1"})

	m := newMsgReader(&chunked{data: append(append(slicesClone(ssl), start...), query...), n: 1 << 20})
	be := pgproto3.NewBackend(m, io.Discard)
	if msg, err := be.ReceiveStartupMessage(); err != nil {
		t.Fatal(err)
	} else if _, ok := msg.(*pgproto3.SSLRequest); !ok || m.buffered() != len(start)+len(query) {
		t.Fatalf("%T, %d bytes buffered", msg, m.buffered())
	}
	if msg, err := be.ReceiveStartupMessage(); err != nil {
		t.Fatal(err)
	} else if sm, ok := msg.(*pgproto3.StartupMessage); !ok || sm.Parameters["user"] != "u" {
		t.Fatalf("%#v", msg)
	}
	m.typed()
	if msg, err := be.Receive(); err != nil {
		t.Fatal(err)
	} else if q, ok := msg.(*pgproto3.Query); !ok || q.String != "SELECT 1" {
		t.Fatalf("%#v", msg)
	}

	for name, tc := range map[string]struct {
		stream []byte
		code   string
		want   string
	}{
		"too long":             {[]byte{0, 1, 0, 0}, "08P01", "invalid length of startup packet: 65536 bytes"},
		"too short":            {[]byte{0, 0, 0, 2}, "08P01", "invalid length of startup packet: 2 bytes"},
		"negative":             {[]byte{0xff, 0xff, 0xff, 0xff}, "08P01", "invalid length of startup packet: -1 bytes"},
		"unsupported protocol": {packet(0, 2, 0, 0, 0), "0A000", "unsupported frontend protocol 2.0"},
		"no terminator":        {packet(0, 3, 0, 0, 'u', 's', 'e', 'r', 0, 'u', 0), "08P01", "invalid startup packet layout: expected terminator as last byte"},
		"a name without value": {packet(0, 3, 0, 0, 'u', 's', 'e', 'r', 0, 0), "08P01", "invalid startup packet layout: expected terminator as last byte"},
		"a short SSLRequest":   {packet(0x04, 0xd2, 0x16, 0x2f, 0), "08P01", "invalid length of startup packet"},
	} {
		t.Run(name, func(t *testing.T) {
			m := newMsgReader(&chunked{data: tc.stream, n: 3})
			_, err := pgproto3.NewBackend(m, io.Discard).ReceiveStartupMessage()
			we := m.violation(err)
			if we == nil || we.code != tc.code || !strings.Contains(we.msg, tc.want) {
				t.Fatalf("got %v (%v), want %s %q", we, err, tc.code, tc.want)
			}
		})
	}
}

// batches yields one batch per Read, as a socket gives a client's
// pipelined messages, forever.
type batches struct{ batch []byte }

func (b *batches) Read(p []byte) (int, error) { return copy(p, b.batch), nil }

// BenchmarkReceive is the cost of receiving pgbench's prepared
// transaction (Bind, Describe, Execute, Sync in one packet) with pgproto3
// alone and through msgReader: what the reader adds per transaction.
func BenchmarkReceive(b *testing.B) {
	batch := encode(b, &pgproto3.Bind{PreparedStatement: "P_1", ParameterFormatCodes: []int16{1},
		Parameters: [][]byte{{0, 0, 0, 42}}, ResultFormatCodes: []int16{1}},
		&pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{}, &pgproto3.Sync{})
	for _, tc := range []struct {
		name string
		be   func() *pgproto3.Backend
	}{
		{"pgproto3", func() *pgproto3.Backend { return pgproto3.NewBackend(&batches{batch}, io.Discard) }},
		{"msgReader", func() *pgproto3.Backend { _, be := typedReader(&batches{batch}, 1<<20); return be }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			be := tc.be()
			b.ReportAllocs()
			for b.Loop() {
				for range 4 {
					if _, err := be.Receive(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
