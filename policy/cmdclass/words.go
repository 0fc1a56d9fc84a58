package cmdclass

import (
	"fmt"
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"
)

// value is what a word becomes, as far as the classifier can know it.
type value struct {
	// text is the word after quote removal: exact when static; otherwise
	// with $NAME for an admitted variable, $(…) for a command
	// substitution, <(…) or >(…) for a process substitution, and glob
	// characters as written.
	text string
	// static: text is exactly what the program gets.
	static bool
	// glob: the word holds unquoted pattern characters; the host
	// replaces it with the file names that match (each beginning with
	// the word's literal prefix), or leaves it as is if none does.
	glob bool
	// multi: the word may become several arguments (a glob), so the
	// positions of the arguments after it are not known.
	multi bool
	// optionLike: the argument may begin with '-' on the host.
	optionLike bool
}

// wordCtx is where a word stands; it decides what the word may hold.
type wordCtx int

const (
	ctxArg        wordCtx = iota // an argument, or a for loop's item
	ctxRedirect                  // a redirection's target
	ctxHereString                // <<< word
	ctxAssign                    // the value of NAME=value
	ctxCase                      // the word of case ... in
	ctxPattern                   // a case pattern
)

// pieceKind is what a piece of a word is in Canonical.
type pieceKind int

const (
	pLit   pieceKind = iota // literal text: single-quoted
	pRaw                    // pattern characters: unquoted
	pTilde                  // "~" or "~/": unquoted, the account's home directory
	pVar                    // a variable: "${NAME}"
	pSubst                  // $(...): "$(...)"
	pProc                   // <(...) or >(...)
)

type piece struct {
	kind  pieceKind
	text  string
	stmts []*syntax.Stmt      // pSubst, pProc
	op    syntax.ProcOperator // pProc
	at    int
}

// pieces splits a word into the pieces Canonical writes it as, refusing
// what the word may not hold where it stands.
func pieces(word *syntax.Word, ctx wordCtx) ([]piece, error) {
	var out []piece
	for i, part := range word.Parts {
		switch p := part.(type) {
		case *syntax.Lit:
			ps, err := unquotedLit(p, ctx, i == 0)
			if err != nil {
				return nil, err
			}
			out = append(out, ps...)
		case *syntax.SglQuoted:
			if p.Dollar {
				return nil, refuse("$'...'", off(p), "ANSI-C quoting is not supported; write the characters in single quotes")
			}
			out = append(out, piece{kind: pLit, text: p.Value, at: off(p)})
		case *syntax.DblQuoted:
			if p.Dollar {
				return nil, refuse("$\"...\"", off(p), "locale translation can change the text on the host")
			}
			for _, dp := range p.Parts {
				switch dp := dp.(type) {
				case *syntax.Lit:
					out = append(out, piece{kind: pLit, text: dqUnescape(dp.Value), at: off(dp)})
				default:
					ps, err := expansion(dp, ctx)
					if err != nil {
						return nil, err
					}
					out = append(out, ps)
				}
			}
		case *syntax.ExtGlob:
			return nil, refuse("extended glob", off(p), "extended patterns are not supported")
		case *syntax.BraceExp:
			return nil, refuse("brace expansion", off(p), "write the words out")
		default:
			ps, err := expansion(p, ctx)
			if err != nil {
				return nil, err
			}
			out = append(out, ps)
		}
	}
	return out, nil
}

// expansion is the piece of a parameter expansion, substitution or
// arithmetic expansion.
func expansion(part syntax.WordPart, ctx wordCtx) (piece, error) {
	switch p := part.(type) {
	case *syntax.ParamExp:
		if !simpleParam(p) {
			return piece{}, refuse("parameter expansion", off(p), "only a plain $NAME or ${NAME} is supported")
		}
		return piece{kind: pVar, text: p.Param.Value, at: off(p)}, nil
	case *syntax.CmdSubst:
		if p.TempFile || p.ReplyVar {
			return piece{}, refuse("command substitution", off(p), "not supported")
		}
		return piece{kind: pSubst, stmts: p.Stmts, at: off(p)}, nil
	case *syntax.ProcSubst:
		if ctx != ctxArg || (p.Op != syntax.CmdIn && p.Op != syntax.CmdOut) {
			return piece{}, refuse("process substitution", off(p), "only <(...) and >(...) in an argument")
		}
		return piece{kind: pProc, stmts: p.Stmts, op: p.Op, at: off(p)}, nil
	case *syntax.ArithmExp:
		if p.Bracket || p.Unsigned {
			return piece{}, refuse("arithmetic", off(p), "only $((...)) is supported")
		}
		n, err := arithm(p.X)
		if err != nil {
			return piece{}, err
		}
		return piece{kind: pLit, text: strconv.Itoa(n), at: off(p)}, nil
	}
	return piece{}, refuse(fmt.Sprintf("%T", part), off(part), "not supported in a word")
}

func simpleParam(p *syntax.ParamExp) bool {
	return p.Param != nil && p.Flags == nil && !p.Excl && !p.Length && !p.Width && !p.IsSet &&
		p.Split == syntax.OptUnset && p.GlobSubst == syntax.OptUnset && p.RcExpand == syntax.OptUnset &&
		p.NestedParam == nil && p.Index == nil && len(p.Modifiers) == 0 && p.Slice == nil &&
		p.Repl == nil && p.Names == 0 && p.Exp == nil && syntax.ValidName(p.Param.Value)
}

// dqUnescape removes the backslashes that escape a character inside
// double quotes.
func dqUnescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case '$', '`', '"', '\\':
				b.WriteByte(s[i+1])
				i++
				continue
			case '\n':
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// safeBracket are the characters a [...] pattern may hold.
func safeBracket(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_.:!^-", r)) {
			return false
		}
	}
	return true
}

// unquotedLit splits an unquoted literal into literal text and pattern
// characters, removing backslashes.
func unquotedLit(l *syntax.Lit, ctx wordCtx, first bool) ([]piece, error) {
	s := l.Value
	at := off(l)
	if hasBraceExpansion(s) {
		return nil, refuse("brace expansion", at, "write the words out, or quote the braces")
	}
	var out []piece
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			out = append(out, piece{kind: pLit, text: lit.String(), at: at})
			lit.Reset()
		}
	}
	globOK := ctx == ctxArg || ctx == ctxPattern
	i := 0
	if first && strings.HasPrefix(s, "~") {
		end := strings.IndexByte(s, '/')
		if end < 0 {
			end = len(s)
		}
		if end != 1 {
			return nil, refuse("tilde expansion", at, "only ~ and ~/ (the account's home) are supported")
		}
		if ctx != ctxArg && ctx != ctxRedirect {
			return nil, refuse("tilde expansion", at, "~ is supported in arguments and redirections only")
		}
		t := "~"
		if end < len(s) {
			t = "~/"
		}
		out = append(out, piece{kind: pTilde, text: t, at: at})
		i = len(t)
	}
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 < len(s) {
				i++
				if s[i] != '\n' {
					lit.WriteByte(s[i])
				}
			} else {
				lit.WriteByte(c)
			}
		case c == '*' || c == '?':
			if !globOK {
				return nil, refuse("glob", at, "a pattern is not supported here")
			}
			flush()
			out = append(out, piece{kind: pRaw, text: string(c), at: at})
		case c == '[':
			j := strings.IndexByte(s[i+1:], ']')
			if j < 0 {
				lit.WriteByte(c)
				continue
			}
			inner := s[i+1 : i+1+j]
			if !globOK || !safeBracket(inner) {
				return nil, refuse("glob", at, "a [...] pattern is supported only in arguments, with letters, digits and _.:!^-")
			}
			flush()
			out = append(out, piece{kind: pRaw, text: s[i : i+2+j], at: at})
			i += 1 + j
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return out, nil
}

// hasBraceExpansion reports (conservatively) whether unquoted text holds
// a brace expansion: a { with a later } and a , or .. between them.
func hasBraceExpansion(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '{' || (i > 0 && s[i-1] == '\\') {
			continue
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return false
		}
		inner := s[i+1 : i+j]
		if strings.Contains(inner, ",") || strings.Contains(inner, "..") {
			return true
		}
	}
	return false
}

// word classifies a word: the substitutions in it, the variables it
// expands, what it is as an argument.
func (w *walker) word(word *syntax.Word, ctx wordCtx, depth int) (*value, error) {
	ps, err := pieces(word, ctx)
	if err != nil {
		return nil, err
	}
	v := &value{static: true}
	var b strings.Builder
	firstSeen, globAt := false, -1
	for _, p := range ps {
		var text string
		var optLike, static bool
		switch p.kind {
		case pLit:
			text, static, optLike = p.text, true, strings.HasPrefix(p.text, "-")
		case pRaw:
			text, optLike = p.text, true
			v.glob = true
			if globAt < 0 {
				globAt = b.Len()
			}
		case pTilde:
			text = p.text
		case pVar:
			if lv, ok := w.vars[p.text]; ok {
				// A loop variable is one item: "${f}" is not globbed
				// again, though a glob item's text is its pattern.
				text, static, optLike = lv.text, lv.static && !lv.glob, lv.optionLike
			} else if w.c.vars[p.text] {
				text = "$" + p.text
			} else {
				return nil, refuse("$"+p.text, p.at, "expansion of a variable the classifier does not know")
			}
		case pSubst, pProc:
			if !w.c.subst {
				return nil, refuse(substName(p), p.at, "substitutions are not admitted (Options.AllowSubstitution)")
			}
			if err := w.stmts(p.stmts, depth+1); err != nil {
				return nil, err
			}
			text, optLike = substName(p), p.kind == pSubst
		}
		if !static {
			v.static = false
		}
		if !firstSeen && text != "" {
			firstSeen, v.optionLike = true, optLike
		}
		b.WriteString(text)
	}
	v.text = b.String()
	if v.glob && ctx == ctxArg {
		if err := checkGlob(ps, v, globAt, off(word)); err != nil {
			return nil, err
		}
		v.static, v.multi = false, true
	}
	if ctx == ctxPattern {
		v.multi = false
	}
	return v, nil
}

func substName(p piece) string {
	switch {
	case p.kind == pSubst:
		return "$(…)"
	case p.op == syntax.CmdOut:
		return ">(…)"
	}
	return "<(…)"
}

// checkGlob admits a pattern in an argument only when what it expands
// to cannot be an option or reach outside its directory: it must begin
// with literal text (or ~/) that does not begin with '-', and no part of
// its path that begins with '.' may hold a pattern (".*" can match "..").
func checkGlob(ps []piece, v *value, globAt, at int) error {
	for _, p := range ps {
		if p.kind == pLit && p.text == "" {
			continue
		}
		if !(p.kind == pLit || p.kind == pTilde) || strings.HasPrefix(p.text, "-") || p.kind == pRaw {
			return refuse("glob", at, "a pattern must begin with a literal path (write ./*.log, not *.log), so that no file name it matches can be taken for an option")
		}
		break
	}
	for _, seg := range strings.Split(v.text, "/") {
		if strings.HasPrefix(seg, ".") && strings.ContainsAny(seg, "*?[") {
			return refuse("glob", at, "a pattern beginning with '.' can match \"..\"")
		}
	}
	for _, p := range ps {
		if p.kind == pVar || p.kind == pSubst || p.kind == pProc {
			return refuse("glob", at, "a pattern with a part known only on the host")
		}
	}
	_ = globAt
	return nil
}

// arithm evaluates an arithmetic expression of decimal constants; one
// that names a variable, assigns, or fails (division by zero) is refused.
func arithm(x syntax.ArithmExpr) (int, error) {
	var bad error
	syntax.Walk(x, func(n syntax.Node) bool {
		if bad != nil {
			return false
		}
		switch n := n.(type) {
		case *syntax.Word:
			if lit := n.Lit(); !isDigits(lit) || len(n.Parts) != 1 || len(lit) > 18 {
				bad = refuse("arithmetic", off(n), "only decimal constants are supported in arithmetic")
			}
			return false
		case *syntax.BinaryArithm:
			switch n.Op {
			case syntax.Assgn, syntax.AddAssgn, syntax.SubAssgn, syntax.MulAssgn, syntax.QuoAssgn,
				syntax.RemAssgn, syntax.AndAssgn, syntax.OrAssgn, syntax.XorAssgn, syntax.ShlAssgn, syntax.ShrAssgn:
				bad = refuse("arithmetic", off(n), "assignment in arithmetic")
			}
		case *syntax.UnaryArithm:
			if n.Op == syntax.Inc || n.Op == syntax.Dec {
				bad = refuse("arithmetic", off(n), "assignment in arithmetic")
			}
		case *syntax.ParenArithm:
		case *syntax.FlagsArithm:
			bad = refuse("arithmetic", off(n), "not supported")
		}
		return true
	})
	if bad != nil {
		return 0, bad
	}
	if x == nil {
		return 0, refuse("arithmetic", -1, "empty expression")
	}
	n, err := expand.Arithm(nil, x)
	if err != nil {
		return 0, refuse("arithmetic", off(x), "cannot be evaluated: "+err.Error())
	}
	return n, nil
}

// heredoc is the body of a here-document after the shell's processing;
// a body with expansions (an unquoted delimiter with $ or `) is refused.
func (w *walker) heredoc(r *syntax.Redirect) (string, error) {
	quoted := false
	for _, p := range r.Word.Parts {
		switch p := p.(type) {
		case *syntax.Lit:
			if strings.Contains(p.Value, `\`) {
				quoted = true
			}
		case *syntax.SglQuoted, *syntax.DblQuoted:
			quoted = true
		default:
			return "", refuse("here-document", off(r), "the delimiter must be a literal word")
		}
	}
	if r.Hdoc == nil {
		return "", nil
	}
	var b strings.Builder
	for _, p := range r.Hdoc.Parts {
		lit, ok := p.(*syntax.Lit)
		if !ok {
			return "", refuse("here-document", off(r), "a here-document with expansions; quote its delimiter (<<'EOF')")
		}
		if quoted {
			b.WriteString(lit.Value)
			continue
		}
		s := lit.Value
		for i := 0; i < len(s); i++ {
			if s[i] == '\\' && i+1 < len(s) {
				switch s[i+1] {
				case '$', '`', '\\':
					b.WriteByte(s[i+1])
					i++
					continue
				case '\n':
					i++
					continue
				}
			}
			b.WriteByte(s[i])
		}
	}
	body := b.String()
	if r.Op == syntax.DashHdoc {
		// <<- strips the tabs that begin each line.
		lines := strings.Split(body, "\n")
		for i, l := range lines {
			lines[i] = strings.TrimLeft(l, "\t")
		}
		body = strings.Join(lines, "\n")
	}
	return body, nil
}
