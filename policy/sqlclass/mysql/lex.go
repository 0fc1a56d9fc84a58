package mysql

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/wardenhq/warden/policy/sqlclass"
)

// token is one lexical token of the input, as the parser's own tokenizer
// reads it, with its byte extent.
type token struct {
	typ        int
	val        string // decoded value (identifiers unquoted, strings unescaped)
	start, end int
}

// scanTokens runs the parser's tokenizer over text and returns every
// token, comments included (on an error, the tokens before it). Executable comments (/*! ... */, /*M! ... */)
// come back as plain COMMENT tokens: the caller decides what they hold.
func scanTokens(p *sqlparser.Parser, text string) (out []token, err *sqlclass.Error) {
	defer func() {
		if recover() != nil {
			err = sqlclass.NewUnparseableError(-1, "the MySQL tokenizer failed on this text")
		}
	}()
	tkn := p.NewStringTokenizer(text)
	tkn.SkipSpecialComments = true
	out = make([]token, 0, len(text)/5+4)
	for {
		pos := tkn.Pos
		for pos < len(text) && isBlank(text[pos]) {
			pos++
		}
		typ, val := tkn.Scan()
		switch typ {
		case 0:
			return out, nil
		case sqlparser.LEX_ERROR:
			return out, sqlclass.NewUnparseableError(pos, "invalid token (unclosed string, quoted identifier or comment, or a character MySQL's grammar does not allow here)")
		}
		if tkn.Pos <= pos {
			// The tokenizer did not move: never loop forever.
			return out, sqlclass.NewUnparseableError(pos, "tokenizer made no progress")
		}
		out = append(out, token{typ: typ, val: val, start: pos, end: tkn.Pos})
	}
}

// isBlank is the tokenizer's own notion of white space between tokens.
func isBlank(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

// execComment is an executable comment: /*! body */ (run by MySQL and
// MariaDB, by those at least the given version when one is given) or
// /*M! body */ (run by MariaDB only).
type execComment struct {
	start, end         int // the whole comment
	bodyStart, bodyEnd int // what the server runs
	mariaDBOnly        bool
	version            int // 0: unconditional
}

// runsOn reports whether a server executes the comment's body.
func (c execComment) runsOn(s server) bool {
	if c.mariaDBOnly && !s.mariaDB {
		return false
	}
	return c.version <= s.version
}

// server is what decides how executable comments are read.
type server struct {
	mariaDB bool
	version int // MySQL's comment form: 80036 for 8.0.36, 101106 for 10.11.6
}

// execComments finds the executable comments among the tokens and checks
// that every server would read them the same way apart from running or
// skipping their body.
func execComments(text string, toks []token) ([]execComment, *sqlclass.Error) {
	var out []execComment
	for _, t := range toks {
		if t.typ != sqlparser.COMMENT {
			continue
		}
		c := text[t.start:t.end]
		var hdr int
		var mariaDBOnly bool
		switch {
		case strings.HasPrefix(c, "/*!"):
			hdr = 3
		case strings.HasPrefix(c, "/*M!"), strings.HasPrefix(c, "/*m!"):
			hdr, mariaDBOnly = 4, true
		default:
			continue
		}
		ec := execComment{start: t.start, end: t.end, bodyEnd: t.end - 2, mariaDBOnly: mariaDBOnly}
		digits := 0
		for hdr+digits < len(c) && c[hdr+digits] >= '0' && c[hdr+digits] <= '9' {
			digits++
		}
		switch {
		case digits == 0:
		case (digits == 5 || (digits == 6 && mariaDBOnly)) && hdr+digits < len(c)-2 && isBlank(c[hdr+digits]):
			for _, d := range c[hdr : hdr+digits] {
				ec.version = ec.version*10 + int(d-'0')
			}
		default:
			return nil, sqlclass.NewUnsupportedError("versioned comment", t.start,
				"a version number must have five digits (six after /*M!) and be followed by a space; servers disagree on other forms")
		}
		ec.bodyStart = t.start + hdr + digits
		if ec.bodyEnd < ec.bodyStart || strings.Contains(text[ec.bodyStart:ec.bodyEnd], "/*") {
			return nil, sqlclass.NewUnsupportedError("versioned comment", t.start,
				"a comment nested in an executable comment is read differently by different servers")
		}
		out = append(out, ec)
	}
	return out, nil
}

// maxViews bounds the number of server readings one text is classified
// under.
const maxViews = 16

// views returns the distinct sets of executable comments that some server
// runs: for the configured server only, or, when it is unknown, for
// MySQL and MariaDB at every version threshold the comments name.
func views(comments []execComment, srv *server) ([][]bool, *sqlclass.Error) {
	var servers []server
	if srv != nil {
		servers = []server{*srv}
	} else {
		for _, maria := range []bool{false, true} {
			servers = append(servers, server{mariaDB: maria, version: 0})
			for _, c := range comments {
				if c.version > 0 && (maria || !c.mariaDBOnly) {
					servers = append(servers, server{mariaDB: maria, version: c.version})
				}
			}
		}
	}
	var out [][]bool
	seen := map[string]bool{}
	for _, s := range servers {
		run := make([]bool, len(comments))
		key := make([]byte, len(comments))
		for i, c := range comments {
			run[i] = c.runsOn(s)
			key[i] = '0'
			if run[i] {
				key[i] = '1'
			}
		}
		if seen[string(key)] {
			continue
		}
		seen[string(key)] = true
		out = append(out, run)
		if len(out) > maxViews {
			return nil, sqlclass.NewUnsupportedError("versioned comment", comments[0].start,
				fmt.Sprintf("the comments' versions give more than %d different readings", maxViews))
		}
	}
	return out, nil
}

// viewText is text as a server that runs the comments marked in run reads
// it: an executable comment's markers, or the whole comment when it is
// not run, become spaces, so byte offsets stay those of the input. blanks
// returns the blanked ranges, which no token may cross.
func viewText(text string, comments []execComment, run []bool) (string, [][2]int) {
	if len(comments) == 0 {
		return text, nil
	}
	b := []byte(text)
	var blanks [][2]int
	blank := func(from, to int) {
		for i := from; i < to; i++ {
			b[i] = ' '
		}
		blanks = append(blanks, [2]int{from, to})
	}
	for i, c := range comments {
		if run[i] {
			blank(c.start, c.bodyStart)
			blank(c.bodyEnd, c.end)
		} else {
			blank(c.start, c.end)
		}
	}
	return string(b), blanks
}

// piece is one statement's text range.
type piece struct {
	start, end int     // from its first token to its last
	parseEnd   int     // through its ';', or to the end of the text
	toks       []token // its tokens, comments excluded
}

// lexView tokenizes one reading of the text, checks it for constructs
// that servers could read differently from the parser, and splits it into
// statements at the top-level semicolons the tokenizer finds.
// toks, when not nil, are the tokens of text already scanned.
func lexView(p *sqlparser.Parser, text string, blanks [][2]int, toks []token) ([]piece, *sqlclass.Error) {
	if toks == nil {
		var err *sqlclass.Error
		if toks, err = scanTokens(p, text); err != nil {
			return nil, nameStatement(toks, err)
		}
	}
	var pieces []piece
	cur := piece{start: -1}
	for _, t := range toks {
		for _, bl := range blanks {
			if t.start < bl[1] && bl[0] < t.end {
				return nil, sqlclass.NewUnsupportedError("versioned comment", bl[0],
					"a string, identifier or comment crosses the end of an executable comment, so servers that run the comment and servers that skip it read different SQL")
			}
		}
		switch t.typ {
		case sqlparser.COMMENT:
			continue
		case sqlparser.STRING, sqlparser.NCHAR_STRING:
			if e := checkString(text, t); e != nil {
				return nil, e
			}
		case ';':
			if cur.start >= 0 {
				// The parser gets the ';' too: what ends a token (such
				// as "--", a comment only before a space or the end of
				// the text) must stay what the server sees.
				cur.parseEnd = t.end
				pieces = append(pieces, cur)
			}
			cur = piece{start: -1}
			continue
		}
		if cur.start < 0 {
			cur.start = t.start
		}
		cur.end = t.end
		if cur.toks == nil {
			cur.toks = make([]token, 0, len(toks))
		}
		cur.toks = append(cur.toks, t)
	}
	if cur.start >= 0 {
		cur.parseEnd = len(text)
		pieces = append(pieces, cur)
	}
	return pieces, nil
}

// checkString refuses a string literal whose extent depends on sql_mode:
// with NO_BACKSLASH_ESCAPES (or, for "...", ANSI_QUOTES) a backslash does
// not escape the quote after it, so the server would end the literal
// earlier than the parser did and read what follows as SQL.
func checkString(text string, t token) *sqlclass.Error {
	s := text[t.start:t.end]
	q := strings.IndexAny(s, `'"`)
	if q < 0 {
		return nil
	}
	quote := s[q]
	end := -1
	for i := q + 1; i < len(s); i++ {
		if s[i] != quote {
			continue
		}
		if i+1 < len(s) && s[i+1] == quote {
			i++
			continue
		}
		end = i + 1
		break
	}
	if end != len(s) {
		return sqlclass.NewUnsupportedError("string literal", t.start,
			`a backslash before a quote inside a string is read differently under sql_mode NO_BACKSLASH_ESCAPES or ANSI_QUOTES; write a quote as '' instead`)
	}
	return nil
}

// checkText refuses text the parser and a server could read differently
// before any tokenizing: a NUL byte and invalid UTF-8 (the classifier
// assumes a utf8mb4 connection; in a multi-byte character set such as
// GBK a byte sequence can swallow the backslash or quote after it).
func checkText(sql string) *sqlclass.Error {
	if i := strings.IndexByte(sql, 0); i >= 0 {
		return sqlclass.NewUnparseableError(i, "SQL contains a NUL byte")
	}
	if !utf8.ValidString(sql) {
		for i, r := range sql {
			if r == utf8.RuneError {
				if _, size := utf8.DecodeRuneInString(sql[i:]); size <= 1 {
					return sqlclass.NewUnparseableError(i, "SQL is not valid UTF-8")
				}
			}
		}
		return sqlclass.NewUnparseableError(-1, "SQL is not valid UTF-8")
	}
	return nil
}

// nameStatement turns a tokenizer error inside a statement MySQL has but
// the grammar does not cover (GRANT ... TO 'u'@'h' fails in the
// tokenizer already) into ErrUnsupported naming it.
func nameStatement(toks []token, err *sqlclass.Error) *sqlclass.Error {
	start := 0
	var stmt []token
	for i, t := range toks {
		if t.typ == ';' {
			start = i + 1
		}
	}
	for _, t := range toks[start:] {
		if t.typ != sqlparser.COMMENT {
			stmt = append(stmt, t)
		}
	}
	if construct, kind, ok := unparsedStatement(stmt); ok {
		loc := 0
		if len(stmt) > 0 {
			loc = stmt[0].start
		}
		return sqlclass.NewUnsupportedError(construct, loc,
			"a "+string(kind)+" statement that the MySQL grammar in use (vitess) does not parse; refused")
	}
	return err
}
