package kubernetes

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/moby/spdystream/spdy"
)

// TestFramesRefuseOversize: a frame (or a message of fragments) larger
// than the recorder reads whole ends the stream rather than pass
// unrecorded.
func TestFramesRefuseOversize(t *testing.T) {
	f := wsFrames{onMessage: func([]byte) {}}
	hdr := []byte{0x82, 127, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff} // binary, 2 GiB
	if err := f.feed(hdr); !errors.Is(err, errFrameTooLarge) {
		t.Fatalf("a 2 GiB frame: %v", err)
	}
	// Fragments: each small, together too large.
	f = wsFrames{onMessage: func([]byte) {}}
	frag := make([]byte, 1<<16)
	for i := 0; ; i++ {
		op := byte(0x00)
		if i == 0 {
			op = 0x02
		}
		err := f.feed(append([]byte{op, 127, 0, 0, 0, 0, 0, 1, 0, 0}, frag...))
		if errors.Is(err, errFrameTooLarge) {
			break
		}
		if err != nil || i > maxRecordedFrame/len(frag)+1 {
			t.Fatalf("fragment %d: %v", i, err)
		}
	}
	// A compressed (RSV1) frame cannot be read: the stream ends.
	f = wsFrames{onMessage: func([]byte) {}}
	if err := f.feed([]byte{0xc2, 1, 'x'}); !errors.Is(err, errExtension) {
		t.Fatalf("a compressed frame: %v", err)
	}
	// Split anywhere, a message is whole once: masked client frames, a
	// ping between fragments.
	var got []string
	f = wsFrames{onMessage: func(m []byte) { got = append(got, string(m)) }}
	key := []byte{1, 2, 3, 4}
	mask := func(p string) []byte {
		b := []byte(p)
		for i := range b {
			b[i] ^= key[i%4]
		}
		return b
	}
	var stream []byte
	stream = append(stream, append([]byte{0x02, 0x80 | 3}, append(key, mask("\x00ab")...)...)...)
	stream = append(stream, 0x89, 0x80, 9, 9, 9, 9) // ping, empty, masked
	stream = append(stream, append([]byte{0x80, 0x80 | 2}, append(key, mask("cd")...)...)...)
	for _, b := range stream {
		if err := f.feed([]byte{b}); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 1 || got[0] != "\x00abcd" {
		t.Fatalf("messages: %q", got)
	}
}

// calls is what a recorder was given.
type calls struct {
	out, in strings.Builder
	resizes [][2]int
	exits   []int
}

func (c *calls) Output(p []byte)          { c.out.Write(p) }
func (c *calls) Input(p []byte)           { c.in.Write(p) }
func (c *calls) Resize(width, height int) { c.resizes = append(c.resizes, [2]int{width, height}) }
func (c *calls) Exit(status int)          { c.exits = append(c.exits, status) }
func (c *calls) Close() error             { return nil }

// spdyWire is what a spdy.Framer writes for frames, one direction of a
// connection (its header compression carries from frame to frame).
func spdyWire(t *testing.T, frames ...spdy.Frame) []byte {
	t.Helper()
	var b bytes.Buffer
	fr, err := spdy.NewFramer(&b, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		if err := fr.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func streamOf(id spdy.StreamId, typ string) *spdy.SynStreamFrame {
	return &spdy.SynStreamFrame{StreamId: id, Headers: http.Header{"streamType": {typ}}}
}

// TestSPDYRecorded: an exec over SPDY/3.1, each direction fed byte by
// byte, is recorded whole: stdin, resizes, output and the exit status
// the error stream's Status carries (ended by a reset, as the kubelet
// does).
func TestSPDYRecorded(t *testing.T) {
	var c calls
	e := newSPDYExec(&c)
	up := newSPDYFrames(func(fr spdy.Frame) error { return e.frame(fr, false) })
	down := newSPDYFrames(func(fr spdy.Frame) error { return e.frame(fr, true) })
	feed := func(f *spdyFrames, wire []byte) {
		t.Helper()
		for i := range wire {
			if err := f.feed(wire[i : i+1]); err != nil {
				t.Fatalf("byte %d: %v", i, err)
			}
		}
	}
	feed(up, spdyWire(t, streamOf(1, "error"), streamOf(3, "stdin"), streamOf(5, "stdout"), streamOf(7, "resize"),
		&spdy.DataFrame{StreamId: 3, Data: []byte("hello\n")},
		&spdy.DataFrame{StreamId: 7, Data: []byte(`{"Width":80,"Height":24}` + "\n" + `{"Width":1`)},
		&spdy.DataFrame{StreamId: 7, Data: []byte(`00,"Height":30}` + "\n")},
		&spdy.DataFrame{StreamId: 3, Flags: spdy.DataFlagFin}))
	status := `{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"7"}]}}`
	feed(down, spdyWire(t, &spdy.SynReplyFrame{StreamId: 1, Headers: http.Header{}}, &spdy.SynReplyFrame{StreamId: 5, Headers: http.Header{}},
		&spdy.WindowUpdateFrame{StreamId: 3, DeltaWindowSize: 1 << 16},
		&spdy.DataFrame{StreamId: 5, Data: []byte("world\n")},
		&spdy.DataFrame{StreamId: 1, Data: []byte(status[:20])}, &spdy.DataFrame{StreamId: 1, Data: []byte(status[20:])},
		&spdy.RstStreamFrame{StreamId: 1, Status: spdy.Cancel}, &spdy.GoAwayFrame{LastGoodStreamId: 7}))
	e.end()
	if c.in.String() != "hello\n" || c.out.String() != "world\n" || len(c.exits) != 1 || c.exits[0] != 7 ||
		len(c.resizes) != 2 || c.resizes[0] != [2]int{80, 24} || c.resizes[1] != [2]int{100, 30} {
		t.Fatalf("recorded: in %q out %q exits %v resizes %v", c.in.String(), c.out.String(), c.exits, c.resizes)
	}
}

// TestSPDYRefusesUnrecordable: what the recorder cannot attribute or
// read ends the stream rather than pass unrecorded.
func TestSPDYRefusesUnrecordable(t *testing.T) {
	data := func(id spdy.StreamId) *spdy.DataFrame { return &spdy.DataFrame{StreamId: id, Data: []byte("x")} }
	cases := []struct {
		name     string
		up, down []spdy.Frame // what the client sends, then what the server sends
		raw      []byte       // or these bytes from the server
		want     error
	}{
		{name: "data on a stream never opened", down: []spdy.Frame{data(9)}, want: errUnknownStream},
		{name: "a port-forward stream in an exec", up: []spdy.Frame{streamOf(1, "data")}, want: errUnknownStream},
		{name: "a stream with no type", up: []spdy.Frame{&spdy.SynStreamFrame{StreamId: 1, Headers: http.Header{"other": {"x"}}}}, want: errUnknownStream},
		{name: "a stream opened twice", up: []spdy.Frame{streamOf(1, "stdin"), streamOf(1, "stdout")}, want: errUnknownStream},
		{name: "output from the client", up: []spdy.Frame{streamOf(1, "stdout"), data(1)}, want: errUnknownStream},
		{name: "stdin from the server", up: []spdy.Frame{streamOf(1, "stdin")}, down: []spdy.Frame{data(1)}, want: errUnknownStream},
		{name: "a frame past the bound", raw: []byte{0, 0, 0, 1, 0, 0xff, 0xff, 0xff}, want: errFrameTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newSPDYExec(&calls{})
			up := newSPDYFrames(func(fr spdy.Frame) error { return e.frame(fr, false) })
			down := newSPDYFrames(func(fr spdy.Frame) error { return e.frame(fr, true) })
			err := up.feed(spdyWire(t, tc.up...))
			if err == nil {
				err = down.feed(append(spdyWire(t, tc.down...), tc.raw...))
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// A control frame of a type SPDY/3.1 does not have, and one whose
	// length and content disagree, are not read.
	for _, wire := range [][]byte{{0x80, 3, 0, 0x0b, 0, 0, 0, 0}, {0x80, 3, 0, 3, 0, 0, 0, 4, 0, 0, 0, 1}} {
		f := newSPDYFrames(func(spdy.Frame) error { return nil })
		if err := f.feed(wire); err == nil {
			t.Fatalf("%x: read", wire)
		}
	}
}
