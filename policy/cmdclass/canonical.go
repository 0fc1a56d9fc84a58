package cmdclass

import (
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// printer writes Canonical: the line re-written from its parse, each word
// re-quoted so that bash runs exactly the words that were classified.
//
//   - Literal text is single-quoted ('it'\”s'); the program too ('ls').
//   - Pattern characters (*, ?, [...]) stay unquoted, so the host expands
//     them as classified; so does a leading ~ or ~/.
//   - An admitted variable is "${NAME}", a command substitution "$(...)",
//     both double-quoted (never split into several words or globbed); a
//     process substitution <(...) or >(...); arithmetic the number it
//     evaluates to.
//   - Here-documents get a quoted delimiter (<<'WARDEN_EOF', made unique)
//     and their processed body; here-strings <<<'word'.
//   - Lists are written with ; && || | |&, groups { ...; }, subshells
//     ( ... ), and if, while, until, for, case and time as keywords.
//
// Nothing in Canonical is the caller's raw text.
type printer struct {
	b       strings.Builder
	pending []string // here-document bodies (with their delimiter lines) due after the next newline
}

func canonical(w *walker, ss []*syntax.Stmt) (string, error) {
	p := &printer{}
	if err := p.list(ss); err != nil {
		return "", err
	}
	p.flush()
	return strings.TrimSuffix(p.b.String(), "; "), nil
}

// sep ends a statement in a list: a newline when here-documents are due.
func (p *printer) sep() {
	if len(p.pending) > 0 {
		p.flush()
		return
	}
	p.b.WriteString("; ")
}

// flush writes a newline and the pending here-document bodies.
func (p *printer) flush() {
	if len(p.pending) == 0 {
		return
	}
	p.b.WriteString("\n")
	for _, h := range p.pending {
		p.b.WriteString(h)
	}
	p.pending = nil
}

func (p *printer) op(s string) {
	p.b.WriteString(s)
	if len(p.pending) > 0 {
		p.flush()
	} else {
		p.b.WriteByte(' ')
	}
}

// list writes statements, each ended by sep (so "a; b; ").
func (p *printer) list(ss []*syntax.Stmt) error {
	for _, s := range ss {
		if err := p.stmt(s); err != nil {
			return err
		}
		p.sep()
	}
	return nil
}

func (p *printer) stmt(s *syntax.Stmt) error {
	if s.Negated {
		p.b.WriteString("! ")
	}
	switch c := s.Cmd.(type) {
	case *syntax.CallExpr:
		for i, a := range c.Assigns {
			if i > 0 {
				p.b.WriteByte(' ')
			}
			p.b.WriteString(a.Name.Value + "=")
			if a.Value != nil {
				if err := p.word(a.Value, ctxAssign); err != nil {
					return err
				}
			} else {
				p.b.WriteString("''")
			}
		}
		for i, a := range c.Args {
			if i > 0 || len(c.Assigns) > 0 {
				p.b.WriteByte(' ')
			}
			if i == 0 {
				// The program: a plain word without quotes, escapes or
				// patterns (programWord refuses anything else), written
				// as it was parsed.
				name, err := programWord(a)
				if err != nil {
					return err
				}
				p.b.WriteString(name)
				continue
			}
			if err := p.word(a, ctxArg); err != nil {
				return err
			}
		}
	case *syntax.Block:
		p.b.WriteString("{ ")
		if err := p.list(c.Stmts); err != nil {
			return err
		}
		p.b.WriteString("}")
	case *syntax.Subshell:
		p.b.WriteString("( ")
		if err := p.list(c.Stmts); err != nil {
			return err
		}
		p.b.WriteString(")")
	case *syntax.BinaryCmd:
		if err := p.stmt(c.X); err != nil {
			return err
		}
		p.b.WriteByte(' ')
		p.op(c.Op.String())
		if err := p.stmt(c.Y); err != nil {
			return err
		}
	case *syntax.IfClause:
		p.b.WriteString("if ")
		for ic := c; ic != nil; ic = ic.Else {
			if ic != c {
				if len(ic.Cond) == 0 {
					p.b.WriteString("else ")
				} else {
					p.b.WriteString("elif ")
				}
			}
			if len(ic.Cond) > 0 {
				if err := p.list(ic.Cond); err != nil {
					return err
				}
				p.b.WriteString("then ")
			}
			if err := p.list(ic.Then); err != nil {
				return err
			}
		}
		p.b.WriteString("fi")
	case *syntax.WhileClause:
		if c.Until {
			p.b.WriteString("until ")
		} else {
			p.b.WriteString("while ")
		}
		if err := p.list(c.Cond); err != nil {
			return err
		}
		p.b.WriteString("do ")
		if err := p.list(c.Do); err != nil {
			return err
		}
		p.b.WriteString("done")
	case *syntax.ForClause:
		it := c.Loop.(*syntax.WordIter)
		p.b.WriteString("for " + it.Name.Value + " in")
		for _, item := range it.Items {
			p.b.WriteByte(' ')
			if err := p.word(item, ctxArg); err != nil {
				return err
			}
		}
		p.b.WriteString("; do ")
		if err := p.list(c.Do); err != nil {
			return err
		}
		p.b.WriteString("done")
	case *syntax.CaseClause:
		p.b.WriteString("case ")
		if err := p.word(c.Word, ctxCase); err != nil {
			return err
		}
		p.b.WriteString(" in ")
		for _, it := range c.Items {
			for i, pat := range it.Patterns {
				if i > 0 {
					p.b.WriteString(" | ")
				}
				if err := p.word(pat, ctxPattern); err != nil {
					return err
				}
			}
			p.b.WriteString(") ")
			if err := p.list(it.Stmts); err != nil {
				return err
			}
			p.op(it.Op.String())
		}
		p.b.WriteString("esac")
	case *syntax.TimeClause:
		if c.PosixFormat {
			p.b.WriteString("time -p ")
		} else {
			p.b.WriteString("time ")
		}
		if err := p.stmt(c.Stmt); err != nil {
			return err
		}
	case *syntax.ArithmCmd:
		n, err := arithm(c.X)
		if err != nil {
			return err
		}
		p.b.WriteString("((" + strconv.Itoa(n) + "))")
	default:
		return refuse("canonical", off(s), "cannot be written")
	}
	for _, r := range s.Redirs {
		if err := p.redirect(r); err != nil {
			return err
		}
	}
	return nil
}

func (p *printer) redirect(r *syntax.Redirect) error {
	p.b.WriteByte(' ')
	if r.N != nil {
		p.b.WriteString(r.N.Value)
	}
	switch r.Op {
	case syntax.Hdoc, syntax.DashHdoc:
		body, err := (&walker{}).heredoc(r)
		if err != nil {
			return err
		}
		delim := "WARDEN_EOF"
		for n := 1; hasLine(body, delim); n++ {
			delim = "WARDEN_EOF_" + strconv.Itoa(n)
		}
		if body != "" && !strings.HasSuffix(body, "\n") {
			body += "\n"
		}
		p.b.WriteString("<<'" + delim + "'")
		p.pending = append(p.pending, body+delim+"\n")
		return nil
	}
	p.b.WriteString(r.Op.String())
	ctx := ctxRedirect
	if r.Op == syntax.WordHdoc {
		ctx = ctxHereString
	}
	return p.word(r.Word, ctx)
}

func hasLine(body, line string) bool {
	for _, l := range strings.Split(body, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (p *printer) word(word *syntax.Word, ctx wordCtx) error {
	ps, err := pieces(word, ctx)
	if err != nil {
		return err
	}
	var lit strings.Builder
	wrote := false
	flush := func() {
		if lit.Len() > 0 {
			p.b.WriteString(quote(lit.String()))
			lit.Reset()
			wrote = true
		}
	}
	for _, pc := range ps {
		switch pc.kind {
		case pLit:
			lit.WriteString(pc.text)
			continue
		}
		flush()
		wrote = true
		switch pc.kind {
		case pRaw, pTilde:
			p.b.WriteString(pc.text)
		case pVar:
			p.b.WriteString(`"${` + pc.text + `}"`)
		case pSubst:
			p.b.WriteString(`"$(`)
			if err := p.sub(pc.stmts); err != nil {
				return err
			}
			p.b.WriteString(`)"`)
		case pProc:
			p.b.WriteString(pc.op.String())
			if err := p.sub(pc.stmts); err != nil {
				return err
			}
			p.b.WriteString(")")
		}
	}
	flush()
	if !wrote {
		p.b.WriteString("''")
	}
	return nil
}

// sub writes the statements of a substitution: "a; b" without the last
// separator (a here-document inside ends on a newline of its own).
func (p *printer) sub(ss []*syntax.Stmt) error {
	if len(ss) > 0 && startsWithParen(ss[0]) {
		p.b.WriteByte(' ') // "$( (" is not "$(("
	}
	for i, s := range ss {
		if i > 0 {
			p.sep()
		}
		if err := p.stmt(s); err != nil {
			return err
		}
	}
	p.flush()
	return nil
}

// startsWithParen reports whether a statement is written beginning with
// "(".
func startsWithParen(s *syntax.Stmt) bool {
	if s.Negated {
		return false
	}
	switch c := s.Cmd.(type) {
	case *syntax.Subshell, *syntax.ArithmCmd:
		return true
	case *syntax.BinaryCmd:
		return startsWithParen(c.X)
	}
	return false
}
