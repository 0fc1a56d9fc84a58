package detect

// Byte classes for the prefilter pass and the detectors' boundary tests.
const (
	cDigit     uint32 = 1 << iota // 0-9; must stay bit 0 (summarize adds it)
	cUpper                        // A-Z
	cLower                        // a-z
	cAt                           // @
	cColon                        // :
	cEq                           // =
	cDot                          // .
	cDash                         // -
	cPlus                         // +
	cBackslash                    // \
	cUnder                        // _
	cTok                          // [A-Za-z0-9_.-]: bytes of a long token (key, JWT)

)

// classTab is computed once and never written afterwards. Its entries are
// uint32 although they fit 16 bits: the wider loads make summarize faster.
var classTab = func() (t [256]uint32) {
	for c := '0'; c <= '9'; c++ {
		t[c] = cDigit | cTok
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = cUpper | cTok
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = cLower | cTok
	}
	t['@'] = cAt
	t[':'] = cColon
	t['='] = cEq
	t['.'] = cDot | cTok
	t['-'] = cDash | cTok
	t['+'] = cPlus
	t['\\'] = cBackslash
	t['_'] = cUnder | cTok
	return t
}()

// summary is what one cheap pass over a value learns about it: which byte
// classes occur, how many digits, and whether a run of token bytes is long
// enough to be a JWT or an API key. Every detector has a gate on it, so a
// value that cannot hold a match of that kind is never looked at again.
type summary struct {
	flags   uint32
	digits  int
	longTok bool
}

func summarize(s string) summary {
	var flags uint32
	digits, last, long := 0, -1, 0
	// The loop keeps its dependency chains one instruction long: the last
	// non-token position is a conditional move, not a counter.
	for i, c := range []byte(s) { // no copy: the compiler elides it
		f := classTab[c]
		flags |= f
		digits += int(f & cDigit)
		if f&cTok == 0 {
			last = i
		}
		if i-last >= minTokenLen {
			long = 1
		}
	}
	return summary{flags: flags, digits: digits, longTok: long != 0}
}

func isDigit(c byte) bool { return c-'0' < 10 }
func isUpper(c byte) bool { return c-'A' < 26 }
func isLower(c byte) bool { return c-'a' < 26 }
func isAlpha(c byte) bool { return classTab[c]&(cUpper|cLower) != 0 }
func isAlnum(c byte) bool { return classTab[c]&(cUpper|cLower|cDigit) != 0 }

// isWordByte reports [A-Za-z0-9_].
func isWordByte(c byte) bool { return classTab[c]&(cUpper|cLower|cDigit|cUnder) != 0 }

// isTokByte reports [A-Za-z0-9_.-].
func isTokByte(c byte) bool { return classTab[c]&cTok != 0 }

func isHex(c byte) bool { return isDigit(c) || (c|0x20)-'a' < 6 }

func lower(c byte) byte {
	if isUpper(c) {
		return c + 'a' - 'A'
	}
	return c
}

// allDigits reports whether s[p:p+k] exists and is all digits.
func allDigits(s string, p, k int) bool {
	if p < 0 || p+k > len(s) {
		return false
	}
	for i := p; i < p+k; i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// hasPrefixFold reports whether s starts with prefix, ignoring ASCII case;
// prefix must be lower case.
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if lower(s[i]) != prefix[i] {
			return false
		}
	}
	return true
}

// hasSuffixFold reports whether s ends with suffix, ignoring ASCII case;
// suffix must be lower case.
func hasSuffixFold(s, suffix string) bool {
	if len(s) < len(suffix) {
		return false
	}
	s = s[len(s)-len(suffix):]
	for i := 0; i < len(suffix); i++ {
		if lower(s[i]) != suffix[i] {
			return false
		}
	}
	return true
}

// containsFold reports whether s contains needle, ignoring ASCII case;
// needle must be lower case and not empty.
func containsFold(s, needle string) bool {
	n0 := needle[0]
	for i := 0; i+len(needle) <= len(s); i++ {
		if lower(s[i]) != n0 {
			continue
		}
		j := 1
		for j < len(needle) && lower(s[i+j]) == needle[j] {
			j++
		}
		if j == len(needle) {
			return true
		}
	}
	return false
}
