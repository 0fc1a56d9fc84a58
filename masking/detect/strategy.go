package detect

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"hash"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Strategy names.
const (
	// StrategyRedact replaces the value with "[REDACTED:<kind>]".
	StrategyRedact = "redact"
	// StrategyPartial keeps the last KeepLast letters and digits, masks the
	// others with '*' and keeps separators ("****-****-****-1234"). It keeps
	// at most half of the letters and digits, and only from the last group
	// (after the last separator), so that the kept tail is never itself a
	// match ("****@*******.com", not "****@******e.com"); inside a longer
	// text, a match glued to the following word keeps nothing.
	StrategyPartial = "partial"
	// StrategyToken replaces the value with "tok_<kind>_<16 base32 chars>",
	// the first 10 bytes of HMAC-SHA256 under Key of the kind, a zero byte
	// and the normalised value (see appendNormalized): equal values give
	// equal tokens, so masked columns stay joinable.
	StrategyToken = "token"
	// StrategyNull turns the whole value into SQL NULL.
	StrategyNull = "null"
	// StrategyShape keeps the value's shape: digits become '*' except the
	// last KeepLast (at most half of them, and only from the last group),
	// letters 'x', separators stay ("****-****-****-1234").
	StrategyShape = "shape"
)

// DefaultKeepLast is KeepLast when a strategy leaves it zero.
const DefaultKeepLast = 4

// MinTokenKeyLen is the shortest key StrategyToken accepts.
const MinTokenKeyLen = 16

// Strategy says how a detected or rule-selected value is masked. The zero
// Strategy is StrategyRedact.
type Strategy struct {
	// Name is one of the Strategy* constants; empty means StrategyRedact.
	Name string
	// KeepLast is how many trailing letters and digits StrategyPartial
	// keeps, or trailing digits StrategyShape keeps; zero means
	// DefaultKeepLast. Never more than half of them are kept, whatever
	// KeepLast says, and partial keeps fewer when the last group is shorter.
	KeepLast int
	// Key is the deployment secret for StrategyToken, at least
	// MinTokenKeyLen bytes. It never appears in an error or a String.
	Key []byte
}

// String describes the strategy without its key.
func (st Strategy) String() string {
	name := st.Name
	if name == "" {
		name = StrategyRedact
	}
	switch name {
	case StrategyPartial, StrategyShape:
		return fmt.Sprintf("%s(keep_last=%d)", name, st.keepLast())
	case StrategyToken:
		return name + "(key=<hidden>)"
	}
	return name
}

// GoString is String, so that %#v does not print the key either.
func (st Strategy) GoString() string { return "detect.Strategy(" + st.String() + ")" }

func (st Strategy) keepLast() int {
	if st.KeepLast == 0 {
		return DefaultKeepLast
	}
	return st.KeepLast
}

// Validate reports a configuration error; the error never contains Key.
func (st Strategy) Validate() error {
	switch st.Name {
	case "", StrategyRedact, StrategyNull:
	case StrategyPartial, StrategyShape:
		if st.KeepLast < 0 {
			return fmt.Errorf("%w: %s: keep_last %d is negative", ErrInvalidStrategy, st.Name, st.KeepLast)
		}
	case StrategyToken:
		if len(st.Key) < MinTokenKeyLen {
			return fmt.Errorf("%w: token needs a key of at least %d bytes, got %d",
				ErrInvalidStrategy, MinTokenKeyLen, len(st.Key))
		}
	default:
		return fmt.Errorf("%w %q", ErrUnknownStrategy, st.Name)
	}
	return nil
}

// Replacer is a validated Strategy, ready to use. It is safe for concurrent
// use and, except for StrategyToken's output, does not allocate beyond the
// string it returns.
type Replacer struct {
	name string
	keep int
	pool *sync.Pool // of *tokenState, for StrategyToken
}

// NewReplacer validates st and prepares it.
func NewReplacer(st Strategy) (*Replacer, error) {
	if err := st.Validate(); err != nil {
		return nil, err
	}
	r := &Replacer{name: st.Name, keep: st.keepLast()}
	if r.name == "" {
		r.name = StrategyRedact
	}
	if r.name == StrategyToken {
		key := append([]byte(nil), st.Key...)
		r.pool = &sync.Pool{New: func() any {
			return &tokenState{mac: hmac.New(sha256.New, key)}
		}}
	}
	return r, nil
}

// Null reports whether the strategy turns a value into SQL NULL.
func (r *Replacer) Null() bool { return r.name == StrategyNull }

// Replace masks a whole value as kind. null is true for StrategyNull, and
// out is then empty.
func (r *Replacer) Replace(kind Kind, value string) (out string, null bool) {
	if r.Null() {
		return "", true
	}
	var b strings.Builder
	b.Grow(len(value) + 32)
	r.write(&b, kind, value, false)
	return b.String(), false
}

// Apply masks a whole value with st, as a column rule does. A strategy that
// fails Validate masks as StrategyRedact: Apply never lets a value through
// because of a configuration error. Callers masking many values should use
// NewReplacer once instead.
func Apply(st Strategy, kind Kind, value string) (out string, null bool) {
	r, err := NewReplacer(st)
	if err != nil {
		r = &Replacer{name: StrategyRedact}
	}
	return r.Replace(kind, value)
}

// write appends the masked form of v to b. Every output is JSON-safe and
// safe inside PostgreSQL array and composite literals: redact and token
// write only letters, digits, '_', ':', '[' and ']'; partial and shape write
// '*', 'x', kept letters and digits, and those separators of v that
// keptSeparator allows. None writes a quote, a backslash, a comma, a brace
// or a control character.
//
// glued says that v is directly followed by more of a word or token; partial
// then keeps nothing, so that its kept tail cannot join that text into a
// new match (masking twice must give what masking once gave).
func (r *Replacer) write(b *strings.Builder, kind Kind, v string, glued bool) {
	switch r.name {
	case StrategyPartial:
		keep := r.keep
		if glued {
			keep = 0
		}
		writePartial(b, v, keep)
	case StrategyShape:
		writeShape(b, v, r.keep)
	case StrategyToken:
		r.writeToken(b, kind, v)
	default:
		b.WriteString("[REDACTED")
		if kind != "" {
			b.WriteByte(':')
			writeKind(b, kind)
		}
		b.WriteByte(']')
	}
}

// writeKind writes a kind name keeping only [a-z0-9_], so that a kind
// label from configuration cannot break the output's syntax.
func writeKind(b *strings.Builder, kind Kind) {
	for i := 0; i < len(kind); i++ {
		c := lower(kind[i])
		if !isDigit(c) && !isLower(c) {
			c = '_'
		}
		b.WriteByte(c)
	}
}

// keptSeparator reports the separators partial and shape keep in place. All
// are JSON-safe; the others become '*'.
func keptSeparator(r rune) bool {
	switch r {
	case ' ', '-', '.', '_', '@', ':', '/', '(', ')', '+':
		return true
	}
	return false
}

func isAlnumRune(r rune) bool {
	if r < utf8.RuneSelf {
		return isAlnum(byte(r))
	}
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

func writePartial(b *strings.Builder, v string, keep int) {
	total, tail := 0, 0
	for _, r := range v {
		switch {
		case isAlnumRune(r):
			total++
			tail++
		case keptSeparator(r):
			tail = 0
		}
	}
	keep = min(keep, total/2, tail)
	hide := total - keep
	seen := 0
	for i := 0; i < len(v); {
		r, w := utf8.DecodeRuneInString(v[i:])
		switch {
		case isAlnumRune(r):
			if seen >= hide {
				b.WriteString(v[i : i+w])
			} else {
				b.WriteByte('*')
			}
			seen++
		case keptSeparator(r):
			b.WriteByte(byte(r))
		default:
			b.WriteByte('*')
		}
		i += w
	}
}

func writeShape(b *strings.Builder, v string, keep int) {
	digits, tail := 0, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case isDigit(c):
			digits++
			tail++
		case c < utf8.RuneSelf && keptSeparator(rune(c)):
			tail = 0
		}
	}
	keep = min(keep, digits/2, tail)
	hide := digits - keep
	seen := 0
	for _, r := range v {
		switch {
		case r < utf8.RuneSelf && isDigit(byte(r)):
			if seen >= hide {
				b.WriteByte(byte(r))
			} else {
				b.WriteByte('*')
			}
			seen++
		case isAlnumRune(r):
			b.WriteByte('x')
		case keptSeparator(r):
			b.WriteByte(byte(r))
		default:
			b.WriteByte('*')
		}
	}
}

// tokenState is one HMAC and a scratch buffer, pooled per Replacer.
type tokenState struct {
	mac hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

var tokenEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func (r *Replacer) writeToken(b *strings.Builder, kind Kind, v string) {
	ts := r.pool.Get().(*tokenState)
	ts.buf = append(ts.buf[:0], kind...)
	ts.buf = append(ts.buf, 0)
	ts.buf = appendNormalized(ts.buf, kind, v)
	ts.mac.Reset()
	ts.mac.Write(ts.buf)
	sum := ts.mac.Sum(ts.sum[:0])
	var enc [16]byte
	tokenEncoding.Encode(enc[:], sum[:10])
	clear(ts.buf) // no sensitive bytes linger in the pool
	if cap(ts.buf) <= 4096 {
		r.pool.Put(ts)
	}
	b.WriteString("tok_")
	if kind != "" {
		writeKind(b, kind)
		b.WriteByte('_')
	}
	b.Write(enc[:])
}

// appendNormalized appends the form of v that is tokenised, so that one
// value written two ways gets one token: cards, SSNs and IBANs keep only
// their letters and digits (upper-cased), phones their digits and a leading
// '+', e-mail addresses are lower-cased with \u0040 read as '@'. Other
// kinds are taken as they are.
func appendNormalized(dst []byte, kind Kind, v string) []byte {
	switch kind {
	case Card, SSN, IBAN:
		for i := 0; i < len(v); i++ {
			if c := v[i]; isAlnum(c) {
				if isLower(c) {
					c -= 'a' - 'A'
				}
				dst = append(dst, c)
			}
		}
	case Phone:
		for i := 0; i < len(v); i++ {
			if c := v[i]; isDigit(c) || (c == '+' && i == 0) {
				dst = append(dst, c)
			}
		}
	case Email:
		for i := 0; i < len(v); i++ {
			if strings.HasPrefix(v[i:], `\u0040`) {
				dst = append(dst, '@')
				i += 5
				continue
			}
			dst = append(dst, lower(v[i]))
		}
	default:
		dst = append(dst, v...)
	}
	return dst
}
