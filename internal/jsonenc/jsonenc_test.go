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

func FuzzAppendFloat(f *testing.F) {
	for _, x := range []float64{0, 1, -1.5, 1e-7, 1e21, 123456789.125, 5e-324, 1.7976931348623157e308} {
		f.Add(x)
	}
	f.Fuzz(func(t *testing.T, x float64) {
		want, err := json.Marshal(x)
		if err != nil {
			return // NaN and infinities are not JSON
		}
		if got := AppendFloat(nil, x); !bytes.Equal(got, want) {
			t.Fatalf("%v: got %s want %s", x, got, want)
		}
	})
}
