package sqlclass

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wardenhq/warden/internal/testenv"
)

// worstKind is the most severe primary Kind over all statements.
func worstKind(f Facts) Kind {
	var m KindSet
	for _, st := range f.Statements {
		m = m.With(st.Kind)
	}
	return m.Primary()
}

func TestBypassCorpus(t *testing.T) {
	cases := testenv.LoadCorpus(t, "testdata/bypass.txt")
	if len(cases) < 60 {
		t.Fatalf("bypass corpus has %d cases, want at least 60", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			f, err := Classify(context.Background(), c.SQL, Options{})
			if c.Expect == "error" {
				if err == nil {
					t.Fatalf("line %d: want an error, got %+v", c.Line, f)
				}
				if !errors.Is(err, ErrUnparseable) && !errors.Is(err, ErrUnsupported) {
					t.Errorf("error %v wraps neither sentinel", err)
				}
				if c.Text != "" && !strings.Contains(err.Error(), c.Text) {
					t.Errorf("error %q does not mention %q", err, c.Text)
				}
				return
			}
			if err != nil {
				t.Fatalf("line %d: unexpected error: %v", c.Line, err)
			}
			if f.ReadOnly {
				t.Fatalf("line %d: BYPASS: classified ReadOnly: %+v", c.Line, f)
			}
			if got := worstKind(f); string(got) != c.Expect {
				t.Errorf("line %d: kind %q, want %q (%+v)", c.Line, got, c.Expect, f.Statements)
			}
			if c.Text != "" && !anyReasonContains(f, c.Text) {
				t.Errorf("line %d: no reason mentions %q: %q", c.Line, c.Text, allReasons(f))
			}
		})
	}
}

func TestReadOnlyCorpus(t *testing.T) {
	cases := testenv.LoadCorpus(t, "testdata/readonly.txt")
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			if c.Expect != "read" {
				t.Fatalf("line %d: readonly corpus expectation must be read", c.Line)
			}
			f, err := Classify(context.Background(), c.SQL, Options{})
			if err != nil {
				t.Fatalf("line %d: unexpected error: %v", c.Line, err)
			}
			if !f.ReadOnly {
				t.Fatalf("line %d: not ReadOnly: %q", c.Line, allReasons(f))
			}
			for _, st := range f.Statements {
				if st.Kind != KindRead || len(st.Reasons) > 0 || len(st.TablesWritten) > 0 {
					t.Errorf("line %d: statement %+v is not a plain read", c.Line, st)
				}
			}
		})
	}
}

func anyReasonContains(f Facts, s string) bool {
	for _, st := range f.Statements {
		for _, r := range st.Reasons {
			if strings.Contains(r, s) {
				return true
			}
		}
	}
	return false
}

func allReasons(f Facts) []string {
	var out []string
	for _, st := range f.Statements {
		out = append(out, st.Reasons...)
	}
	return out
}
