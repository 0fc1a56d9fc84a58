package testenv

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// CorpusCase is one record of a classifier corpus file (the format is in
// the header of policy/sqlclass/testdata/bypass.txt; the MySQL classifier's
// corpora and the shell command classifier's, policy/cmdclass, use it too).
type CorpusCase struct {
	Name string
	// Input is the record's text: SQL, or a shell command line.
	Input string
	// SQL is Input, under the name the SQL classifiers' tests use.
	SQL    string
	Expect string // a Kind, or "error"
	Text   string // must appear in a reason or the error, if set
	Line   int
}

// LoadCorpus reads a corpus file, failing t on a malformed record or a
// duplicate name.
func LoadCorpus(t testing.TB, path string) []CorpusCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open corpus: %v", err)
	}
	defer f.Close()
	var (
		cases []CorpusCase
		cur   *CorpusCase
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
				t.Fatalf("%s:%d: record %q has no expectation", path, n, cur.Name)
			}
			cur = &CorpusCase{Name: strings.TrimSpace(line[4:]), Line: n}
			lines = nil
		case strings.HasPrefix(line, "--- ") && cur != nil:
			exp := strings.TrimSpace(line[4:])
			if i := strings.Index(exp, ":"); i >= 0 {
				cur.Text = strings.TrimSpace(exp[i+1:])
				exp = exp[:i]
			}
			cur.Expect = exp
			cur.Input = strings.Join(lines, "\n")
			cur.SQL = cur.Input
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
		t.Fatalf("%s: record %q has no expectation", path, cur.Name)
	}
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.Name] {
			t.Fatalf("%s: duplicate case name %q", path, c.Name)
		}
		seen[c.Name] = true
	}
	return cases
}

// CorpusSQL returns the text (Input) of the record named name in a
// corpus file.
func CorpusSQL(t testing.TB, path, name string) string {
	t.Helper()
	for _, c := range LoadCorpus(t, path) {
		if c.Name == name {
			return c.Input
		}
	}
	t.Fatalf("%s: no record %q", path, name)
	return ""
}
