package detect

import "unicode/utf8"

// Values are scanned as raw text, so a JSON document, a PostgreSQL array or
// composite literal is just text. Their backslash escapes (\n, \", \\,
// \u00e9 ...) are the one thing the scanner must understand: a match must
// never start or end inside one, or masking would leave a broken escape
// behind, and the byte before a match that is the tail of an escape (the n of
// \n) is a separator, not part of a word.

// isEscapingBackslash reports whether s[k] is a backslash that begins an
// escape sequence, that is one preceded by an even number of backslashes.
func isEscapingBackslash(s string, k int) bool {
	if s[k] != '\\' {
		return false
	}
	n := 0
	for j := k - 1; j >= 0 && s[j] == '\\'; j-- {
		n++
	}
	return n%2 == 0
}

// escapeLenAt returns the length of the escape sequence whose backslash is
// s[k]: 6 for \uXXXX, 1 for a lone backslash at the end, otherwise the
// backslash and the whole character after it (so that a backslash before a
// multi-byte character never leaves a match starting inside it).
func escapeLenAt(s string, k int) int {
	if k+1 >= len(s) {
		return 1
	}
	if s[k+1] == 'u' && k+6 <= len(s) &&
		isHex(s[k+2]) && isHex(s[k+3]) && isHex(s[k+4]) && isHex(s[k+5]) {
		return 6
	}
	if s[k+1] >= utf8.RuneSelf {
		_, w := utf8.DecodeRuneInString(s[k+1:])
		return 1 + w
	}
	return 2
}

// escapeAround reports the escape sequence [start, end) that covers byte p
// other than at its backslash, if there is one.
func escapeAround(s string, p int) (start, end int, ok bool) {
	for k := p - 1; k >= 0 && k >= p-5; k-- {
		if s[k] != '\\' {
			continue
		}
		if !isEscapingBackslash(s, k) {
			return 0, 0, false
		}
		e := k + escapeLenAt(s, k)
		return k, e, p < e
	}
	return 0, 0, false
}

// inEscape reports whether byte p is inside an escape sequence (not its
// backslash).
func inEscape(s string, p int) bool {
	_, _, ok := escapeAround(s, p)
	return ok
}

// fixEscapes shrinks m so that it neither starts nor ends inside an escape
// sequence. The result may be empty.
func fixEscapes(s string, m Match) Match {
	if m.Start < len(s) {
		if _, e, ok := escapeAround(s, m.Start); ok {
			m.Start = e
		}
	}
	if m.End < len(s) && m.End > m.Start {
		if st, _, ok := escapeAround(s, m.End); ok {
			m.End = st
		}
	}
	if m.End < m.Start {
		m.End = m.Start
	}
	return m
}

// wordBefore reports whether the byte before i continues a word ([A-Za-z0-9_])
// into s[i]; the tail of an escape sequence does not.
func wordBefore(s string, i int) bool {
	return i > 0 && isWordByte(s[i-1]) && !inEscape(s, i-1)
}

// alnumBefore is wordBefore for [A-Za-z0-9].
func alnumBefore(s string, i int) bool {
	return i > 0 && isAlnum(s[i-1]) && !inEscape(s, i-1)
}
