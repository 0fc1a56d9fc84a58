package detect

// Phone numbers (kind "phone").
//
// Matched:
//   - E.164 and international style: '+', a first digit 1-9, then groups of
//     digits separated by single spaces, dashes or dots, optionally one
//     parenthesised group such as "(0)"; 8 to 15 digits in all.
//     "+14155552671", "+44 20 7946 0958", "+1 (415) 555-2671".
//   - North American: "(415) 555-2671", "(415)555-2671", "415-555-2671",
//     "415.555.2671", "415 555 2671", "415 555-2671", optionally after "1-",
//     "1 " or "1."; area code and exchange start with 2-9.
//   - National numbers with a trunk 0: two to six groups of 2-6 digits
//     separated by single spaces, 10 or 11 digits in all, the second digit
//     not 0 ("020 7946 0958", "01 23 45 67 89", "07700 900123"), or the
//     French dotted form "01.23.45.67.89".
//
// Not matched: undelimited national numbers ("4155552671": an integer, an
// ID), dates and times, numbers inside larger tokens (card.go has the
// boundary rules), "+" followed by fewer than 8 digits (time zones).

func parsePhone(s string, i int) int {
	switch c := s[i]; {
	case c == '+':
		return parseE164(s, i)
	case c == '(':
		return parseNANP(s, i)
	case c == '0':
		return parseTrunk(s, i)
	case c == '1':
		if i+2 < len(s) {
			if sep := s[i+1]; sep == '-' || sep == ' ' || sep == '.' {
				return parseNANP(s, i+2)
			}
		}
		return -1
	default:
		return parseNANP(s, i)
	}
}

func parseNANP(s string, i int) int {
	n := len(s)
	var p int
	var sep1 byte
	if s[i] == '(' {
		if !allDigits(s, i+1, 3) || i+4 >= n || s[i+4] != ')' {
			return -1
		}
		if s[i+1] < '2' {
			return -1
		}
		p = i + 5
		if p < n && s[p] == ' ' {
			p++
		}
		sep1 = '('
	} else {
		if !allDigits(s, i, 3) || i+3 >= n || s[i] < '2' {
			return -1
		}
		sep1 = s[i+3]
		if sep1 != '-' && sep1 != '.' && sep1 != ' ' {
			return -1
		}
		p = i + 4
	}
	if !allDigits(s, p, 3) || p+3 >= n || s[p] < '2' {
		return -1
	}
	sep2 := s[p+3]
	switch sep1 {
	case '(':
		if sep2 != '-' && sep2 != '.' && sep2 != ' ' {
			return -1
		}
	case ' ':
		if sep2 != ' ' && sep2 != '-' {
			return -1
		}
	default:
		if sep2 != sep1 {
			return -1
		}
	}
	p += 4
	if !allDigits(s, p, 4) || !numEndOK(s, p+4) {
		return -1
	}
	return p + 4
}

func parseE164(s string, i int) int {
	n := len(s)
	p := i + 1
	if p >= n || s[p] < '1' || s[p] > '9' {
		return -1
	}
	total, units, best := 0, 0, -1
	for units < 7 && p < n {
		if s[p] == '(' {
			q := digitRun(s, p+1)
			l := q - p - 1
			if l == 0 || l > 4 || q >= n || s[q] != ')' {
				break
			}
			total += l
			units++
			p = q + 1
			if p+1 < n && s[p] == ' ' && isDigit(s[p+1]) {
				p++
			}
			if p >= n || !isDigit(s[p]) {
				break
			}
			continue
		}
		if !isDigit(s[p]) {
			break
		}
		q := digitRun(s, p)
		total += q - p
		units++
		p = q
		if total > 15 {
			break
		}
		if total >= 8 && numEndOK(s, p) {
			best = p
		}
		if p+1 < n && (s[p] == ' ' || s[p] == '-' || s[p] == '.') && (isDigit(s[p+1]) || s[p+1] == '(') {
			p++
		}
	}
	return best
}

func parseTrunk(s string, i int) int {
	n := len(s)
	if i+1 >= n || !isDigit(s[i+1]) || s[i+1] == '0' {
		return -1
	}
	var sep byte
	total, groups, best := 0, 0, -1
	pairs := true
	p := i
	for groups < 6 {
		q := digitRun(s, p)
		l := q - p
		if l < 2 || l > 6 {
			break
		}
		pairs = pairs && l == 2
		total += l
		groups++
		p = q
		if total > 11 {
			break
		}
		if groups >= 2 && total >= 10 && numEndOK(s, p) && (sep != '.' || (pairs && total == 10)) {
			best = p
		}
		if p+1 < n && (s[p] == ' ' || s[p] == '.') && (sep == 0 || sep == s[p]) && isDigit(s[p+1]) {
			sep = s[p]
			p++
			continue
		}
		break
	}
	return best
}
