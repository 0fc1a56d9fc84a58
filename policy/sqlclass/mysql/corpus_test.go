package mysql

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wardenhq/warden/internal/testenv"
	"github.com/wardenhq/warden/policy/sqlclass"
)

// worstKind is the most severe primary Kind over all statements.
func worstKind(f sqlclass.Facts) sqlclass.Kind {
	var m sqlclass.KindSet
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
				if !errors.Is(err, sqlclass.ErrUnparseable) && !errors.Is(err, sqlclass.ErrUnsupported) {
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

// servers are server versions every corpus case is also classified for.
var servers = []string{"5.7.44", "8.0.36", "8.4.3", "9.1.0", "10.6.18-MariaDB", "11.4.2-MariaDB-log"}

// TestUnknownServerIsStrictest: without ServerVersion, the classifier
// reads executable comments as every server would, so whatever some
// server would run that is not a read (or cannot be classified) must also
// be not a read (or an error) when the server is unknown.
func TestUnknownServerIsStrictest(t *testing.T) {
	for _, path := range []string{"testdata/bypass.txt", "testdata/readonly.txt"} {
		for _, c := range testenv.LoadCorpus(t, path) {
			uf, uerr := Classify(context.Background(), c.SQL, Options{})
			for _, v := range servers {
				f, err := Classify(context.Background(), c.SQL, Options{ServerVersion: v})
				if (err != nil || !f.ReadOnly) && uerr == nil && uf.ReadOnly {
					t.Errorf("%s:%d (%s): not read-only on server %s (%v) but read-only when the server is unknown", path, c.Line, c.Name, v, err)
				}
			}
		}
	}
}

func TestReadOnlyCorpus(t *testing.T) {
	cases := testenv.LoadCorpus(t, "testdata/readonly.txt")
	if len(cases) < 40 {
		t.Fatalf("read-only corpus has %d cases, want at least 40", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			if c.Expect != "read" {
				t.Fatalf("line %d: readonly corpus expectation must be read", c.Line)
			}
			for _, v := range servers {
				if f, err := Classify(context.Background(), c.SQL, Options{ServerVersion: v}); err != nil || !f.ReadOnly {
					t.Errorf("line %d: on server %s: not ReadOnly: %v %q", c.Line, v, err, allReasons(f))
				}
			}
			f, err := Classify(context.Background(), c.SQL, Options{})
			if err != nil {
				t.Fatalf("line %d: unexpected error: %v", c.Line, err)
			}
			if !f.ReadOnly {
				t.Fatalf("line %d: not ReadOnly: %q", c.Line, allReasons(f))
			}
			for _, st := range f.Statements {
				if st.Kind != sqlclass.KindRead || len(st.Reasons) > 0 || len(st.TablesWritten) > 0 {
					t.Errorf("line %d: statement %+v is not a plain read", c.Line, st)
				}
			}
		})
	}
}

func anyReasonContains(f sqlclass.Facts, s string) bool {
	for _, st := range f.Statements {
		for _, r := range st.Reasons {
			if strings.Contains(r, s) {
				return true
			}
		}
	}
	return false
}

func allReasons(f sqlclass.Facts) []string {
	var out []string
	for _, st := range f.Statements {
		out = append(out, st.Reasons...)
	}
	return out
}
