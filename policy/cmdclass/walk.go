package cmdclass

import (
	"fmt"
	"path"
	"strings"

	"mvdan.cc/sh/v3/syntax"

	"github.com/wardenhq/warden/policy"
)

// maxSteps bounds the statements one Classify visits (a loop's body once
// per item), so that nested loops without commands cannot make a short
// line expensive.
const maxSteps = 10000

// walker classifies one command line. It is used by one goroutine.
type walker struct {
	c     *Classifier
	parts []policy.Part
	// vars are the loop variables in scope, bound to the item the body
	// is being classified for.
	vars  map[string]*value
	steps int
}

func off(n syntax.Node) int { return int(n.Pos().Offset()) }

func (w *walker) stmts(ss []*syntax.Stmt, depth int) error {
	for _, s := range ss {
		if err := w.stmt(s, depth); err != nil {
			return err
		}
	}
	return nil
}

// effect is what a redirection does.
type effect struct {
	kinds         kindSet
	reasons       []string
	read, written []policy.Resource
}

func (w *walker) stmt(s *syntax.Stmt, depth int) error {
	if w.steps++; w.steps > maxSteps {
		return refuse("size", off(s), fmt.Sprintf("the line takes more than %d steps to classify", maxSteps))
	}
	if depth > w.c.maxDepth {
		return refuse("nesting", off(s), fmt.Sprintf("nested deeper than %d", w.c.maxDepth))
	}
	switch {
	case s.Background:
		return refuse("background job", off(s), "a job run with & is not bounded by the command's time limit")
	case s.Coprocess, s.Disown:
		return refuse("coprocess", off(s), "coprocesses and disowned jobs are not supported")
	}
	var effs []effect
	for _, r := range s.Redirs {
		e, err := w.redirect(r, depth)
		if err != nil {
			return err
		}
		effs = append(effs, e)
	}
	start := len(w.parts)
	switch cmd := s.Cmd.(type) {
	case nil:
		return refuse("redirection", off(s), "a redirection without a command")
	case *syntax.CallExpr:
		i, err := w.call(s, cmd, depth)
		if err != nil {
			return err
		}
		apply(&w.parts[i], effs)
		return nil
	case *syntax.Block:
		if err := w.stmts(cmd.Stmts, depth+1); err != nil {
			return err
		}
	case *syntax.Subshell:
		if err := w.stmts(cmd.Stmts, depth+1); err != nil {
			return err
		}
	case *syntax.BinaryCmd:
		if err := w.stmt(cmd.X, depth); err != nil {
			return err
		}
		if err := w.stmt(cmd.Y, depth); err != nil {
			return err
		}
	case *syntax.IfClause:
		for ic := cmd; ic != nil; ic = ic.Else {
			if err := w.stmts(ic.Cond, depth+1); err != nil {
				return err
			}
			if err := w.stmts(ic.Then, depth+1); err != nil {
				return err
			}
		}
	case *syntax.WhileClause:
		if err := w.stmts(cmd.Cond, depth+1); err != nil {
			return err
		}
		if err := w.stmts(cmd.Do, depth+1); err != nil {
			return err
		}
	case *syntax.ForClause:
		if err := w.forClause(cmd, depth); err != nil {
			return err
		}
	case *syntax.CaseClause:
		v, err := w.word(cmd.Word, ctxCase, depth)
		if err != nil {
			return err
		}
		_ = v
		for _, it := range cmd.Items {
			for _, p := range it.Patterns {
				if _, err := w.word(p, ctxPattern, depth); err != nil {
					return err
				}
			}
			if err := w.stmts(it.Stmts, depth+1); err != nil {
				return err
			}
		}
	case *syntax.TimeClause:
		if cmd.Stmt == nil {
			return refuse("time", off(s), "time without a command")
		}
		if err := w.stmt(cmd.Stmt, depth+1); err != nil {
			return err
		}
	case *syntax.ArithmCmd:
		if _, err := arithm(cmd.X); err != nil {
			return err
		}
	case *syntax.FuncDecl:
		return refuse("function definition", off(s), "a function is code that runs under a name the classifier would have to track")
	case *syntax.DeclClause:
		return refuse(cmd.Variant.Value, off(s), "declares or exports variables")
	case *syntax.LetClause:
		return refuse("let", off(s), "assigns variables through arithmetic")
	case *syntax.TestClause:
		return refuse("[[", off(s), "[[ ... ]] is not supported; use test or [ ... ]")
	case *syntax.CoprocClause:
		return refuse("coproc", off(s), "coprocesses are not supported")
	default:
		return refuse(fmt.Sprintf("%T", cmd), off(s), "not supported")
	}
	if len(effs) > 0 {
		if len(w.parts) == start {
			return refuse("redirection", off(s), "a redirection of a compound command with no command in it")
		}
		for i := start; i < len(w.parts); i++ {
			apply(&w.parts[i], effs)
		}
	}
	return nil
}

// apply adds the redirections' effects to a part.
func apply(p *policy.Part, effs []effect) {
	if len(effs) == 0 {
		return
	}
	var m kindSet
	for _, k := range p.Kinds {
		m = m.with(k)
	}
	for _, e := range effs {
		m |= e.kinds
		p.Reasons = append(p.Reasons, e.reasons...)
		p.Read = append(p.Read, e.read...)
		p.Written = append(p.Written, e.written...)
	}
	p.Kinds, p.Kind = m.list(), m.primary()
	p.Read, p.Written = distinct(p.Read), distinct(p.Written)
}

func (w *walker) forClause(fc *syntax.ForClause, depth int) error {
	if fc.Select {
		return refuse("select", off(fc), "select reads its choice from the terminal")
	}
	it, ok := fc.Loop.(*syntax.WordIter)
	if !ok {
		return refuse("for ((...))", off(fc), "C-style loops assign variables through arithmetic")
	}
	name := it.Name.Value
	if !loopName(name) || w.c.vars[name] {
		return refuse("for", off(fc), fmt.Sprintf("loop variable %q: only lower-case names that are not an admitted variable", name))
	}
	if !it.InPos.IsValid() {
		return refuse("for", off(fc), "a for loop without in iterates over the positional parameters")
	}
	var items []*value
	for _, word := range it.Items {
		v, err := w.word(word, ctxArg, depth)
		if err != nil {
			return err
		}
		items = append(items, v)
	}
	saved, had := w.vars[name]
	defer func() {
		if had {
			w.vars[name] = saved
		} else {
			delete(w.vars, name)
		}
	}()
	for _, v := range items {
		// A glob item is one file name per iteration.
		item := *v
		item.multi = false
		w.vars[name] = &item
		if err := w.stmts(fc.Do, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// loopName: lower-case names only, so that a loop cannot set PATH, IFS,
// LD_PRELOAD or any other variable a shell or program reads.
func loopName(s string) bool {
	if s == "" || !syntax.ValidName(s) {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// devices that redirections may write to without writing a file.
var discards = map[string]bool{"/dev/null": true, "/dev/stdout": true, "/dev/stderr": true, "/dev/fd/1": true, "/dev/fd/2": true}

func (w *walker) redirect(r *syntax.Redirect, depth int) (effect, error) {
	var e effect
	if r.N != nil {
		if !isDigits(r.N.Value) {
			return e, refuse("{var}>", off(r), "redirections to a named file descriptor assign a variable")
		}
	}
	switch r.Op {
	case syntax.Hdoc, syntax.DashHdoc:
		if _, err := w.heredoc(r); err != nil {
			return e, err
		}
		return e, nil
	case syntax.WordHdoc:
		_, err := w.word(r.Word, ctxHereString, depth)
		return e, err
	}
	v, err := w.word(r.Word, ctxRedirect, depth)
	if err != nil {
		return e, err
	}
	switch r.Op {
	case syntax.DplIn, syntax.DplOut:
		if v.static && (isDigits(v.text) || v.text == "-") {
			return e, nil // duplicating or closing a descriptor
		}
		if r.Op == syntax.DplIn {
			return e, refuse("<&", off(r), "<& takes a file descriptor")
		}
	}
	read := r.Op == syntax.RdrIn || r.Op == syntax.RdrInOut
	write := r.Op != syntax.RdrIn
	if v.static && (strings.HasPrefix(path.Clean(v.text), "/dev/tcp/") || strings.HasPrefix(path.Clean(v.text), "/dev/udp/")) {
		e.kinds = e.kinds.with(KindNetwork)
		e.reasons = append(e.reasons, "redirection to "+path.Clean(v.text)+" opens a network connection (bash)")
		return e, nil
	}
	res, err := fileResource(v, off(r))
	if err != nil {
		return e, err
	}
	if read {
		e.read = append(e.read, res)
	}
	if write {
		if v.static && discards[res.Name] {
			return e, nil
		}
		e.kinds = e.kinds.with(KindWrite)
		e.written = append(e.written, res)
		e.reasons = append(e.reasons, "redirection writes "+res.Text)
	}
	return e, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// fileResource is the file a value names: path.Clean of its text;
// relative names stay relative. A name known only on the host may not
// hold "..": it could resolve anywhere.
func fileResource(v *value, at int) (policy.Resource, error) {
	name := v.text
	if !v.static {
		for _, seg := range strings.Split(name, "/") {
			if seg == ".." {
				return policy.Resource{}, refuse("path", at, "a path known only on the host holds \"..\"")
			}
		}
	}
	if name != "" {
		name = path.Clean(name)
	}
	return policy.Resource{Kind: policy.ResourceFile, Name: name, Text: v.text}, nil
}
