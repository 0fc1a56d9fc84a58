package detect

// International bank account numbers (kind "iban").
//
// Matched: a country code from the registry below, two check digits 02-98
// and the BBAN in upper-case letters and digits, of exactly the country's
// length, passing the ISO 13616 mod-97 check; written contiguous
// ("GB82WEST12345698765432") or in groups of four separated by single
// spaces ("GB82 WEST 1234 5698 7654 32").
//
// Not matched: a wrong checksum or length, lower case, inside a larger
// token (a letter or digit right before or after). The prefilter skips
// values with fewer than six digits in all; every real IBAN has more (the
// check digits and a numeric account or bank code).

// ibanLengths is the IBAN registry's length per country.
var ibanLengths = func() (t [26][26]uint8) {
	for _, e := range []struct {
		cc string
		n  uint8
	}{
		{"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16},
		{"BG", 22}, {"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22},
		{"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DJ", 27}, {"DK", 18}, {"DO", 28}, {"EE", 20},
		{"EG", 29}, {"ES", 24}, {"FI", 18}, {"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22},
		{"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28},
		{"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30}, {"KW", 30},
		{"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20}, {"LV", 21},
		{"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MN", 20}, {"MR", 27},
		{"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18}, {"NO", 15}, {"OM", 23}, {"PK", 24},
		{"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"RU", 33},
		{"SA", 24}, {"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27},
		{"SO", 23}, {"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29},
		{"VA", 22}, {"VG", 24}, {"XK", 20}, {"YE", 30},
	} {
		t[e.cc[0]-'A'][e.cc[1]-'A'] = e.n
	}
	return t
}()

// parseIBAN parses an IBAN starting with the country code at s[i:i+2].
func parseIBAN(s string, i int) int {
	n := len(s)
	want := int(ibanLengths[s[i]-'A'][s[i+1]-'A'])
	if want == 0 || i+want > n || !allDigits(s, i+2, 2) {
		return -1
	}
	if check := int(s[i+2]-'0')*10 + int(s[i+3]-'0'); check < 2 || check > 98 {
		return -1
	}
	var buf [34]byte
	grouped := i+4 < n && s[i+4] == ' '
	cnt, p := 0, i
	for cnt < want {
		if grouped && cnt > 0 && cnt%4 == 0 {
			if p+1 >= n || s[p] != ' ' {
				return -1
			}
			p++
		}
		if p >= n {
			return -1
		}
		c := s[p]
		if !isUpper(c) && !isDigit(c) {
			return -1
		}
		buf[cnt] = c
		cnt++
		p++
	}
	if p < n && isAlnum(s[p]) {
		return -1
	}
	if ibanMod97(buf[:want]) != 1 {
		return -1
	}
	return p
}

// ibanMod97 computes the ISO 7064 mod 97-10 remainder of the rearranged
// IBAN: BBAN, then country code and check digits, letters as 10-35.
func ibanMod97(b []byte) int {
	r := 0
	add := func(c byte) {
		if isDigit(c) {
			r = (r*10 + int(c-'0')) % 97
		} else {
			r = (r*100 + int(c-'A') + 10) % 97
		}
	}
	for _, c := range b[4:] {
		add(c)
	}
	for _, c := range b[:4] {
		add(c)
	}
	return r
}
