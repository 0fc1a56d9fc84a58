package audit

import (
	"crypto/rand"
	"strings"
	"sync"
	"time"
)

// IDLen is the length of an event ID: 48 bits of millisecond timestamp and
// 80 bits of randomness, written as 26 characters of Crockford base32.
const IDLen = 26

// MinIDPrefix is the shortest ID prefix Reader.Get accepts.
const MinIDPrefix = 6

// crockford is the Crockford base32 alphabet. Its characters sort in the
// same order as the values they encode, so IDs sort by time as strings.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// IDGenerator makes ULID-style event IDs. Within one millisecond it
// increments the random part instead of drawing a new one, so the IDs one
// generator hands out sort in the order they were made. Its zero value is
// ready to use; it is safe for concurrent use. A store keeps one.
type IDGenerator struct {
	mu     sync.Mutex
	lastMS uint64
	rand   [10]byte
}

// Next returns a new ID whose time part is t truncated to the millisecond.
func (g *IDGenerator) Next(t time.Time) string {
	ms := uint64(t.UnixMilli())

	g.mu.Lock()
	defer g.mu.Unlock()
	if ms != g.lastMS || !increment(&g.rand) {
		// crypto/rand.Read never returns an error and always fills the buffer.
		_, _ = rand.Read(g.rand[:])
		g.lastMS = ms
	}
	return encodeID(ms, g.rand)
}

// FloorID is the lowest ID of millisecond ms (since the Unix epoch): every
// ID made at ms or later sorts at or after it.
func FloorID(ms uint64) string { return encodeID(ms, [10]byte{}) }

// IDMillis is the time part of an event ID (or of an ID prefix, read as if
// it went on with zeros), in milliseconds since the Unix epoch; false if id
// does not start with a time.
func IDMillis(id string) (uint64, bool) {
	var v uint64
	for i := range 10 {
		c := byte('0')
		if i < len(id) {
			c = id[i]
		}
		d := strings.IndexByte(crockford, c)
		if d < 0 {
			return 0, false
		}
		v = v<<5 | uint64(d)
	}
	return v, true
}

// increment adds one to b as a big-endian number and reports false if it
// overflowed.
func increment(b *[10]byte) bool {
	for i := len(b) - 1; i >= 0; i-- {
		b[i]++
		if b[i] != 0 {
			return true
		}
	}
	return false
}

// encodeID writes the 128 bits ms(48) | rnd(80) as 26 base32 characters,
// most significant first. The first character holds only 3 bits.
func encodeID(ms uint64, rnd [10]byte) string {
	var raw [16]byte
	for i := range 6 {
		raw[i] = byte(ms >> (8 * (5 - i)))
	}
	copy(raw[6:], rnd[:])

	var out [IDLen]byte
	// Walk the 130-bit field (two leading zero bits, then raw) five bits at a time.
	for i := range IDLen {
		bit := i*5 - 2 // position of this character's first bit within raw
		var v byte
		for j := range 5 {
			p := bit + j
			if p < 0 {
				continue
			}
			v = v<<1 | (raw[p/8]>>(7-p%8))&1
		}
		out[i] = crockford[v]
	}
	return string(out[:])
}

// NormalizeID upper-cases an ID or ID prefix typed by a person and maps the
// letters Crockford base32 treats as aliases (I, L -> 1; O -> 0).
func NormalizeID(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case 'i', 'I', 'l', 'L':
			return '1'
		case 'o', 'O':
			return '0'
		}
		if r >= 'a' && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, s)
}
