package jsonenc

import (
	"bytes"
	"encoding/json"
	"testing"
)

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", "\"\\", "\x00\x1f", "\xff\xfe", "é\u2028\u2029", "<script>&", "\b\f\n\r\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := AppendString([]byte("x"), s)
		want, _ := json.Marshal(s)
		if !bytes.Equal(got[1:], want) || got[0] != 'x' {
			t.Fatalf("%q: got %s want %s", s, got, want)
		}
	})
}
