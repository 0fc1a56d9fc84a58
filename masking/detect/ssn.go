package detect

// US Social Security numbers (kind "ssn").
//
// Matched: ddd-dd-dddd or ddd dd dddd (one separator kind), and nine
// contiguous digits only when "ssn" or "social" (any case) appears in the
// 48 bytes before them, as in {"ssn":"123456789"} or "SSN 123456789": bare
// nine-digit numbers are far more often IDs, amounts or ZIP+4 codes.
//
// Not matched: area 000, 666 or 900-999; group 00; serial 0000; a number
// inside a larger token (see card.go for the boundary rules).

const ssnHintWindow = 48

func parseSSN(s string, i int) int {
	if allDigits(s, i, 3) && i+11 <= len(s) {
		sep := s[i+3]
		if (sep == '-' || sep == ' ') && allDigits(s, i+4, 2) && s[i+6] == sep && allDigits(s, i+7, 4) {
			e := i + 11
			if numEndOK(s, e) && ssnValid(s[i:i+3], s[i+4:i+6], s[i+7:i+11]) {
				return e
			}
			return -1
		}
	}
	e := digitRun(s, i)
	if e-i == 9 && numEndOK(s, e) && ssnValid(s[i:i+3], s[i+3:i+5], s[i+5:i+9]) && ssnHint(s, i) {
		return e
	}
	return -1
}

func ssnValid(area, group, serial string) bool {
	if area == "000" || area == "666" || area[0] == '9' {
		return false
	}
	return group != "00" && serial != "0000"
}

func ssnHint(s string, i int) bool {
	w := s[max(0, i-ssnHintWindow):i]
	return containsFold(w, "ssn") || containsFold(w, "social")
}
