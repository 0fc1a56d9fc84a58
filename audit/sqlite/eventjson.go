package sqlite

import (
	"errors"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/internal/jsonenc"
)

// The PostgreSQL proxy journals an intent for every statement, and
// encoding/json's reflection cost more than the rest of the intent. appendEvent
// writes what json.Marshal writes for an Event, byte for byte (strings
// escaped for HTML, invalid UTF-8 as U+FFFD, Arguments compacted), so the
// journal, the store's JSON and Event.UnmarshalJSON keep one format.
// TestAppendEventMatchesEncodingJSON holds it to that.

// errArgumentsNotJSON: an event whose Arguments could not be read back.
var errArgumentsNotJSON = errors.New("arguments are not valid JSON")

// eventSpans are where an encoded event holds its groups array and its
// masked object ([start, end) byte offsets; equal when absent), so that the
// row stores the same JSON without encoding it again.
type eventSpans struct {
	groups, masked [2]int
}

// appendEvent appends e encoded as JSON. sp, if not nil, receives the spans
// of groups and masked.
func appendEvent(b []byte, e *audit.Event, sp *eventSpans) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = jsonenc.AppendString(b, e.ID)
	b = append(b, `,"time":"`...)
	b, err := e.Time.AppendText(b)
	if err != nil {
		return nil, err
	}
	b = append(b, '"')
	b = appendStringField(b, `,"session":`, e.Session)
	b = appendStringField(b, `,"transport":`, e.Transport)
	b = appendStringField(b, `,"identity":`, e.Identity)
	if len(e.Groups) > 0 {
		b = append(b, `,"groups":`...)
		start := len(b)
		b = appendGroups(b, e.Groups)
		if sp != nil {
			sp.groups = [2]int{start, len(b)}
		}
	}
	b = appendStringField(b, `,"issuer":`, e.Issuer)
	b = appendStringField(b, `,"token_id":`, e.TokenID)
	b = appendStringField(b, `,"tool":`, e.Tool)
	b = appendStringField(b, `,"connection":`, e.Connection)
	if len(e.Arguments) > 0 {
		b = append(b, `,"arguments":`...)
		var ok bool
		if b, ok = appendCompactJSON(b, e.Arguments); !ok {
			return nil, errArgumentsNotJSON
		}
	}
	b = appendStringField(b, `,"statement":`, e.Statement)
	b = appendStringField(b, `,"decision":`, e.Decision)
	b = appendStringField(b, `,"rule":`, e.Rule)
	b = appendStringField(b, `,"reason":`, e.Reason)
	b = append(b, `,"status":`...)
	b = jsonenc.AppendString(b, e.Status)
	if e.Rows != 0 {
		b = append(b, `,"rows":`...)
		b = strconv.AppendInt(b, e.Rows, 10)
	}
	if e.Truncated {
		b = append(b, `,"truncated":true`...)
	}
	if len(e.Masked) > 0 {
		b = append(b, `,"masked":`...)
		start := len(b)
		b = appendMasked(b, e.Masked)
		if sp != nil {
			sp.masked = [2]int{start, len(b)}
		}
	}
	b = appendStringField(b, `,"credential":`, e.Credential)
	b = appendStringField(b, `,"error":`, e.Error)
	b = appendStringField(b, `,"approval":`, e.Approval)
	b = append(b, `,"duration_ms":`...)
	b = jsonenc.AppendFloat(b, float64(e.Duration)/float64(time.Millisecond))
	return append(b, '}'), nil
}

// appendStringField appends key and s, unless s is empty (omitempty).
func appendStringField(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return jsonenc.AppendString(append(b, key...), s)
}

// appendGroups appends groups as a JSON array.
func appendGroups(b []byte, groups []string) []byte {
	b = append(b, '[')
	for i, g := range groups {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendString(b, g)
	}
	return append(b, ']')
}

// appendMasked appends masked counts as a JSON object, keys sorted.
func appendMasked(b []byte, masked map[string]int64) []byte {
	b = append(b, '{')
	if len(masked) == 1 {
		for k, v := range masked {
			b = jsonenc.AppendString(b, k)
			b = append(b, ':')
			b = strconv.AppendInt(b, v, 10)
		}
		return append(b, '}')
	}
	for i, k := range slices.Sorted(maps.Keys(masked)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendString(b, k)
		b = append(b, ':')
		b = strconv.AppendInt(b, masked[k], 10)
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// maxJSONDepth is encoding/json's limit on nested arrays and objects.
const maxJSONDepth = 10000

// appendCompactJSON appends src, one JSON value, as json.Marshal writes a
// json.RawMessage: without insignificant whitespace, with <, >, &, U+2028
// and U+2029 escaped. It reports false where json.Valid does; then b is
// not to be used.
func appendCompactJSON(b, src []byte) ([]byte, bool) {
	c := compactor{src: src, dst: b}
	c.space()
	if !c.value(0) {
		return b, false
	}
	c.space()
	return c.dst, c.i == len(src)
}

// compactor copies a JSON value token by token, checking its grammar.
type compactor struct {
	src, dst []byte
	i        int // next byte of src
}

func (c *compactor) space() {
	for c.i < len(c.src) {
		switch c.src[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

// next returns the next byte, 0 at the end (never valid where a byte is
// expected).
func (c *compactor) next() byte {
	if c.i < len(c.src) {
		return c.src[c.i]
	}
	return 0
}

func (c *compactor) value(depth int) bool {
	switch ch := c.next(); {
	case ch == '{':
		return c.object(depth + 1)
	case ch == '[':
		return c.array(depth + 1)
	case ch == '"':
		return c.string()
	case ch == '-' || ch >= '0' && ch <= '9':
		return c.number()
	case ch == 't':
		return c.literal("true")
	case ch == 'f':
		return c.literal("false")
	case ch == 'n':
		return c.literal("null")
	}
	return false
}

func (c *compactor) object(depth int) bool {
	if depth > maxJSONDepth {
		return false
	}
	c.dst = append(c.dst, '{')
	c.i++
	c.space()
	if c.next() == '}' {
		c.dst = append(c.dst, '}')
		c.i++
		return true
	}
	for {
		if c.next() != '"' || !c.string() {
			return false
		}
		c.space()
		if c.next() != ':' {
			return false
		}
		c.dst = append(c.dst, ':')
		c.i++
		c.space()
		if !c.value(depth) {
			return false
		}
		c.space()
		switch c.next() {
		case ',':
			c.dst = append(c.dst, ',')
			c.i++
			c.space()
		case '}':
			c.dst = append(c.dst, '}')
			c.i++
			return true
		default:
			return false
		}
	}
}

func (c *compactor) array(depth int) bool {
	if depth > maxJSONDepth {
		return false
	}
	c.dst = append(c.dst, '[')
	c.i++
	c.space()
	if c.next() == ']' {
		c.dst = append(c.dst, ']')
		c.i++
		return true
	}
	for {
		if !c.value(depth) {
			return false
		}
		c.space()
		switch c.next() {
		case ',':
			c.dst = append(c.dst, ',')
			c.i++
			c.space()
		case ']':
			c.dst = append(c.dst, ']')
			c.i++
			return true
		default:
			return false
		}
	}
}

// string copies a string token. Like encoding/json it accepts any byte
// from 0x20 up, invalid UTF-8 included, and copies it unchanged.
func (c *compactor) string() bool {
	src := c.src
	i := c.i + 1
	start := c.i
	for i < len(src) {
		switch ch := src[i]; {
		case ch == '"':
			c.dst = append(c.dst, src[start:i+1]...)
			c.i = i + 1
			return true
		case ch == '\\':
			if i+1 >= len(src) {
				return false
			}
			switch src[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(src) || !isHex(src[i+2]) || !isHex(src[i+3]) || !isHex(src[i+4]) || !isHex(src[i+5]) {
					return false
				}
				i += 6
			default:
				return false
			}
		case ch < 0x20:
			return false
		case ch == '<' || ch == '>' || ch == '&':
			c.dst = append(c.dst, src[start:i]...)
			c.dst = append(c.dst, '\\', 'u', '0', '0', hexDigits[ch>>4], hexDigits[ch&0xF])
			i++
			start = i
		case ch == 0xE2 && i+2 < len(src) && src[i+1] == 0x80 && src[i+2]&^1 == 0xA8:
			c.dst = append(c.dst, src[start:i]...)
			c.dst = append(c.dst, '\\', 'u', '2', '0', '2', hexDigits[src[i+2]&0xF])
			i += 3
			start = i
		default:
			i++
		}
	}
	return false
}

func isHex(ch byte) bool {
	return ch >= '0' && ch <= '9' || ch >= 'a' && ch <= 'f' || ch >= 'A' && ch <= 'F'
}

// number copies -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (c *compactor) number() bool {
	start := c.i
	if c.next() == '-' {
		c.i++
	}
	switch ch := c.next(); {
	case ch == '0':
		c.i++
	case ch >= '1' && ch <= '9':
		c.digits()
	default:
		return false
	}
	if c.next() == '.' {
		c.i++
		if !c.digits() {
			return false
		}
	}
	if ch := c.next(); ch == 'e' || ch == 'E' {
		c.i++
		if ch := c.next(); ch == '+' || ch == '-' {
			c.i++
		}
		if !c.digits() {
			return false
		}
	}
	c.dst = append(c.dst, c.src[start:c.i]...)
	return true
}

// digits skips [0-9]+ and reports whether there was one.
func (c *compactor) digits() bool {
	start := c.i
	for c.i < len(c.src) && c.src[c.i] >= '0' && c.src[c.i] <= '9' {
		c.i++
	}
	return c.i > start
}

func (c *compactor) literal(word string) bool {
	if len(c.src)-c.i < len(word) || string(c.src[c.i:c.i+len(word)]) != word {
		return false
	}
	c.dst = append(c.dst, word...)
	c.i += len(word)
	return true
}
