package cmdclass

import (
	"context"
	"errors"
	"path"
	"strings"
	"testing"

	"mvdan.cc/sh/v3/syntax"

	"github.com/wardenhq/warden/internal/testenv"
	"github.com/wardenhq/warden/policy"
)

// FuzzClassify checks the classifier's safety properties on arbitrary
// text. Seeds: both corpora and testdata/fuzz/FuzzClassify.
//   - It never panics, and every error matches policy.ErrNotUnderstood.
//   - A part's Kind is the most severe of its Kinds; Facts.Kinds is their
//     union; ReadOnly holds exactly when every part is a read, and a read
//     part has no reasons and writes no file.
//   - Canonical classifies to the same facts (but for offsets), and is
//     its own canonical form.
//   - A ReadOnly line holds, anywhere in its parse tree (checked
//     independently on the parser's tree), no redirection that writes a
//     file, no background job, and no program of the write set.
func FuzzClassify(f *testing.F) {
	for _, p := range []string{"testdata/bypass.txt", "testdata/readonly.txt"} {
		for _, c := range testenv.LoadCorpus(f, p) {
			f.Add(c.Input)
		}
	}
	strict := New(Options{})
	loose := New(Options{AllowSubstitution: true})
	f.Fuzz(func(t *testing.T, line string) {
		for _, c := range []*Classifier{strict, loose} {
			facts, err := c.Classify(context.Background(), policy.ClassifyRequest{Statement: line})
			if err != nil {
				if !errors.Is(err, policy.ErrNotUnderstood) || (!errors.Is(err, ErrUnparseable) && !errors.Is(err, ErrUnsupported)) {
					t.Fatalf("error %v does not match the sentinels", err)
				}
				continue
			}
			checkFacts(t, line, facts)
			checkCanonical(t, c, facts)
			if facts.ReadOnly {
				checkNoHiddenWrite(t, line)
			}
		}
	})
}

func checkFacts(t *testing.T, line string, f policy.Facts) {
	t.Helper()
	var all kindSet
	allRead := len(f.Parts) > 0
	for _, p := range f.Parts {
		if len(p.Kinds) == 0 || p.Kind != p.Kinds[len(p.Kinds)-1] {
			t.Fatalf("part %+v: Kind is not the most severe of Kinds", p)
		}
		for _, k := range p.Kinds {
			all = all.with(k)
		}
		if p.Kind != KindRead {
			allRead = false
		} else if len(p.Reasons) > 0 || len(p.Written) > 0 {
			t.Fatalf("read part with reasons or writes: %+v", p)
		}
		if p.Offset < 0 || p.Length < 0 || p.Offset+p.Length > len(line) {
			t.Fatalf("part %+v lies outside the line (%d bytes)", p, len(line))
		}
		for _, r := range append(append([]policy.Resource{}, p.Read...), p.Written...) {
			if r.Kind != policy.ResourceFile || (r.Name != "" && path.Clean(r.Name) != r.Name) {
				t.Fatalf("bad resource %+v", r)
			}
		}
	}
	if f.ReadOnly != allRead {
		t.Fatalf("ReadOnly=%v but parts %+v", f.ReadOnly, f.Parts)
	}
	if len(f.Parts) > 0 && strings.Join(f.Kinds, ",") != strings.Join(all.list(), ",") {
		t.Fatalf("Kinds %v is not the union of the parts' %v", f.Kinds, all.list())
	}
}

// writers are programs a read must never run.
var writers = map[string]bool{"rm": true, "mv": true, "cp": true, "dd": true, "tee": true, "chmod": true,
	"chown": true, "ln": true, "touch": true, "mkdir": true, "rmdir": true, "truncate": true, "kill": true,
	"sh": true, "bash": true, "eval": true, "exec": true, "source": true, ".": true, "python3": true,
	"perl": true, "sudo": true, "su": true, "curl": true, "wget": true, "nc": true, "ssh": true}

func checkNoHiddenWrite(t *testing.T, line string) {
	t.Helper()
	file, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(line), "")
	if err != nil {
		t.Fatalf("ReadOnly, but the parser rejects %q: %v", line, err)
	}
	syntax.Walk(file, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.Stmt:
			if n.Background {
				t.Fatalf("ReadOnly with a background job: %q", line)
			}
		case *syntax.Redirect:
			switch n.Op {
			case syntax.RdrOut, syntax.AppOut, syntax.RdrAll, syntax.AppAll, syntax.ClbOut, syntax.RdrInOut, syntax.DplOut:
				target := n.Word.Lit()
				if n.Op == syntax.DplOut && (isDigits(target) || target == "-") {
					break
				}
				if !discards[path.Clean(unquote(n.Word))] {
					t.Fatalf("ReadOnly with a redirection writing %q: %q", target, line)
				}
			}
		case *syntax.CallExpr:
			if len(n.Args) > 0 {
				if name := path.Base(n.Args[0].Lit()); writers[name] {
					t.Fatalf("ReadOnly running %s: %q", name, line)
				}
			}
		}
		return true
	})
}

// unquote is a word's text with quotes dropped (enough for literal
// redirection targets).
func unquote(w *syntax.Word) string {
	var b strings.Builder
	for _, p := range w.Parts {
		switch p := p.(type) {
		case *syntax.Lit:
			b.WriteString(strings.ReplaceAll(p.Value, `\`, ""))
		case *syntax.SglQuoted:
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			for _, q := range p.Parts {
				if l, ok := q.(*syntax.Lit); ok {
					b.WriteString(l.Value)
				} else {
					b.WriteString("$?")
				}
			}
		default:
			b.WriteString("$?")
		}
	}
	return b.String()
}
