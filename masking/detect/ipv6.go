package detect

import "strings"

// IPv6 addresses (kind "ipv6").
//
// Matched: the RFC 4291 text forms: eight groups of 1-4 hex digits, or
// fewer with one "::", optionally ending in a dotted IPv4 address; with
// a "::" there must be at least two groups and a decimal digit somewhere
// ("fe80::1", "2001:db8::8a2e:370:7334", "::ffff:192.0.2.1"). A zone
// ("%eth0"), brackets and a port stay outside the match.
//
// Not matched: "::" and "::1" (unspecified and loopback say nothing about
// anyone), compressed forms without a digit ("dead::beef", "Foo::Bar"),
// MAC addresses and clock times (not eight groups, no "::"), and anything
// glued to a letter, digit or '_'.

func isIPv6Byte(c byte) bool { return isHex(c) || c == ':' || c == '.' }

func findIPv6(s string, dst []Match) []Match {
	if !strings.Contains(s, "::") && !denseColons(s) {
		return dst
	}
	n := len(s)
	for off := 0; off < n; {
		k := strings.IndexByte(s[off:], ':')
		if k < 0 {
			break
		}
		c := off + k
		a := c
		for a > 0 && isIPv6Byte(s[a-1]) {
			a--
		}
		b := c + 1
		for b < n && isIPv6Byte(s[b]) {
			b++
		}
		off = b
		// A single leading or trailing ':' or '.' is punctuation.
		for a < b && (s[a] == '.' || (s[a] == ':' && (a+1 == b || s[a+1] != ':'))) {
			a++
		}
		for b > a && (s[b-1] == '.' || (s[b-1] == ':' && (b-2 < a || s[b-2] != ':'))) {
			b--
		}
		if a == b {
			continue
		}
		if wordBefore(s, a) || (b < n && isWordByte(s[b])) {
			continue
		}
		if validIPv6(s[a:b]) {
			dst = append(dst, Match{Kind: IPv6, Start: a, End: b})
		}
	}
	return dst
}

// denseColons reports whether seven colons fall within 39 bytes, as in a
// full-form address; JSON objects and clock times have colons, but sparse.
func denseColons(s string) bool {
	var ring [7]int
	n := 0
	for off := 0; ; {
		k := strings.IndexByte(s[off:], ':')
		if k < 0 {
			return false
		}
		p := off + k
		if n >= 6 && p-ring[(n-6)%7] < 39 {
			return true
		}
		ring[n%7] = p
		n++
		off = p + 1
	}
}

// validIPv6 reports whether t is an IPv6 address worth masking (see above).
func validIPv6(t string) bool {
	if len(t) < 3 || len(t) > 45 {
		return false
	}
	groups, compressed, digit := 0, false, false
	i := 0
	if strings.HasPrefix(t, "::") {
		compressed = true
		i = 2
		if i == len(t) {
			return false
		}
	}
	for i < len(t) {
		j := i
		for j < len(t) && isHex(t[j]) && j-i <= 4 {
			digit = digit || isDigit(t[j])
			j++
		}
		if j < len(t) && t[j] == '.' {
			// Embedded IPv4 ends the address and counts as two groups.
			if parseIPv4Exact(t[i:]) && groups <= 6 {
				groups += 2
				digit = true
				break
			}
			return false
		}
		if l := j - i; l == 0 || l > 4 {
			return false
		}
		groups++
		i = j
		if i == len(t) {
			break
		}
		// t[i] == ':'
		if i+1 < len(t) && t[i+1] == ':' {
			if compressed {
				return false
			}
			compressed = true
			i += 2
			if i == len(t) {
				break
			}
			continue
		}
		i++
		if i == len(t) {
			return false
		}
	}
	if compressed {
		return groups >= 2 && groups <= 7 && digit
	}
	return groups == 8
}

// parseIPv4Exact reports whether t is exactly a dotted IPv4 address.
func parseIPv4Exact(t string) bool {
	if len(t) == 0 || !isDigit(t[0]) {
		return false
	}
	return ipv4Octets(t, 0) == len(t)
}
