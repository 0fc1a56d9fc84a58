package kubernetes

import (
	"errors"
	"testing"
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
