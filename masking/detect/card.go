package detect

// Card numbers (kind "card").
//
// A card number is 13 to 19 digits passing the Luhn check, written either
//   - contiguous ("4111111111111111"), which must also start with a known
//     issuer prefix (IIN) valid for its length: Visa, Mastercard, American
//     Express, Discover, JCB, Diners Club, UnionPay, Mir, Maestro; or
//   - grouped with single spaces or single dashes (one kind per number) as
//     4-4-4-4, 4-4-4-4-1..3, 4-4-4-1..3, 4-6-5 (Amex) or 4-6-4 (Diners).
//     The grouping is itself strong evidence, so the IIN is not required.
//
// Like every number-shaped detector it does not match inside a larger
// token: not after a letter, digit, '_', '.', '-' or '+', not before a
// letter, digit or '_', not before '.' or '-' followed by a digit. A run
// of more than 19 digits is not a card. A grouped number followed by
// another group ("4111 1111 1111 1111 2025") matches its longest valid
// prefix.

func parseCard(s string, i int) int {
	j := digitRun(s, i)
	run := j - i
	if run >= 13 {
		if run > 19 || !numEndOK(s, j) || !luhn(s[i:j]) || !knownIIN(s[i:j]) {
			return -1
		}
		return j
	}
	if run != 4 || j+1 >= len(s) {
		return -1
	}
	sep := s[j]
	if sep != ' ' && sep != '-' {
		return -1
	}
	var digits [19]byte
	var ends [5]int
	var sizes [5]int
	copy(digits[:], s[i:j])
	nd, ng := 4, 1
	ends[0], sizes[0] = j, 4
	for ng < 5 && j+1 < len(s) && s[j] == sep && isDigit(s[j+1]) {
		k := digitRun(s, j+1)
		l := k - j - 1
		if l > 6 || nd+l > 19 {
			break
		}
		copy(digits[nd:], s[j+1:k])
		nd += l
		ends[ng], sizes[ng] = k, l
		ng++
		j = k
	}
	total := nd
	for g := ng; g >= 3; g-- {
		if total >= 13 && cardLayout(sizes[:g]) && numEndOK(s, ends[g-1]) &&
			luhn(digits[:total]) {
			return ends[g-1]
		}
		total -= sizes[g-1]
	}
	return -1
}

// cardLayout reports the groupings card numbers are printed in.
func cardLayout(g []int) bool {
	if len(g) == 3 {
		return g[0] == 4 && g[1] == 6 && (g[2] == 5 || g[2] == 4)
	}
	for _, n := range g[:len(g)-1] {
		if n != 4 {
			return false
		}
	}
	last := g[len(g)-1]
	return last >= 1 && last <= 4
}

// luhn reports whether the digit string passes the Luhn check.
func luhn[T string | []byte](d T) bool {
	sum, dbl := 0, false
	for i := len(d) - 1; i >= 0; i-- {
		n := int(d[i] - '0')
		if dbl {
			n *= 2
			if n > 9 {
				n -= 9
			}
		}
		sum += n
		dbl = !dbl
	}
	return sum%10 == 0
}

// knownIIN reports whether a contiguous number starts with an issuer prefix
// that issues numbers of its length.
func knownIIN(d string) bool {
	n := len(d)
	p2 := int(d[0]-'0')*10 + int(d[1]-'0')
	p3 := p2*10 + int(d[2]-'0')
	p4 := p3*10 + int(d[3]-'0')
	switch {
	case d[0] == '4': // Visa
		return n == 13 || n == 16 || n == 19
	case p2 >= 51 && p2 <= 55, p4 >= 2221 && p4 <= 2720: // Mastercard
		return n == 16
	case p2 == 34 || p2 == 37: // American Express
		return n == 15
	case p4 >= 2200 && p4 <= 2204: // Mir
		return n >= 16
	case p4 == 6011, p2 == 65, p3 >= 644 && p3 <= 649, // Discover
		p4 >= 3528 && p4 <= 3589, // JCB
		p2 == 62:                 // UnionPay
		return n >= 16
	case p3 >= 300 && p3 <= 305, p2 == 36, p2 == 38, p2 == 39: // Diners Club
		return n >= 14
	case p2 == 50, p2 >= 56 && p2 <= 69: // Maestro
		return n >= 13
	}
	return false
}
