package detect

import "strings"

// PEM private keys (kind "pem_private_key").
//
// Matched: from "-----BEGIN <label>-----" to the matching
// "-----END <label>-----", where the label ends in "PRIVATE KEY" (RSA, EC,
// DSA, OPENSSH, ENCRYPTED, plain PKCS#8) or "PRIVATE KEY BLOCK" (PGP). The
// block may contain raw newlines or JSON escapes (\n, \r, \/).
//
// Fail-closed cases: a block with no END line (truncated by substr(), say)
// is matched to the end of the enclosing JSON string or of the value; a
// match never crosses an unescaped '"', so a key split over several JSON
// strings (an array of lines) is masked only up to the end of the first.
//
// Not matched: certificates and public keys.

const pemBegin = "-----BEGIN "

func findPEM(s string, dst []Match) []Match {
	quote := -1 // the first unescaped quote at or after the current block
	for off := 0; ; {
		k := strings.Index(s[off:], pemBegin)
		if k < 0 {
			return dst
		}
		start := off + k
		off = start + len(pemBegin)
		lab := off
		for lab < len(s) && lab-off <= 64 && (isUpper(s[lab]) || isDigit(s[lab]) || s[lab] == ' ') {
			lab++
		}
		label := s[off:lab]
		if !strings.HasPrefix(s[lab:], "-----") ||
			!(strings.HasSuffix(label, "PRIVATE KEY") || strings.HasSuffix(label, "PRIVATE KEY BLOCK")) {
			continue
		}
		// A match never crosses an unescaped quote, so neither does the
		// search for its END line (which keeps the scan linear).
		if quote < start {
			if quote = unescapedQuote(s, start, len(s)); quote < 0 {
				quote = len(s)
			}
		}
		end := pemEnd(s[:quote], lab+5, label)
		dst = append(dst, Match{Kind: PEMPrivateKey, Start: start, End: end})
		off = end
	}
}

// pemEnd returns the end of "-----END <label>-----" after p, or len(s).
func pemEnd(s string, p int, label string) int {
	for {
		k := strings.Index(s[p:], "-----END ")
		if k < 0 {
			return len(s)
		}
		p += k + len("-----END ")
		if strings.HasPrefix(s[p:], label) && strings.HasPrefix(s[p+len(label):], "-----") {
			return p + len(label) + 5
		}
	}
}

// unescapedQuote returns the index of the first '"' in s[from:to] that is
// not escaped by a backslash, or -1.
func unescapedQuote(s string, from, to int) int {
	for p := from; p < to; {
		k := strings.IndexByte(s[p:to], '"')
		if k < 0 {
			return -1
		}
		q := p + k
		if q == 0 || !isEscapingBackslash(s, q-1) {
			return q
		}
		p = q + 1
	}
	return -1
}
