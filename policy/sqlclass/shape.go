package sqlclass

import (
	"strings"
	"unicode/utf8"
)

// Markers stand in for constants in a shape. Outside a string constant,
// accepted text never holds a control byte other than whitespace (not
// even in a quoted identifier), so a marker cannot be confused with text;
// and since a marker is one byte and every constant at least one, a
// shape is never longer than its text, and Shape allocates exactly once.
const (
	stringMarker  = '\x01' // a string constant: SCONST
	integerMarker = '\x02' // an integer that fits in int32: ICONST
	numericMarker = '\x03' // any other number: FCONST
)

// Shape returns sql with each constant replaced by a one-byte marker, so
// that statements differing only in their constants, such as pgbench's
// "SELECT abalance FROM pgbench_accounts WHERE aid = 48213;", share a
// shape and can share a cached classification.
//
// The promise: two texts with the same shape scan, under PostgreSQL's
// lexer, to the same tokens except for the values of string, integer and
// numeric constants, and parse to the same raw tree except for those
// values and byte locations (statement lengths included). Everything but
// the constants, whitespace included, is kept byte for byte. A string
// constant becomes 0x01, an integer that fits in int32 (which the lexer
// makes an ICONST) 0x02, and any other number (an FCONST: decimals,
// exponents, larger integers) 0x03; the three parse to different nodes.
//
// ok is false, and the caller must fall back to the exact text, whenever
// sql leaves the small subset Shape understands for certain:
//
//   - whitespace: space, \t, \n, \r, \f, \v (scan.l's {space});
//   - unquoted identifiers and keywords of ASCII letters, digits, _ and $,
//     not directly followed by a quote (E'x', B'01', X'1F', N'x',
//     date'2024-01-01'), not a lone u or U directly followed by & (U&'x',
//     U&"x"), and never FLOAT or STATISTICS, in the grammar rules found
//     to read a constant's value (float(p) is float4 or float8 by p, and
//     ALTER ... ALTER COLUMN n SET STATISTICS fails unless n > 0);
//   - quoted identifiers "..." with doubled double quotes, of printable
//     ASCII or valid UTF-8;
//   - string constants '...' with doubled quotes, of any bytes but NUL and
//     backslash (whose meaning depends on standard_conforming_strings)
//     forming valid UTF-8, not followed by whitespace and another '
//     (which would continue the same constant);
//   - numbers: digits, digits.digits, .digits and digits., each with an
//     optional exponent e[+-]digits, not directly followed by a letter,
//     digit, _, $, a non-ASCII byte or a dot (123abc, 0x1F, 1_000, 1e,
//     1..2 and 1.2.3 are refused: PostgreSQL versions lex them
//     differently or not at all);
//   - parameters $1 .. $2147483647, not directly followed by an
//     identifier character; any other $ (dollar quoting) is refused;
//   - the operator and punctuation characters , ( ) [ ] . : ; + - * / %
//     ^ < > = ~ ! @ # & | ` ?, except where they start a comment (-- or
//     /*: comments are refused) and in runs of 64 or more operator
//     characters (an operator that long is an error);
//   - at most one statement: a ; may be followed only by whitespace.
//
// Anything else is refused: NUL and other control bytes, non-ASCII bytes
// outside quotes, invalid UTF-8, \ { } and unterminated quotes. Shape
// runs in time linear in len(sql) and, when sql has constants, makes one
// allocation (none otherwise: the shape is then sql itself).
//
// A shared shape is not a shared meaning. A caller that reuses work by
// shape must still apply its own limits to the exact text (its length
// differs), must recompute anything derived from byte positions, and may
// reuse only results that do not depend on a constant's value: EXPLAIN
// (ANALYZE 'off') and EXPLAIN (ANALYZE 'on') share a shape.
func Shape(sql string) (shape string, ok bool) {
	lx := shapeLexer{sql: sql}
	var b strings.Builder
	last := 0
	for {
		lit, step := lx.next()
		switch step {
		case shapeRefused:
			return "", false
		case shapeDone:
			if b.Cap() == 0 {
				return sql, true
			}
			b.WriteString(sql[last:])
			return b.String(), true
		}
		if b.Cap() == 0 {
			b.Grow(len(sql))
		}
		b.WriteString(sql[last:lit.start])
		b.WriteByte(lit.marker)
		last = lit.end
	}
}

// AppendShape appends the shape of sql (see Shape) to dst. If sql is
// outside the accepted subset it returns dst unchanged and false.
func AppendShape(dst []byte, sql string) ([]byte, bool) {
	lx := shapeLexer{sql: sql}
	out := dst
	last := 0
	for {
		lit, step := lx.next()
		switch step {
		case shapeRefused:
			return dst, false
		case shapeDone:
			return append(out, sql[last:]...), true
		}
		out = append(out, sql[last:lit.start]...)
		out = append(out, lit.marker)
		last = lit.end
	}
}

// shapeLexer walks SQL text the way PostgreSQL's scan.l does, for the
// subset Shape accepts, stopping at each constant.
type shapeLexer struct {
	sql string
	pos int
}

// shapeLiteral is one constant: sql[start:end] becomes marker.
type shapeLiteral struct {
	start, end int
	marker     byte
}

type shapeStep uint8

const (
	shapeLiteralFound shapeStep = iota
	shapeDone                   // the end of accepted text
	shapeRefused                // text outside the accepted subset
)

// Byte classes of the text outside quotes.
const (
	clsRefused     uint8 = iota // anything not listed: refused
	clsSpace                    // [ \t\n\r\f\v]
	clsLetter                   // [A-Za-z_]: starts an identifier
	clsDigit                    // [0-9]
	clsPunct                    // , ( ) [ ] :
	clsOperator                 // scan.l's op_chars
	clsDot                      // .
	clsSemicolon                // ;
	clsQuote                    // '
	clsDoubleQuote              // "
	clsDollar                   // $
)

var byteClass = func() (t [256]uint8) {
	for _, c := range []byte(" \t\n\r\f\v") {
		t[c] = clsSpace
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = clsLetter
		t[c-'a'+'A'] = clsLetter
	}
	t['_'] = clsLetter
	for c := '0'; c <= '9'; c++ {
		t[c] = clsDigit
	}
	for _, c := range []byte(",()[]:") {
		t[c] = clsPunct
	}
	for _, c := range []byte("~!@#^&|`?+-*/%<>=") {
		t[c] = clsOperator
	}
	t['.'] = clsDot
	t[';'] = clsSemicolon
	t['\''] = clsQuote
	t['"'] = clsDoubleQuote
	t['$'] = clsDollar
	return t
}()

// identASCII holds the ASCII bytes of scan.l's ident_cont.
var identASCII = func() (t [256]bool) {
	for c := range t {
		t[c] = byteClass[c] == clsLetter || byteClass[c] == clsDigit || c == '$'
	}
	return t
}()

// identCont reports whether c may continue an identifier (scan.l's
// ident_cont, which also admits bytes 0x80-0xff).
func identCont(c byte) bool {
	return identASCII[c] || c >= 0x80
}

// next scans to the next constant and returns it, or reports the end of
// the text or that the text is refused.
func (lx *shapeLexer) next() (shapeLiteral, shapeStep) {
	sql := lx.sql
	for lx.pos < len(sql) {
		c := sql[lx.pos]
		switch byteClass[c] {
		case clsSpace, clsPunct:
			lx.pos++
		case clsLetter:
			if !lx.identifier() {
				return shapeLiteral{}, shapeRefused
			}
		case clsDigit:
			return lx.number()
		case clsDot:
			switch {
			case lx.pos+1 < len(sql) && sql[lx.pos+1] == '.':
				lx.pos += 2 // DOT_DOT, which a following digit does not join
			case lx.pos+1 < len(sql) && byteClass[sql[lx.pos+1]] == clsDigit:
				return lx.number()
			default:
				lx.pos++
			}
		case clsOperator:
			if !lx.operator() {
				return shapeLiteral{}, shapeRefused
			}
		case clsQuote:
			return lx.stringConstant()
		case clsDoubleQuote:
			if !lx.quotedIdentifier() {
				return shapeLiteral{}, shapeRefused
			}
		case clsDollar:
			if !lx.param() {
				return shapeLiteral{}, shapeRefused
			}
		case clsSemicolon:
			for lx.pos++; lx.pos < len(sql); lx.pos++ {
				if byteClass[sql[lx.pos]] != clsSpace {
					return shapeLiteral{}, shapeRefused
				}
			}
		default:
			return shapeLiteral{}, shapeRefused
		}
	}
	return shapeLiteral{}, shapeDone
}

// identifier scans an unquoted identifier or keyword.
func (lx *shapeLexer) identifier() bool {
	sql, start := lx.sql, lx.pos
	pos := start + 1
	for pos < len(sql) && identASCII[sql[pos]] {
		pos++
	}
	lx.pos = pos
	word := sql[start:pos]
	if pos < len(sql) {
		switch sql[pos] {
		case '\'':
			return false // a prefixed string: E'', B'', X'', N'', or a typed literal
		case '&':
			if word == "u" || word == "U" {
				return false // U&'' or U&""
			}
		}
		// A non-ASCII byte would continue the identifier; the caller
		// refuses it.
	}
	switch len(word) {
	case len("float"):
		return !strings.EqualFold(word, "float")
	case len("statistics"):
		return !strings.EqualFold(word, "statistics")
	}
	return true
}

// operator scans a run of operator characters, which the lexer splits
// into one or more operators.
func (lx *shapeLexer) operator() bool {
	sql, start := lx.sql, lx.pos
	for ; lx.pos < len(sql) && byteClass[sql[lx.pos]] == clsOperator; lx.pos++ {
		if lx.pos+1 < len(sql) {
			if pair := sql[lx.pos : lx.pos+2]; pair == "--" || pair == "/*" {
				return false // a comment
			}
		}
	}
	return lx.pos-start < maxOperatorRun
}

// maxOperatorRun bounds a run of operator characters: an operator of
// NAMEDATALEN (64) bytes or more is a lexer error.
const maxOperatorRun = 64

// number scans a numeric constant starting at a digit, or at a dot
// followed by a digit.
func (lx *shapeLexer) number() (shapeLiteral, shapeStep) {
	sql, start := lx.sql, lx.pos
	lx.digits()
	integer := true
	if lx.pos < len(sql) && sql[lx.pos] == '.' {
		integer = false
		lx.pos++
		lx.digits()
	}
	if lx.pos < len(sql) && sql[lx.pos]|0x20 == 'e' {
		p := lx.pos + 1
		if p < len(sql) && (sql[p] == '+' || sql[p] == '-') {
			p++
		}
		if p < len(sql) && byteClass[sql[p]] == clsDigit {
			integer = false
			lx.pos = p
			lx.digits()
		}
	}
	if lx.pos < len(sql) && (identCont(sql[lx.pos]) || sql[lx.pos] == '.') {
		return shapeLiteral{}, shapeRefused // trailing junk, 0x.., 1_000, 1..2
	}
	lit := shapeLiteral{start: start, end: lx.pos, marker: numericMarker}
	if integer && fitsInt32(sql[start:lx.pos]) {
		lit.marker = integerMarker
	}
	return lit, shapeLiteralFound
}

func (lx *shapeLexer) digits() {
	for lx.pos < len(lx.sql) && byteClass[lx.sql[lx.pos]] == clsDigit {
		lx.pos++
	}
}

// fitsInt32 reports whether a string of decimal digits is at most
// 2147483647, as the lexer decides between ICONST and FCONST.
func fitsInt32(digits string) bool {
	digits = strings.TrimLeft(digits, "0")
	return len(digits) < 10 || len(digits) == 10 && digits <= "2147483647"
}

// param scans a positional parameter $n.
func (lx *shapeLexer) param() bool {
	lx.pos++
	start := lx.pos
	lx.digits()
	if lx.pos == start || !fitsInt32(lx.sql[start:lx.pos]) {
		return false // dollar quoting, or "parameter number too large"
	}
	return lx.pos == len(lx.sql) || !identCont(lx.sql[lx.pos])
}

// stringConstant scans a standard-conforming string constant.
func (lx *shapeLexer) stringConstant() (shapeLiteral, shapeStep) {
	sql, start := lx.sql, lx.pos
	for lx.pos++; lx.pos < len(sql); {
		switch c := sql[lx.pos]; {
		case c == '\'':
			if lx.pos+1 < len(sql) && sql[lx.pos+1] == '\'' {
				lx.pos += 2
				continue
			}
			lx.pos++
			// A string followed by whitespace with a newline and another
			// string is one constant; refuse any whitespace and quote.
			p := lx.pos
			for p < len(sql) && byteClass[sql[p]] == clsSpace {
				p++
			}
			if p < len(sql) && sql[p] == '\'' {
				return shapeLiteral{}, shapeRefused
			}
			return shapeLiteral{start: start, end: lx.pos, marker: stringMarker}, shapeLiteralFound
		case c == '\\' || c == 0:
			return shapeLiteral{}, shapeRefused
		case c >= 0x80:
			if !lx.validRune() {
				return shapeLiteral{}, shapeRefused
			}
		default:
			lx.pos++
		}
	}
	return shapeLiteral{}, shapeRefused // unterminated
}

// quotedIdentifier scans a "quoted identifier", which the shape keeps.
func (lx *shapeLexer) quotedIdentifier() bool {
	sql := lx.sql
	lx.pos++
	start := lx.pos
	for lx.pos < len(sql) {
		switch c := sql[lx.pos]; {
		case c == '"':
			if lx.pos+1 < len(sql) && sql[lx.pos+1] == '"' {
				lx.pos += 2
				continue
			}
			empty := lx.pos == start // "zero-length delimited identifier"
			lx.pos++
			return !empty
		case c < 0x20 || c == 0x7f:
			return false // a control byte, which might be taken for a marker
		case c >= 0x80:
			if !lx.validRune() {
				return false
			}
		default:
			lx.pos++
		}
	}
	return false // unterminated
}

// validRune steps over one multi-byte UTF-8 character, reporting false if
// the bytes at lx.pos are not one.
func (lx *shapeLexer) validRune() bool {
	r, size := utf8.DecodeRuneInString(lx.sql[lx.pos:])
	if r == utf8.RuneError && size <= 1 {
		return false
	}
	lx.pos += size
	return true
}
