package mysql

import (
	"bufio"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/wardenhq/warden/policy/sqlclass"
)

// corpusCase is one record of a corpus file (see the header of
// testdata/bypass.txt for the format, the PostgreSQL classifier's).
type corpusCase struct {
	name   string
	sql    string
	expect string // a Kind, or "error"
	text   string // must appear in a reason or the error, if set
	line   int
}

func loadCorpus(t testing.TB, path string) []corpusCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open corpus: %v", err)
	}
	defer f.Close()
	var (
		cases []corpusCase
		cur   *corpusCase
		lines []string
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "=== "):
			if cur != nil {
				t.Fatalf("%s:%d: record %q has no expectation", path, n, cur.name)
			}
			cur = &corpusCase{name: strings.TrimSpace(line[4:]), line: n}
			lines = nil
		case strings.HasPrefix(line, "--- ") && cur != nil:
			exp := strings.TrimSpace(line[4:])
			if i := strings.Index(exp, ":"); i >= 0 {
				cur.text = strings.TrimSpace(exp[i+1:])
				exp = exp[:i]
			}
			cur.expect = exp
			cur.sql = strings.Join(lines, "\n")
			cases = append(cases, *cur)
			cur = nil
		case cur != nil:
			lines = append(lines, line)
		case line == "" || strings.HasPrefix(line, "#"):
		default:
			t.Fatalf("%s:%d: text outside a record", path, n)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("%s: record %q has no expectation", path, cur.name)
	}
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.name] {
			t.Fatalf("%s: duplicate case name %q", path, c.name)
		}
		seen[c.name] = true
	}
	return cases
}

// worstKind is the most severe primary Kind over all statements.
func worstKind(f sqlclass.Facts) sqlclass.Kind {
	var m kindMask
	for _, st := range f.Statements {
		m = m.with(st.Kind)
	}
	return m.primary()
}

func TestBypassCorpus(t *testing.T) {
	cases := loadCorpus(t, "testdata/bypass.txt")
	if len(cases) < 60 {
		t.Fatalf("bypass corpus has %d cases, want at least 60", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Classify(context.Background(), c.sql, Options{})
			if c.expect == "error" {
				if err == nil {
					t.Fatalf("line %d: want an error, got %+v", c.line, f)
				}
				if !errors.Is(err, sqlclass.ErrUnparseable) && !errors.Is(err, sqlclass.ErrUnsupported) {
					t.Errorf("error %v wraps neither sentinel", err)
				}
				if c.text != "" && !strings.Contains(err.Error(), c.text) {
					t.Errorf("error %q does not mention %q", err, c.text)
				}
				return
			}
			if err != nil {
				t.Fatalf("line %d: unexpected error: %v", c.line, err)
			}
			if f.ReadOnly {
				t.Fatalf("line %d: BYPASS: classified ReadOnly: %+v", c.line, f)
			}
			if got := worstKind(f); string(got) != c.expect {
				t.Errorf("line %d: kind %q, want %q (%+v)", c.line, got, c.expect, f.Statements)
			}
			if c.text != "" && !anyReasonContains(f, c.text) {
				t.Errorf("line %d: no reason mentions %q: %q", c.line, c.text, allReasons(f))
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
		for _, c := range loadCorpus(t, path) {
			uf, uerr := Classify(context.Background(), c.sql, Options{})
			for _, v := range servers {
				f, err := Classify(context.Background(), c.sql, Options{ServerVersion: v})
				if (err != nil || !f.ReadOnly) && uerr == nil && uf.ReadOnly {
					t.Errorf("%s:%d (%s): not read-only on server %s (%v) but read-only when the server is unknown", path, c.line, c.name, v, err)
				}
			}
		}
	}
}

func TestReadOnlyCorpus(t *testing.T) {
	cases := loadCorpus(t, "testdata/readonly.txt")
	if len(cases) < 40 {
		t.Fatalf("read-only corpus has %d cases, want at least 40", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.expect != "read" {
				t.Fatalf("line %d: readonly corpus expectation must be read", c.line)
			}
			for _, v := range servers {
				if f, err := Classify(context.Background(), c.sql, Options{ServerVersion: v}); err != nil || !f.ReadOnly {
					t.Errorf("line %d: on server %s: not ReadOnly: %v %q", c.line, v, err, allReasons(f))
				}
			}
			f, err := Classify(context.Background(), c.sql, Options{})
			if err != nil {
				t.Fatalf("line %d: unexpected error: %v", c.line, err)
			}
			if !f.ReadOnly {
				t.Fatalf("line %d: not ReadOnly: %q", c.line, allReasons(f))
			}
			for _, st := range f.Statements {
				if st.Kind != sqlclass.KindRead || len(st.Reasons) > 0 || len(st.TablesWritten) > 0 {
					t.Errorf("line %d: statement %+v is not a plain read", c.line, st)
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
