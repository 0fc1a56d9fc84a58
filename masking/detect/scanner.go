package detect

import "slices"

// Match is one detected value: v[Start:End] is of kind Kind.
type Match struct {
	Kind       Kind
	Start, End int
}

// Scanner runs a fixed set of detectors and masks what they find. Build it
// once with NewScanner; it is immutable and safe for concurrent use.
type Scanner struct {
	enabled   kindSet
	replacers [numKinds]*Replacer
}

// Shortest possible match of any detector ("a@b.co").
const minMatchLen = 6

// Find appends to dst the sensitive values in v and returns the extended
// slice. The appended matches are sorted by Start and do not overlap.
//
// Every enabled detector proposes candidates; candidates that overlap are
// merged into one match covering all of them, so that no byte any detector
// flagged is left out. The merged match takes the kind of its longest
// candidate; between equally long ones, the kind listed first by AllKinds.
// No match starts or ends inside a backslash escape sequence.
//
// Find does not allocate unless dst must grow.
func (s *Scanner) Find(v string, dst []Match) []Match {
	if len(v) < minMatchLen || s.enabled == 0 {
		return dst
	}
	sum := summarize(v)
	en := s.enabled
	base := len(dst)

	if en.has(kPEM) && sum.flags&(cDash|cUpper) == cDash|cUpper && len(v) >= len(pemBegin)+16 {
		dst = findPEM(v, dst)
	}
	if en&setOf(kJWT, kAPIKey) != 0 && sum.longTok {
		dst = findTokens(v, en, dst)
	}
	if en.has(kSecret) && sum.flags&(cColon|cEq) != 0 && sum.flags&(cUpper|cLower) != 0 {
		dst = findSecrets(v, dst)
	}
	if en.has(kEmail) && sum.flags&(cAt|cBackslash) != 0 {
		dst = findEmails(v, sum.flags, dst)
	}
	if want := numericWanted(en, &sum, len(v)); want != 0 {
		dst = findNumeric(v, want, sum.flags&cBackslash != 0, dst)
	}
	if en.has(kIPv6) && sum.flags&cColon != 0 {
		dst = findIPv6(v, dst)
	}
	if len(dst) == base {
		return dst
	}
	n := resolve(v, dst[base:])
	return dst[:base+n]
}

// numericWanted gates the number-shaped detectors on the digit count.
func numericWanted(en kindSet, sum *summary, n int) kindSet {
	d := sum.digits
	if d < 4 {
		return 0
	}
	var w kindSet
	if en.has(kCard) && d >= 13 {
		w |= 1 << kCard
	}
	if en.has(kSSN) && d >= 9 {
		w |= 1 << kSSN
	}
	if en.has(kPhone) && (d >= 10 || (d >= 8 && sum.flags&cPlus != 0)) {
		w |= 1 << kPhone
	}
	if en.has(kIPv4) && sum.flags&cDot != 0 {
		w |= 1 << kIPv4
	}
	if en.has(kIBAN) && d >= 6 && n >= 15 && sum.flags&cUpper != 0 {
		w |= 1 << kIBAN
	}
	return w
}

// resolve fixes escapes, sorts and merges the candidates in ms in place and
// returns how many matches remain at its front.
func resolve(v string, ms []Match) int {
	w := 0
	for _, m := range ms {
		if m = fixEscapes(v, m); m.Start < m.End {
			ms[w] = m
			w++
		}
	}
	ms = ms[:w]
	slices.SortFunc(ms, func(a, b Match) int { return a.Start - b.Start })
	out := 0
	for i := 0; i < len(ms); {
		best := ms[i]
		start, end := best.Start, best.End
		j := i + 1
		for ; j < len(ms) && ms[j].Start < end; j++ {
			if better(ms[j], best) {
				best = ms[j]
			}
			end = max(end, ms[j].End)
		}
		ms[out] = Match{Kind: best.Kind, Start: start, End: end}
		out++
		i = j
	}
	return out
}

// better reports whether candidate a names a merged match rather than b.
func better(a, b Match) bool {
	la, lb := a.End-a.Start, b.End-b.Start
	if la != lb {
		return la > lb
	}
	ia, _ := indexOf(a.Kind)
	ib, _ := indexOf(b.Kind)
	return ia < ib
}
