package masking

import (
	"bytes"
	"strings"
	"testing"

	"github.com/wardenhq/warden/masking/detect"
)

const testPEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB\naIR4ahmyjv+zh0yLBPNw0VAKLZYpqz2KQhrjR2rSEwlJPfZc3wNyxfyDvDZ2zUmA\n-----END RSA PRIVATE KEY-----\n"

// streamThrough writes text to a detector stream in pieces of size n (1:
// byte by byte) and returns what came out.
func streamThrough(t *testing.T, sc *detect.Scanner, text string, n int) (string, StreamWriter) {
	t.Helper()
	var out bytes.Buffer
	s := NewStream(sc, &out)
	for i := 0; i < len(text); i += n {
		if _, err := s.Write([]byte(text[i:min(i+n, len(text))])); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return out.String(), s
}

// TestStreamMasksValuesSplitAcrossWrites: a value cut by the writes (byte
// by byte, at odd sizes, across the hold boundary) is masked as if it came
// whole, and nothing else of the stream changes.
func TestStreamMasksValuesSplitAcrossWrites(t *testing.T) {
	sc, err := detect.NewScanner(detect.Config{})
	if err != nil {
		t.Fatal(err)
	}
	filler := strings.Repeat("log line with nothing to hide, id 17\n", 700) // over 2×streamHold
	secrets := []string{"alice.smith@example.com", "4111 1111 1111 1111", "password=hunter2-correct-horse", testPEM}
	for _, secret := range secrets {
		// Placed so that the first cut (2×streamHold bytes in, minus
		// the hold) falls at every byte of it in turn.
		for shift := range len(secret) + 2 {
			text := filler[:streamHold+1-shift] + secret + " done\n" + filler
			whole, _, _ := sc.Mask(text, nil)
			for _, n := range []int{1, 4096} {
				if got, _ := streamThrough(t, sc, text, n); got != whole {
					t.Fatalf("%q shifted %d in pieces of %d: output differs from masking the whole text", secret[:10], shift, n)
				}
			}
		}
		text := filler + "user " + secret + " done\n" + filler
		whole, _, _ := sc.Mask(text, nil)
		for _, n := range []int{1, 7, 4096, streamHold - 3, streamHold + 5, len(text)} {
			got, s := streamThrough(t, sc, text, n)
			if strings.Contains(got, strings.TrimSpace(secret)) || strings.Contains(got, "MIIEowIBAAKCAQEA") {
				t.Fatalf("%q in pieces of %d: the value came through", secret[:10], n)
			}
			if got != whole {
				t.Fatalf("%q in pieces of %d: output differs from masking the whole text", secret[:10], n)
			}
			if len(s.Summary()) == 0 {
				t.Errorf("%q in pieces of %d: nothing counted", secret[:10], n)
			}
		}
	}
}

// TestStreamWithheld: a value whose strategy is null is replaced, not the
// whole stream withheld.
func TestStreamWithheld(t *testing.T) {
	sc, err := detect.NewScanner(detect.Config{Kinds: []detect.Kind{detect.Email}, Default: detect.Strategy{Name: detect.StrategyNull}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := streamThrough(t, sc, "to bob@example.org today\n", 3)
	if got != "to "+detect.Withheld+" today\n" {
		t.Errorf("got %q", got)
	}
}

// TestStreamBounded: however long an unbroken value (a PEM block that
// never ends, a blob the detectors match), the stream holds a bounded
// amount and passes the rest on.
func TestStreamBounded(t *testing.T) {
	sc, err := detect.NewScanner(detect.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	s := NewStream(sc, &out).(*detectStream)
	chunk := []byte("-----BEGIN RSA PRIVATE KEY-----\n" + strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", 100))
	for range 200 {
		s.Write(chunk)
		if len(s.buf) > 2*pemHold+len(chunk) {
			t.Fatalf("held %d bytes", len(s.buf))
		}
	}
	if out.Len() == 0 {
		t.Error("nothing passed on")
	}
}

// TestStreamFlush: a flush passes on what is held, masked, so a prompt
// shows; an unfinished rune waits for its last bytes.
func TestStreamFlush(t *testing.T) {
	sc, err := detect.NewScanner(detect.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	s := NewStream(sc, &out)
	s.Write([]byte("user alice.smith@example.com\n$ "))
	if out.Len() != 0 {
		t.Fatalf("a short write came through before a flush: %q", out.String())
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.HasSuffix(got, "\n$ ") || strings.Contains(got, "alice.smith") {
		t.Fatalf("after flush: %q, want the prompt and the address masked", got)
	}
	out.Reset()
	e := []byte("é")
	s.Write([]byte{'x', e[0]})
	s.Flush()
	if got := out.String(); got != "x" {
		t.Fatalf("flush cut a rune: %q", got)
	}
	s.Write(e[1:])
	s.Flush()
	if got := out.String(); got != "xé" {
		t.Fatalf("after the rune's end: %q", got)
	}
	if s.Summary()["detector:email"] != 1 {
		t.Errorf("summary %v", s.Summary())
	}
}
