package detect

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzMask checks, for any input, that scanning never panics; that matches
// are in bounds, sorted and disjoint; that redacting leaves nothing for a
// second scan to find; that every strategy is stable (masking twice gives
// what masking once gave); and that valid JSON and valid UTF-8 stay valid.
func FuzzMask(f *testing.F) {
	seeds := []string{
		"", "4111 1111 1111 1111", `{"a":4111111111111111}`, `"\u0040"`, `a\u0040b.co`,
		"+44 (0)20 7946 0958", "123-45-6789", "ssn 123456789", "GB82 WEST 1234 5698 7654 32",
		"fe80::1%eth0", "10.0.0.1-10.0.0.255", jwtExample, "AKIAIOSFODNN7EXAMPLE",
		"password=Xk9#mP2$vL8q", `{\"token\":\"a8F3kL9mQ2xZ7pW4\"}`, "postgres://a:b@c.de/f",
		"-----BEGIN PRIVATE KEY-----\\nMC4\\n-----END PRIVATE KEY-----", `["\\", "a@b.co"]`,
		`{"k":"\n4111111111111111\u00e9x@y.zz"}`, "a@b.cc@d.ee", `[-4111111111111111]`,
	}
	if files, _ := filepath.Glob(filepath.Join("testdata", "mask", "*.txt")); len(files) > 0 {
		for _, name := range files {
			if raw, err := os.ReadFile(name); err == nil {
				in, _, _ := strings.Cut(string(raw), goldenSep)
				seeds = append(seeds, in)
			}
		}
	}
	for _, s := range seeds {
		f.Add(s)
	}
	redact := scannerFor(f)
	mixed, err := NewScanner(Config{
		Default: Strategy{Name: StrategyShape},
		Strategies: map[Kind]Strategy{
			Email:  {Name: StrategyPartial, KeepLast: 4},
			Card:   {Name: StrategyPartial, KeepLast: 4},
			Secret: {Name: StrategyToken, Key: testKey},
			JWT:    {Name: StrategyToken, Key: testKey},
			Phone:  {Name: StrategyPartial, KeepLast: 2},
		},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in string) {
		ms := redact.Find(in, nil)
		for i, m := range ms {
			if m.Start < 0 || m.End > len(in) || m.Start >= m.End || (i > 0 && m.Start < ms[i-1].End) {
				t.Fatalf("bad matches %+v for %q", ms, in)
			}
			if _, ok := indexOf(m.Kind); !ok {
				t.Fatalf("unknown kind %q", m.Kind)
			}
		}
		// A value that is only a number is masked as text (see Mask).
		wasJSON := json.Valid([]byte(in)) && !topLevelNumber(in)
		wasUTF8 := utf8.ValidString(in)

		out, changed, null := redact.Mask(in, nil)
		if null || changed != (len(ms) > 0) || (!changed && out != in) {
			t.Fatalf("Mask(%q) = %q, %v, %v with %d matches", in, out, changed, null, len(ms))
		}
		if again := redact.Find(out, nil); len(again) > 0 {
			t.Fatalf("redacted %q -> %q, which still matches %+v", in, out, again)
		}
		for _, sc := range []*Scanner{redact, mixed} {
			out, _, _ := sc.Mask(in, nil)
			if wasJSON && !json.Valid([]byte(out)) {
				t.Fatalf("valid JSON %q masked to invalid %q", in, out)
			}
			if wasUTF8 && !utf8.ValidString(out) {
				t.Fatalf("valid UTF-8 %q masked to invalid %q", in, out)
			}
			if twice, _, _ := sc.Mask(out, nil); twice != out {
				t.Fatalf("unstable: %q -> %q -> %q", in, out, twice)
			}
		}
	})
}

func topLevelNumber(s string) bool {
	s = strings.TrimLeft(s, " \t\r\n")
	return s != "" && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9'))
}
