package detect

import "encoding/json"

// JSON Web Tokens (kind "jwt").
//
// Matched: three base64url segments separated by dots, the third possibly
// empty (alg "none"), the first decoding to a JSON object with an "alg"
// member ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig"). A trailing dot that
// ends a sentence is not part of the token.
//
// Not matched: other base64 ("eyJmb28iOjF9" alone, two segments, a header
// without "alg" or that is not JSON), JWE (five segments).

const maxJWTHeader = 1024

// parseJWT parses a JWT at the start of the token run s[i:j].
func parseJWT(s string, i, j int) int {
	if j-i < 3 || s[i] != 'e' || s[i+1] != 'y' || s[i+2] != 'J' {
		return -1
	}
	for j > i && s[j-1] == '.' && countDots(s[i:j]) > 2 {
		j--
	}
	var dots [2]int
	nd := 0
	for p := i; p < j; p++ {
		if s[p] == '.' {
			if nd == 2 {
				return -1
			}
			dots[nd] = p
			nd++
		}
	}
	if nd != 2 {
		return -1
	}
	header, payload, sig := s[i:dots[0]], s[dots[0]+1:dots[1]], s[dots[1]+1:j]
	if len(header) < 10 || len(header) > maxJWTHeader || len(payload) == 0 ||
		!isB64URL(header) || !isB64URL(payload) || !isB64URL(sig) ||
		len(payload)%4 == 1 || len(sig)%4 == 1 {
		return -1
	}
	var buf [maxJWTHeader * 3 / 4]byte
	h, ok := decodeB64URL(buf[:], header)
	if !ok || !jwtHeader(h) {
		return -1
	}
	return j
}

func countDots(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			n++
		}
	}
	return n
}

func isB64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// decodeB64URL decodes unpadded base64url into dst without allocating.
func decodeB64URL(dst []byte, s string) ([]byte, bool) {
	if len(s)%4 == 1 {
		return nil, false
	}
	n, acc, bits := 0, uint32(0), 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		var v byte
		switch {
		case isUpper(c):
			v = c - 'A'
		case isLower(c):
			v = c - 'a' + 26
		case isDigit(c):
			v = c - '0' + 52
		case c == '-':
			v = 62
		case c == '_':
			v = 63
		default:
			return nil, false
		}
		acc = acc<<6 | uint32(v)
		bits += 6
		if bits >= 8 {
			bits -= 8
			if n == len(dst) {
				return nil, false
			}
			dst[n] = byte(acc >> bits)
			n++
		}
	}
	return dst[:n], true
}

// jwtHeader reports whether h is a JSON object with an "alg" member. It
// does not allocate: json.Valid checks the syntax, then a scan that tracks
// nesting and strings looks for the key at the top level.
func jwtHeader(h []byte) bool {
	if len(h) < 2 || h[0] != '{' || !json.Valid(h) {
		return false
	}
	depth := 0
	for i := 0; i < len(h); i++ {
		switch h[i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case '"':
			j := i + 1
			for j < len(h) && h[j] != '"' {
				if h[j] == '\\' {
					j++
				}
				j++
			}
			if depth == 1 && string(h[i+1:min(j, len(h))]) == "alg" {
				k := j + 1
				for k < len(h) && (h[k] == ' ' || h[k] == '\t' || h[k] == '\n' || h[k] == '\r') {
					k++
				}
				if k < len(h) && h[k] == ':' {
					return true
				}
			}
			i = j
		}
	}
	return false
}
