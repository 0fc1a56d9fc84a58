package detect

// The number-shaped detectors (card, ssn, phone, ipv4, and iban, whose
// check digits follow two letters) share one pass: it visits each run of
// digits once and, at a run that may begin a number, tries the enabled
// parsers anchored there, keeping the longest result.

// numAnchor marks the bytes a number-shaped match can start with.
var numAnchor = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['+'] = true // E.164
	t['('] = true // (415) 555-2671
	return t
}()

func findNumeric(s string, want kindSet, esc bool, dst []Match) []Match {
	n := len(s)
	for i := 0; i < n; {
		c := s[i]
		if !numAnchor[c] {
			i++
			continue
		}
		if !isDigit(c) {
			if want.has(kPhone) && numStartOK(s, i, esc) {
				if e := parsePhone(s, i); e > 0 {
					dst = append(dst, Match{Kind: Phone, Start: i, End: e})
					i = e
					continue
				}
			}
			i++
			continue
		}
		if esc && i > 0 && inEscape(s, i) {
			i++ // a hex digit of \uXXXX
			continue
		}
		if want.has(kIBAN) && i >= 2 && isUpper(s[i-1]) && isUpper(s[i-2]) && !alnumBeforeEsc(s, i-2, esc) {
			if e := parseIBAN(s, i-2); e > 0 {
				dst = append(dst, Match{Kind: IBAN, Start: i - 2, End: e})
				i = e
				continue
			}
		}
		if numStartOK(s, i, esc) {
			if k, e := parseNumber(s, i, want); e > 0 {
				dst = append(dst, Match{Kind: k, Start: i, End: e})
				i = e
				continue
			}
		}
		for i++; i < n && isDigit(s[i]); i++ {
		}
	}
	return dst
}

// parseNumber tries the digit-anchored parsers at i and returns the longest
// match (card, then ssn, phone, ipv4 on a tie). The length of the digit run
// at i and the byte after it rule out most parsers before they run.
func parseNumber(s string, i int, want kindSet) (Kind, int) {
	j := digitRun(s, i)
	l := j - i
	var next byte
	if j < len(s) {
		next = s[j]
	}
	sep := next == '-' || next == ' ' || next == '.'
	var kind Kind
	best := -1
	if want.has(kCard) && (l >= 13 || (l == 4 && (next == ' ' || next == '-'))) {
		if e := parseCard(s, i); e > best {
			kind, best = Card, e
		}
	}
	if want.has(kSSN) && ((l == 3 && (next == '-' || next == ' ')) || l == 9) {
		if e := parseSSN(s, i); e > best {
			kind, best = SSN, e
		}
	}
	if want.has(kPhone) && sep && (l == 3 || (l == 1 && s[i] == '1') || (l <= 6 && s[i] == '0')) {
		if e := parsePhone(s, i); e > best {
			kind, best = Phone, e
		}
	}
	if want.has(kIPv4) && l <= 3 && next == '.' {
		if e := parseIPv4(s, i); e > best {
			kind, best = IPv4, e
		}
	}
	return kind, best
}

// alnumBeforeEsc is alnumBefore, skipping the escape test when s holds no
// backslash.
func alnumBeforeEsc(s string, i int, esc bool) bool {
	if esc {
		return alnumBefore(s, i)
	}
	return i > 0 && isAlnum(s[i-1])
}

// numStartOK reports whether a number may start at i: the byte before is
// not part of a word or of a larger number (a letter, digit, '_', '.', '-'
// or '+'), unless it is the tail of an escape sequence such as \n.
// esc says whether s holds a backslash at all.
func numStartOK(s string, i int, esc bool) bool {
	return i == 0 || !numGlue[s[i-1]] || (esc && escapedAt(s, i-1))
}

// escapedAt is inEscape kept out of line, so that numStartOK inlines.
//
//go:noinline
func escapedAt(s string, p int) bool { return inEscape(s, p) }

// numGlue marks the bytes that glue a number to what precedes it.
var numGlue = func() (t [256]bool) {
	for c := range 256 {
		t[c] = isWordByte(byte(c))
	}
	t['.'], t['-'], t['+'] = true, true, true
	return t
}()

// numEndOK reports whether a number may end at e: the next byte is not
// part of a word, and not a '.' or '-' that continues the number.
func numEndOK(s string, e int) bool {
	if e >= len(s) {
		return true
	}
	c := s[e]
	if isWordByte(c) {
		return false
	}
	if (c == '.' || c == '-') && e+1 < len(s) && isDigit(s[e+1]) {
		return false
	}
	return true
}

// digitRun returns the end of the run of digits starting at i.
func digitRun(s string, i int) int {
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}
