package detect

import "strings"

// maxRounds bounds how often Mask rescans its own output.
const maxRounds = 4

// Mask replaces every match in v by its kind's strategy and adds the
// matches to counts (which may be nil). changed is false, and out is v
// itself, when nothing was found; a value with nothing to mask costs no
// allocation. null is true when a match's strategy is StrategyNull: the
// caller must then send SQL NULL instead of the value, and out is empty.
//
// Replacing a value changes what its neighbours touch (a phone number glued
// to an e-mail address stands alone once the address is replaced), so Mask
// scans its own output again and masks what that finds, until a scan
// changes nothing (at most maxRounds scans). A match whose replacement is
// itself (shape of "xxxx@xxx.xxx") does not count again. So masking the
// output of Mask again changes nothing (FuzzMask checks it).
//
// The output of a JSON document is still valid JSON: replacements contain
// no quote, backslash or control character, never split an escape sequence,
// and a match that is a bare JSON number inside an object or array (an
// unquoted card number, say) is replaced by a quoted string. PostgreSQL
// array and composite literals stay valid in the same way. A value that is
// nothing but a number is masked as text: it cannot be told apart from a
// JSON document whose top level is a number, and text is by far the more
// common (row_to_json and json_agg always build objects or arrays).
func (s *Scanner) Mask(v string, counts *Counts) (out string, changed, null bool) {
	return s.mask(v, counts, "")
}

// Withheld stands, in text masked by MaskText, for a value whose strategy
// is null.
const Withheld = "[withheld]"

// MaskText is Mask for text that has no NULL, such as a command's output:
// a value whose strategy is null is replaced by Withheld rather than
// withholding the whole text. changed is false, and out is v, when nothing
// was found.
func (s *Scanner) MaskText(v string, counts *Counts) (out string, changed bool) {
	out, changed, _ = s.mask(v, counts, Withheld)
	return out, changed
}

func (s *Scanner) mask(v string, counts *Counts, nullText string) (out string, changed, null bool) {
	var buf [8]Match
	ms := s.Find(v, buf[:0])
	if len(ms) == 0 {
		return v, false, false
	}
	out = v
	for round := 0; len(ms) > 0 && round < maxRounds; round++ {
		next, n, isNull := s.replace(out, ms, counts, round > 0, nullText)
		if isNull {
			return "", true, true
		}
		if n == 0 {
			break
		}
		out = next
		ms = s.Find(out, ms[:0])
	}
	return out, true, false
}

// replace masks the matches ms of v and returns the result and how many
// matches changed the text. With skipSame, a match whose replacement equals
// its text is neither counted nor reported.
// A null strategy's match withholds the whole value, unless nullText is
// set: the match is then replaced by it.
func (s *Scanner) replace(v string, ms []Match, counts *Counts, skipSame bool, nullText string) (string, int, bool) {
	size := len(v)
	for _, m := range ms {
		if i, _ := indexOf(m.Kind); s.replacers[i].Null() && nullText == "" {
			if counts != nil {
				for _, m := range ms {
					i, _ := indexOf(m.Kind)
					counts.n[i]++
				}
			}
			return "", len(ms), true
		}
		size += 32
	}
	var b strings.Builder
	b.Grow(size)
	last, n := 0, 0
	var q quoteCounter
	for _, m := range ms {
		i, _ := indexOf(m.Kind)
		b.WriteString(v[last:m.Start])
		at := b.Len()
		if s.replacers[i].Null() {
			b.WriteString(nullText)
		} else {
			quote := bareNumber(v, m, &q)
			if quote {
				b.WriteByte('"')
			}
			s.replacers[i].write(&b, m.Kind, v[m.Start:m.End], gluedAfter(v, m.End))
			if quote {
				b.WriteByte('"')
			}
		}
		last = m.End
		if skipSame && b.String()[at:] == v[m.Start:m.End] {
			continue
		}
		n++
		if counts != nil {
			counts.n[i]++
		}
	}
	b.WriteString(v[last:])
	return b.String(), n, false
}

// bareNumber reports whether m is all digits and stands where a JSON
// number, or an unquoted element of a PostgreSQL array or composite
// literal, stands: between structural characters and outside any JSON
// string. Its replacement must then be quoted to keep the document valid.
// q carries the quote count between calls on increasing positions.
func bareNumber(v string, m Match, q *quoteCounter) bool {
	for i := m.Start; i < m.End; i++ {
		if !isDigit(v[i]) {
			return false
		}
	}
	p := m.Start - 1
	for p >= 0 && isJSONSpace(v[p]) {
		p--
	}
	if p < 0 || strings.IndexByte(":[,{(", v[p]) < 0 {
		return false
	}
	e := m.End
	for e < len(v) && isJSONSpace(v[e]) {
		e++
	}
	if e >= len(v) || strings.IndexByte(",]})", v[e]) < 0 {
		return false
	}
	// Outside a JSON string: an even number of unescaped quotes before it.
	return q.before(v, m.Start)%2 == 0
}

// quoteCounter counts unescaped '"' in a prefix of v that only grows.
type quoteCounter struct{ pos, n int }

func (q *quoteCounter) before(v string, p int) int {
	for q.pos < p {
		k := strings.IndexByte(v[q.pos:p], '"')
		if k < 0 {
			q.pos = p
			break
		}
		i := q.pos + k
		if i == 0 || !isEscapingBackslash(v, i-1) {
			q.n++
		}
		q.pos = i + 1
	}
	return q.n
}

// gluedAfter reports whether the text at e continues a token ([A-Za-z0-9_.-],
// but not a lone '.' ending a sentence).
func gluedAfter(v string, e int) bool {
	if e >= len(v) || !isTokByte(v[e]) {
		return false
	}
	return v[e] != '.' || (e+1 < len(v) && isTokByte(v[e+1]))
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
