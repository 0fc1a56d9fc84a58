package cmdclass

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wardenhq/warden/internal/testenv"
	"github.com/wardenhq/warden/policy"
)

func classify(t testing.TB, c *Classifier, line string) (policy.Facts, error) {
	t.Helper()
	return c.Classify(context.Background(), policy.ClassifyRequest{Statement: line})
}

// worst is the most severe kind of any part.
func worst(f policy.Facts) string {
	if len(f.Kinds) == 0 {
		return ""
	}
	return f.Kinds[len(f.Kinds)-1]
}

func reasons(f policy.Facts) []string {
	var out []string
	for _, p := range f.Parts {
		out = append(out, p.Reasons...)
	}
	return out
}

func TestBypassCorpus(t *testing.T) {
	cases := testenv.LoadCorpus(t, "testdata/bypass.txt")
	if len(cases) < 150 {
		t.Fatalf("bypass corpus has %d cases, want at least 150", len(cases))
	}
	c := New(Options{})
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			f, err := classify(t, c, tc.Input)
			if tc.Expect == "error" {
				if err == nil {
					t.Fatalf("line %d: want an error, got %s %v %q", tc.Line, worst(f), f.Kinds, reasons(f))
				}
				if !errors.Is(err, policy.ErrNotUnderstood) || (!errors.Is(err, ErrUnparseable) && !errors.Is(err, ErrUnsupported)) {
					t.Errorf("error %v does not match the sentinels", err)
				}
				if tc.Text != "" && !strings.Contains(err.Error(), tc.Text) {
					t.Errorf("line %d: error %q does not mention %q", tc.Line, err, tc.Text)
				}
				return
			}
			if err != nil {
				t.Fatalf("line %d: unexpected error: %v", tc.Line, err)
			}
			if f.ReadOnly {
				t.Fatalf("line %d: BYPASS: classified ReadOnly: %+v", tc.Line, f)
			}
			if got := worst(f); got != tc.Expect {
				t.Errorf("line %d: kind %q, want %q (%q)", tc.Line, got, tc.Expect, reasons(f))
			}
			if tc.Text != "" && !strings.Contains(strings.Join(reasons(f), "\n"), tc.Text) {
				t.Errorf("line %d: no reason mentions %q: %q", tc.Line, tc.Text, reasons(f))
			}
			checkCanonical(t, c, f)
		})
	}
}

func TestReadOnlyCorpus(t *testing.T) {
	cases := testenv.LoadCorpus(t, "testdata/readonly.txt")
	if len(cases) < 40 {
		t.Fatalf("read-only corpus has %d cases, want at least 40", len(cases))
	}
	c := New(Options{})
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			if tc.Expect != "read" {
				t.Fatalf("line %d: read-only corpus expectation must be read", tc.Line)
			}
			f, err := classify(t, c, tc.Input)
			if err != nil {
				t.Fatalf("line %d: unexpected error: %v", tc.Line, err)
			}
			if !f.ReadOnly {
				t.Fatalf("line %d: not ReadOnly: %v %q", tc.Line, f.Kinds, reasons(f))
			}
			for _, p := range f.Parts {
				if p.Kind != KindRead || len(p.Reasons) > 0 || len(p.Written) > 0 {
					t.Errorf("line %d: part %+v is not a plain read", tc.Line, p)
				}
			}
			checkCanonical(t, c, f)
		})
	}
}

// checkCanonical: Canonical classifies to the same facts (but for where
// the parts stand in the text), and is its own canonical form.
func checkCanonical(t testing.TB, c *Classifier, f policy.Facts) {
	t.Helper()
	g, err := classify(t, c, f.Canonical)
	if err != nil {
		t.Fatalf("canonical %q is refused: %v", f.Canonical, err)
	}
	if g.Canonical != f.Canonical {
		t.Fatalf("canonical form is not stable:\n%q\n%q", f.Canonical, g.Canonical)
	}
	if a, b := withoutOffsets(f), withoutOffsets(g); !equalFacts(a, b) {
		t.Fatalf("canonical %q classifies differently:\n%+v\n%+v", f.Canonical, a, b)
	}
}
