package detect

// IPv4 addresses (kind "ipv4").
//
// Matched: four dotted decimal octets 0-255 without leading zeros
// ("10.0.0.1", also in "10.0.0.1:5432" and "10.0.0.0/8"); a range
// "10.0.0.1-10.0.0.255" is one match.
//
// Not matched: more or fewer than four parts ("1.2.3", "1.3.6.1.4.1"),
// leading zeros ("01.02.03.04"), a version string: glued to a word
// ("v1.2.3.4"), followed by a pre-release or build suffix ("1.2.3.4-beta",
// "1.2.3.4+b7"), or right after the word version, ver, release or build
// ("version 1.2.3.4", "\"version\":\"1.2.3.4\""). A bare "1.2.3.4" is a valid
// address and is matched: text cannot tell the two apart.

func parseIPv4(s string, i int) int {
	p := ipv4Octets(s, i)
	if p < 0 {
		return -1
	}
	// A range "10.0.0.1-10.0.0.255" is one match.
	if p+1 < len(s) && s[p] == '-' && isDigit(s[p+1]) {
		if q := ipv4Octets(s, p+1); q > 0 {
			p = q
		}
	}
	if !numEndOK(s, p) {
		return -1
	}
	if p+1 < len(s) && (s[p] == '-' || s[p] == '+') && isAlpha(s[p+1]) {
		return -1
	}
	if versionBefore(s, i) {
		return -1
	}
	return p
}

// ipv4Octets returns the end of four dotted octets at i, or -1.
func ipv4Octets(s string, i int) int {
	n := len(s)
	p := i
	for k := 0; k < 4; k++ {
		if k > 0 {
			if p >= n || s[p] != '.' {
				return -1
			}
			p++
		}
		q := p
		v := 0
		for q < n && isDigit(s[q]) && q-p < 4 {
			v = v*10 + int(s[q]-'0')
			q++
		}
		l := q - p
		if l == 0 || l > 3 || v > 255 || (l > 1 && s[p] == '0') {
			return -1
		}
		p = q
	}
	return p
}

// versionBefore reports whether the word before i, skipping up to four
// bytes of quotes, spaces, '=' and ':', names a version.
func versionBefore(s string, i int) bool {
	j := i
	for k := 0; k < 4 && j > 0 && isVersionGap(s[j-1]); k++ {
		j--
	}
	if j == i && i > 0 {
		return false
	}
	w := s[max(0, j-8):j]
	return hasSuffixFold(w, "version") || hasSuffixFold(w, "ver") ||
		hasSuffixFold(w, "release") || hasSuffixFold(w, "build")
}

func isVersionGap(c byte) bool {
	return c == ' ' || c == '"' || c == '\'' || c == '=' || c == ':'
}
