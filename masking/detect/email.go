package detect

import "strings"

// E-mail addresses (kind "email").
//
// Matched: local@domain where the local part is ASCII letters, digits,
// . _ % + - and any non-ASCII (UTF-8) bytes, not starting or ending with '.'
// and without "..", and the domain is at least two labels of letters,
// digits, non-ASCII bytes and '-' (not at a label's ends), the last label
// being two or more ASCII letters or an "xn--" label. The '@' may be written as the JSON escape
// \u0040; no other escape is decoded, and the tail of an escape (the n of
// \n) ends the local part.
//
// Not matched: no dot in the domain ("root@localhost"), a numeric last
// label ("lodash@4.17.21"), an image file name ("icon@2x.png"), the
// password of a URL's user information ("postgres://u:pw@db.example.com":
// the secret detector masks the password, the host stays).

const maxLocalScan = 256

func findEmails(s string, flags uint32, dst []Match) []Match {
	if flags&cAt != 0 {
		for off := 0; ; {
			k := strings.IndexByte(s[off:], '@')
			if k < 0 {
				break
			}
			at := off + k
			off = at + 1
			if st, e := parseEmail(s, at, 1); e > 0 {
				dst = append(dst, Match{Kind: Email, Start: st, End: e})
				off = e
			}
		}
	}
	if flags&cBackslash != 0 {
		for off := 0; ; {
			k := strings.Index(s[off:], `\u0040`)
			if k < 0 {
				break
			}
			at := off + k
			off = at + 6
			if !isEscapingBackslash(s, at) {
				continue
			}
			if st, e := parseEmail(s, at, 6); e > 0 {
				dst = append(dst, Match{Kind: Email, Start: st, End: e})
				off = e
			}
		}
	}
	return dst
}

func isLocalByte(c byte) bool {
	return isAlnum(c) || c >= 0x80 || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

func isDomainByte(c byte) bool { return isAlnum(c) || c >= 0x80 || c == '-' }

// parseEmail parses around the '@' (or \u0040, w = 6) at s[at].
func parseEmail(s string, at, w int) (start, end int) {
	j := at
	for j > 0 && at-j < maxLocalScan && isLocalByte(s[j-1]) && !inEscape(s, j-1) {
		j--
	}
	if j > 0 && at-j >= maxLocalScan {
		return -1, -1
	}
	for j < at && s[j] == '.' {
		j++
	}
	if j == at || s[at-1] == '.' || strings.Contains(s[j:at], "..") {
		return -1, -1
	}
	if j > 0 && s[j-1] == ':' && urlUserinfo(s, j-1) {
		return -1, -1
	}
	e := parseDomain(s, at+w)
	if e < 0 {
		return -1, -1
	}
	return j, e
}

// parseDomain returns the end of the longest valid domain at p, or -1.
func parseDomain(s string, p int) int {
	n := len(s)
	labels, best := 0, -1
	for p < n && labels < 127 {
		q := p
		for q < n && isDomainByte(s[q]) && q-p < 64 {
			q++
		}
		if q == p || s[p] == '-' || s[q-1] == '-' || (q < n && isDomainByte(s[q])) {
			break
		}
		labels++
		if labels >= 2 && topLevel(s[p:q]) {
			best = q
		}
		if q+1 < n && s[q] == '.' && isDomainByte(s[q+1]) {
			p = q + 1
			continue
		}
		break
	}
	return best
}

func topLevel(l string) bool {
	if len(l) > 4 && l[:4] == "xn--" {
		return true
	}
	if len(l) < 2 {
		return false
	}
	for i := 0; i < len(l); i++ {
		if !isAlpha(l[i]) {
			return false
		}
	}
	return !isImageExt(l)
}

func isImageExt(l string) bool {
	for _, ext := range [...]string{"png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "tif", "tiff", "avif", "heic"} {
		if len(l) == len(ext) && hasSuffixFold(l, ext) {
			return true
		}
	}
	return false
}

// urlUserinfo reports whether the ':' at c separates a user from a password
// in a URL: "scheme://user:" with no space, slash or quote in the user.
func urlUserinfo(s string, c int) bool {
	for j := c - 1; j >= 1 && c-j < maxLocalScan; j-- {
		switch s[j] {
		case '/':
			return s[j-1] == '/' && j >= 2 && s[j-2] == ':'
		case ' ', '"', '\'', '\t', '\n', '@':
			return false
		}
	}
	return false
}
