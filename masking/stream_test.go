package masking

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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
	filler := strings.Repeat("log line with nothing to hide, id 17\n", 2000) // over streamHold+streamBatch
	secrets := []string{"alice.smith@example.com", "4111 1111 1111 1111", "password=hunter2-correct-horse", testPEM}
	for _, secret := range secrets {
		// Placed so that the first cut (streamHold+streamBatch bytes
		// in, minus the hold) falls at every byte of it in turn.
		for shift := range len(secret) + 2 {
			text := filler[:streamBatch+1-shift] + secret + " done\n" + filler
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

// logText is n bytes of service log lines with an e-mail address about
// every 4 KB, like the SSH streaming benchmark's file (bench/sshhost.go).
func logText(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		if i%30 == 29 {
			b.WriteString("2026-03-01T10:00:01.250Z INFO   billing: sent invoice " + strconv.Itoa(100000+i) + " to grace.hopper" + strconv.Itoa(i%10000) + "@example.com (order 4471, 3 items)\n")
			continue
		}
		b.WriteString("2026-03-01T10:00:01.250Z INFO   http: GET /api/v1/orders/" + strconv.Itoa(i%100000) + "?page=3 -> 200, " + strconv.Itoa(i*7%50000) + " bytes in 12." + strconv.Itoa(i%1000) + " ms, worker 7, cache hit\n")
	}
	return b.Bytes()[:n]
}

// BenchmarkStreamLog masks a command's output as exec_ssh and the SSH
// proxy receive it, in writes of 32 KB (x/crypto/ssh's copy buffer),
// with every detector on, and with the e-mail detector alone.
func BenchmarkStreamLog(b *testing.B) {
	text := logText(4 << 20)
	for _, kinds := range [][]detect.Kind{nil, {detect.Email}} {
		name := "all"
		if kinds != nil {
			name = string(kinds[0])
		}
		b.Run(name, func(b *testing.B) {
			sc, err := detect.NewScanner(detect.Config{Kinds: kinds})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				s := NewStream(sc, io.Discard)
				for i := 0; i < len(text); i += 32 << 10 {
					s.Write(text[i:min(i+32<<10, len(text))])
				}
				s.Close()
			}
			// On a shared machine the CPU the process spent is
			// steadier than the wall clock b measures.
			b.ReportMetric(float64(b.N)*float64(len(text))/1e6/(processCPU()-cpu0).Seconds(), "MB/cpu-s")
		})
	}
}

// processCPU is the CPU time this process has spent, all threads.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestStreamEqualsWholeText: a long stream of lines of every kind of
// value the detectors know (the detect package's golden inputs, a PEM
// block, log lines), written in pieces of many sizes, comes out exactly
// as masking the whole text at once.
func TestStreamEqualsWholeText(t *testing.T) {
	sc, err := detect.NewScanner(detect.Config{})
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("detect/testdata/mask/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("golden inputs: %v", err)
	}
	var lines []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		in, _, _ := strings.Cut(string(b), "\n----------\n")
		lines = append(lines, strings.Split(in, "\n")...)
	}
	lines = append(lines, strings.TrimSuffix(testPEM, "\n"), "contact alice.smith@example.com or bob@example.org", "",
		"  indented 4111 1111 1111 1111 and trailing spaces   ", strings.Repeat("x", 9000)+" ada@example.com")
	r := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	log := string(logText(200 << 10))
	for b.Len() < 300<<10 {
		if r.IntN(3) == 0 {
			b.WriteString(lines[r.IntN(len(lines))])
			b.WriteByte('\n')
		} else {
			i := r.IntN(len(log) - 2000)
			b.WriteString(log[i : i+r.IntN(2000)])
		}
	}
	text := b.String()
	whole, _ := sc.MaskText(text, nil)
	for _, n := range []int{1, 13, 4096, 32 << 10, 100 << 10} {
		if got, _ := streamThrough(t, sc, text, n); got != whole {
			i := 0
			for i < len(got) && i < len(whole) && got[i] == whole[i] {
				i++
			}
			t.Fatalf("in pieces of %d: differs from masking the whole text at byte %d:\n got %q\nwant %q", n, i, got[max(0, i-80):min(len(got), i+80)], whole[max(0, i-80):min(len(whole), i+80)])
		}
	}
}
