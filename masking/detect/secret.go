package detect

import (
	"math"
	"strings"
)

// Secrets in key/value shapes (kind "secret").
//
// Matched: the value in key=value, key = value, key: value, "key":"value",
// 'key': 'value' and \"key\":\"value\" (JSON inside a JSON string), when
//   - the key (up to 64 bytes of [A-Za-z0-9_.-], any case) contains one of
//     password, passwd, passphrase, secret, token, apikey, api_key, api-key,
//     accesskey, access_key, privatekey, private_key, accountkey,
//     account_key, signingkey, signing_key, encryptionkey, encryption_key,
//     credential, authorization, auth_key, authkey, client_key, session_key,
//     sessionkey; or is, or ends in _ - or . followed by, pwd, pw, pass or
//     auth; and
//   - the value looks generated: at least 8 bytes, a letter other than T and
//     Z (so not a number or a timestamp), and a Shannon entropy of at least
//     3.0 bits per byte together with a digit or both letter cases, or of at
//     least 2.5 bits per byte together with three of the classes lower,
//     upper, digit, other.
//
// So "password=changeme" (2.75 bits, one class) and "password=required" are
// not matched, "password=P@ssw0rd!" and "api_key=9f86d081884c7d65" are.
// Human-chosen passwords in free text are not reliably told apart from
// configuration words; columns known to hold passwords need a column rule.
//
// A value with so many overlapping key=value candidates that checking them
// would cost more than 16 passes over it is masked from the candidate that
// exhausts the budget to the end of its JSON string or of the value (fail
// closed, in linear time).
//
// A quoted value runs to its closing quote and may hold spaces and escape
// sequences; an unquoted one stops at whitespace or any of " ' \ , ; & } ] ) < > `.
// After "Authorization:" an auth scheme word (Bearer, Basic ...) is skipped.
// The entropy is measured on the first 256 bytes; the whole value is masked.
//
// Also matched, with no entropy test: the password in a URL's user
// information ("postgres://app:s3cret@db/app").
//
// Never matched (so masking is stable): values that look masked already,
// in whole or in part: containing "[REDACTED" or "tok_", or one third or
// more '*'; and templates starting "${", "{{", "<", "%(" or "$(".

const (
	secretMinLen       = 8
	secretEntropy      = 3.0
	secretEntropyMixed = 2.5
	secretEntropyScan  = 256
	secretSlack        = 8192 // budget for short values
	maxKeyLen          = 64
)

var secretKeywords = [...]string{
	"password", "passwd", "passphrase", "secret", "token", "apikey", "api_key", "api-key",
	"accesskey", "access_key", "privatekey", "private_key", "accountkey", "account_key",
	"signingkey", "signing_key", "encryptionkey", "encryption_key", "credential",
	"authorization", "auth_key", "authkey", "client_key", "session_key", "sessionkey",
}

var secretKeyWords = [...]string{"pwd", "pw", "pass", "auth"}

func isKeyByte(c byte) bool { return isTokByte(c) }

// secretRoot reports whether key contains one of the roots every secret
// key word contains (pass, pw, secret, token, key, auth, cred): a cheap
// first test, since most keys (JSON members) are not secret.
func secretRoot(key string) bool {
	for i := 0; i < len(key); i++ {
		rest := key[i:]
		switch key[i] | 0x20 {
		case 'p':
			if hasPrefixFold(rest, "pass") || hasPrefixFold(rest, "pw") {
				return true
			}
		case 's':
			if hasPrefixFold(rest, "secret") {
				return true
			}
		case 't':
			if hasPrefixFold(rest, "token") {
				return true
			}
		case 'k':
			if hasPrefixFold(rest, "key") {
				return true
			}
		case 'a':
			if hasPrefixFold(rest, "auth") {
				return true
			}
		case 'c':
			if hasPrefixFold(rest, "cred") {
				return true
			}
		}
	}
	return false
}

// secretKey reports whether a key names a secret; auth says whether it is
// an Authorization-style key.
func secretKey(key string) (ok, auth bool) {
	if len(key) < 2 || !secretRoot(key) {
		return false, false
	}
	for _, w := range secretKeywords {
		if containsFold(key, w) {
			return true, w == "authorization"
		}
	}
	for _, w := range secretKeyWords {
		if len(key) == len(w) && hasSuffixFold(key, w) {
			return true, w == "auth"
		}
		if len(key) > len(w) && hasSuffixFold(key, w) {
			if c := key[len(key)-len(w)-1]; c == '_' || c == '-' || c == '.' {
				return true, w == "auth"
			}
		}
	}
	return false, false
}

// secretBudget bounds the bytes findSecrets examines to this many passes
// over the value (plus a constant), however the keys overlap.
const secretBudget = 16

func findSecrets(s string, dst []Match) []Match {
	n := len(s)
	var stops stopCache
	budget := secretBudget*n + secretSlack
	nextColon, nextEq := -1, -1 // next ':' and '=' at or after i; n when none
	for i := 0; i < n; i++ {
		// Jump to the next ':' or '=' with the vectorised IndexByte.
		if nextColon < i {
			nextColon = indexFrom(s, ':', i)
		}
		if nextEq < i {
			nextEq = indexFrom(s, '=', i)
		}
		if i = min(nextColon, nextEq); i >= n {
			break
		}
		c := s[i]
		if i+1 < n && s[i+1] == c {
			i++ // "==", "::"
			continue
		}
		if c == ':' && i+2 < n && s[i+1] == '/' && s[i+2] == '/' {
			if st, e := urlPassword(s, i+3); e > 0 {
				dst = append(dst, Match{Kind: Secret, Start: st, End: e})
				i = e - 1
			}
			continue
		}
		ke := i
		for ke > 0 && i-ke < 3 && s[ke-1] == ' ' {
			ke--
		}
		if ke > 0 && (s[ke-1] == '"' || s[ke-1] == '\'') {
			ke--
			if ke > 0 && s[ke-1] == '\\' {
				ke--
			}
		}
		ks := ke
		for ks > 0 && ke-ks < maxKeyLen && isKeyByte(s[ks-1]) {
			ks--
		}
		if ks == ke {
			continue
		}
		ok, auth := secretKey(s[ks:ke])
		if !ok {
			continue
		}
		st, e, ok := secretValue(s, i+1, auth, &stops)
		if budget -= e - st; budget < 0 {
			// Fail closed: a value this dense with overlapping key=value
			// candidates is masked from here to the end of its string.
			end := n
			if q := unescapedQuote(s, st, n); q >= 0 {
				end = q
			}
			if end > st {
				dst = append(dst, Match{Kind: Secret, Start: st, End: end})
			}
			return dst
		}
		if ok {
			dst = append(dst, Match{Kind: Secret, Start: st, End: e})
			i = e - 1
		}
	}
	return dst
}

// indexFrom returns the index of the first c in s at or after i, or len(s).
func indexFrom(s string, c byte, i int) int {
	if k := strings.IndexByte(s[i:], c); k >= 0 {
		return i + k
	}
	return len(s)
}

// valueStop marks the bytes that end an unquoted value.
var valueStop = func() (t [256]bool) {
	for _, c := range []byte(" \t\r\n\"'\\,;&}])<>`") {
		t[c] = true
	}
	return t
}()

// stopCache remembers the first value-stop byte at or after a position.
// Every unquoted value starting before it ends there, so with positions
// that only grow the search costs linear time in all, however many keys
// ("token=a token=a ...") share one stretch of text.
type stopCache struct{ from, at int }

func (c *stopCache) next(s string, p int) int {
	if p < c.from || p > c.at || c.at == 0 {
		c.from, c.at = p, p
		for c.at < len(s) && !valueStop[s[c.at]] {
			c.at++
		}
	}
	return c.at
}

// secretValue returns the span of the value starting at p (after the
// separator) and whether it looks secret.
func secretValue(s string, p int, auth bool, stops *stopCache) (start, end int, ok bool) {
	n := len(s)
	for k := 0; k < 3 && p < n && (s[p] == ' ' || s[p] == '\t'); k++ {
		p++
	}
	if p >= n {
		return p, p, false
	}
	var quote byte
	escQuote := false
	switch {
	case s[p] == '"' || s[p] == '\'':
		quote = s[p]
		p++
	case s[p] == '\\' && p+1 < n && s[p+1] == '"' && isEscapingBackslash(s, p):
		quote, escQuote = '"', true
		p += 2
	case s[p] == '{' || s[p] == '[':
		return p, p, false
	}
	if auth {
		p = skipAuthScheme(s, p)
	}
	start = p
	if quote != 0 {
		for p < n {
			c := s[p]
			if c == '\\' {
				if escQuote && p+1 < n && s[p+1] == '"' {
					break
				}
				p += escapeLenAt(s, p)
				continue
			}
			if c == quote && !escQuote {
				break
			}
			if c == '\n' || c == '\r' {
				break
			}
			p++
		}
		p = min(p, n)
	} else {
		p = stops.next(s, p)
	}
	return start, p, looksSecret(s[start:p])
}

// skipAuthScheme skips "Bearer ", "Basic " and the like at p.
func skipAuthScheme(s string, p int) int {
	q := p
	for q < len(s) && q-p < 16 && isAlpha(s[q]) {
		q++
	}
	if q > p && q < len(s) && s[q] == ' ' {
		for _, w := range [...]string{"bearer", "basic", "token", "digest", "bot", "apikey", "key", "otp"} {
			if q-p == len(w) && hasSuffixFold(s[p:q], w) {
				return q + 1
			}
		}
	}
	return p
}

// urlPassword finds the password in the user information of a URL whose
// "://" ends just before p.
func urlPassword(s string, p int) (start, end int) {
	q := p
	for q < len(s) && q-p < 256 && strings.IndexByte("/?#@ \t\r\n\"'\\<>", s[q]) < 0 {
		q++
	}
	if q >= len(s) || s[q] != '@' {
		return -1, -1
	}
	c := strings.IndexByte(s[p:q], ':')
	if c < 0 {
		return -1, -1
	}
	start = p + c + 1
	if start == q || maskedOrTemplate(s[start:q]) {
		return -1, -1
	}
	return start, q
}

// maskedOrTemplate reports values that are masked already, in whole or in
// part, or are templates.
func maskedOrTemplate(v string) bool {
	for _, p := range [...]string{"${", "{{", "<", "%(", "$("} {
		if strings.HasPrefix(v, p) {
			return true
		}
	}
	return strings.Contains(v, "[REDACTED") || strings.Contains(v, "tok_") ||
		strings.Count(v, "*")*3 >= len(v)
}

// looksSecret applies the length, class and entropy tests.
func looksSecret(v string) bool {
	if len(v) < secretMinLen || maskedOrTemplate(v) {
		return false
	}
	var lowerC, upperC, digitC, otherC, letter bool
	var counts [256]uint16
	m := min(len(v), secretEntropyScan)
	for i := 0; i < m; i++ {
		c := v[i]
		counts[c]++
		switch {
		case isLower(c):
			lowerC, letter = true, true
		case isUpper(c):
			upperC = true
			letter = letter || (c != 'T' && c != 'Z')
		case isDigit(c):
			digitC = true
		default:
			otherC = true
		}
	}
	if !letter {
		return false
	}
	h := 0.0
	for _, k := range counts {
		if k != 0 {
			p := float64(k) / float64(m)
			h -= p * math.Log2(p)
		}
	}
	classes := 0
	for _, b := range [...]bool{lowerC, upperC, digitC, otherC} {
		if b {
			classes++
		}
	}
	return (h >= secretEntropy && (digitC || (upperC && lowerC))) ||
		(h >= secretEntropyMixed && classes >= 3)
}
