package detect

import (
	"strings"
	"testing"
)

// scannerFor builds a scanner with only the given kinds, redacting.
func scannerFor(t testing.TB, kinds ...Kind) *Scanner {
	t.Helper()
	sc, err := NewScanner(Config{Kinds: kinds})
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// found returns the matched substrings of v, as "kind:text".
func found(sc *Scanner, v string) []string {
	var out []string
	for _, m := range sc.Find(v, nil) {
		out = append(out, string(m.Kind)+":"+v[m.Start:m.End])
	}
	return out
}

// withLuhn appends the Luhn check digit to a digit prefix.
func withLuhn(prefix string) string {
	for d := byte('0'); d <= '9'; d++ {
		if s := prefix + string(d); luhn(s) {
			return s
		}
	}
	panic("unreachable")
}

// detectorCase is one row of a detector table: in v, kind must find
// exactly want (the matched substrings); empty want means nothing.
type detectorCase struct {
	name string
	v    string
	want []string
}

func runDetectorCases(t *testing.T, kind Kind, cases []detectorCase) {
	t.Helper()
	sc := scannerFor(t, kind)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var want []string
			for _, w := range c.want {
				want = append(want, string(kind)+":"+w)
			}
			got := found(sc, c.v)
			if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
				t.Errorf("Find(%q)\n got %q\nwant %q", c.v, got, want)
			}
		})
	}
}

func hit(name, v string, want ...string) detectorCase {
	if len(want) == 0 {
		want = []string{v}
	}
	return detectorCase{name: name, v: v, want: want}
}

func miss(name, v string) detectorCase { return detectorCase{name: name, v: v} }
