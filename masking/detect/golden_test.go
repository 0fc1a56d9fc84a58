package detect

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected output of testdata/mask/*.txt")

// goldenSep separates a golden file's input from its expected output.
const goldenSep = "\n----------\n"

// TestGolden masks each testdata/mask/*.txt input with every detector
// redacting, and compares with the expected output after the separator.
// Run with -update to rewrite the expected outputs, then review the diff.
func TestGolden(t *testing.T) {
	sc := scannerFor(t)
	files, err := filepath.Glob(filepath.Join("testdata", "mask", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			in, want, ok := strings.Cut(string(raw), goldenSep)
			if !ok && !*update {
				t.Fatalf("no %q separator", strings.TrimSpace(goldenSep))
			}
			want = strings.TrimSuffix(want, "\n")
			got, _, _ := sc.Mask(in, nil)
			if *update {
				if err := os.WriteFile(f, []byte(in+goldenSep+got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != want {
				t.Errorf("masked output differs\n got: %s\nwant: %s", got, want)
			}
		})
	}
}
