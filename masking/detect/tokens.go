package detect

// JWTs and API keys are long runs of token bytes ([A-Za-z0-9_.-]). One pass
// visits each such run once and tries the enabled token detectors at its
// start; a run shorter than minTokenLen is skipped whole.

// minTokenLen is the shortest JWT or API key ("xoxb-" and 10 bytes).
const minTokenLen = 15

func findTokens(s string, want kindSet, dst []Match) []Match {
	n := len(s)
	for i := 0; i < n; {
		if !isTokByte(s[i]) {
			i++
			continue
		}
		// The tail of an escape sequence (the n of \n) is not part of the run.
		if i > 0 && s[i-1] == '\\' && isEscapingBackslash(s, i-1) {
			i += escapeLenAt(s, i-1) - 1
			continue
		}
		j := i + 1
		for j < n && isTokByte(s[j]) {
			j++
		}
		if j-i >= minTokenLen {
			if want.has(kJWT) {
				if e := parseJWT(s, i, j); e > 0 {
					dst = append(dst, Match{Kind: JWT, Start: i, End: e})
					i = j
					continue
				}
			}
			if want.has(kAPIKey) {
				if e := parseAPIKey(s, i, j); e > 0 {
					dst = append(dst, Match{Kind: APIKey, Start: i, End: e})
				}
			}
		}
		i = j
	}
	return dst
}
