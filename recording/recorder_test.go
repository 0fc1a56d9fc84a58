package recording

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// memSink keeps chunks in memory, checking what the Sink contract
// promises a store: seq in order from 0, whole lines, at most MaxChunk.
type memSink struct {
	mu     sync.Mutex
	chunks [][]byte
	errs   []error     // contract violations seen
	gate   chan func() // if set, each append after the header waits for a value, and runs it
	failAt int         // if > 0, the append of this seq fails
}

var errSinkDown = errors.New("sink down")

func (s *memSink) AppendRecording(ctx context.Context, id string, seq int, chunk []byte) error {
	if s.gate != nil && seq > 0 {
		select {
		case f := <-s.gate:
			f()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case seq != len(s.chunks):
		s.errs = append(s.errs, fmt.Errorf("chunk %d appended after %d chunks", seq, len(s.chunks)))
	case len(chunk) == 0 || len(chunk) > MaxChunk:
		s.errs = append(s.errs, fmt.Errorf("chunk %d is %d bytes", seq, len(chunk)))
	case chunk[len(chunk)-1] != '\n':
		s.errs = append(s.errs, fmt.Errorf("chunk %d does not end a line", seq))
	}
	if s.failAt > 0 && seq == s.failAt {
		return errSinkDown
	}
	s.chunks = append(s.chunks, bytes.Clone(chunk))
	return nil
}

// snapshot returns the chunks stored so far.
func (s *memSink) snapshot() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slicesClone(s.chunks)
}

func slicesClone(c [][]byte) [][]byte { return append([][]byte(nil), c...) }

// decoded checks the sink kept its contract and decodes its chunks.
func (s *memSink) decoded(t *testing.T) (Header, []Event) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, err := range s.errs {
		t.Error(err)
	}
	h, evs, err := Decode(bytes.NewReader(bytes.Join(s.chunks, nil)))
	if err != nil {
		t.Fatalf("the stored chunks are not a cast file: %v", err)
	}
	return h, evs
}

func start(t *testing.T, sink Sink, h Header, opts Options) *Recorder {
	t.Helper()
	r, err := Start(context.Background(), sink, "01JTESTRECORDING0000000000", h, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// joined concatenates the data of the events of type typ.
func joined(evs []Event, typ string) string {
	var b strings.Builder
	for _, ev := range evs {
		if ev.Type == typ {
			b.WriteString(ev.Data)
		}
	}
	return b.String()
}

func types(evs []Event) string {
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString(ev.Type)
	}
	return b.String()
}

// A session's events come back in order, with the header Start
// completed; of the environment only TERM and SHELL are kept.
func TestRecorderRecordsASession(t *testing.T) {
	sink := &memSink{}
	before := time.Now().Truncate(time.Second)
	r := start(t, sink, Header{Command: "ls -l", Env: map[string]string{
		"TERM": "xterm-256color", "SHELL": "/bin/zsh", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI",
	}}, Options{})
	r.Output([]byte("$ "))
	r.Input([]byte("ls\r"))
	r.Resize(132, 43)
	r.Resize(0, 10) // ignored
	r.Output([]byte("a.txt\r\n"))
	r.Exit(3)
	r.Exit(4) // ignored
	r.Output([]byte("after exit\r\n"))
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r.Output([]byte("after close")) // ignored
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	h, evs := sink.decoded(t)
	if h.Width != 80 || h.Height != 24 || h.Command != "ls -l" || h.Timestamp.Before(before) || h.Timestamp.After(time.Now()) {
		t.Errorf("header = %+v", h)
	}
	if len(h.Env) != 2 || h.Env["TERM"] != "xterm-256color" || h.Env["SHELL"] != "/bin/zsh" {
		t.Errorf("header env = %v, want TERM and SHELL only", h.Env)
	}
	if all := bytes.Join(sink.snapshot(), nil); bytes.Contains(all, []byte("wJalrXUtnFEMI")) {
		t.Error("the recording holds an environment variable other than TERM and SHELL")
	}
	if got, want := types(evs), "oiroxo"; got != want {
		t.Errorf("event types = %q, want %q (%+v)", got, want, evs)
	}
	if got := joined(evs, TypeOutput); got != "$ a.txt\r\nafter exit\r\n" {
		t.Errorf("output = %q", got)
	}
	if evs[2].Data != "132x43" || evs[4].Data != "3" {
		t.Errorf("resize %q, exit %q; want 132x43 and 3", evs[2].Data, evs[4].Data)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Time < evs[i-1].Time {
			t.Errorf("event %d at %v before event %d at %v", i, evs[i].Time, i-1, evs[i-1].Time)
		}
	}
}

// Output split inside a UTF-8 sequence is recorded whole, whatever the
// split; bytes that are not UTF-8 become U+FFFD; a sequence left
// incomplete when the session ends becomes U+FFFD too.
func TestRecorderSplitUTF8(t *testing.T) {
	text := []byte("é€😀 ok \xff x 日本語\x1b[0m")
	for _, tt := range []struct {
		name   string
		splits []int // cut text before these offsets
	}{
		{"byte by byte", func() (s []int) {
			for i := 1; i < len(text); i++ {
				s = append(s, i)
			}
			return s
		}()},
		{"inside é", []int{1}},
		{"inside €", []int{3, 4}},
		{"emoji one byte at a time", []int{6, 7, 8}},
		{"emoji 1+3", []int{6}},
		{"emoji 3+1", []int{9}},
		{"after the invalid byte", []int{14, 15}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sink := &memSink{}
			r := start(t, sink, Header{}, Options{})
			prev := 0
			for _, cut := range append(tt.splits, len(text)) {
				r.Output(text[prev:cut])
				prev = cut
			}
			r.Output([]byte("\xe2\x82")) // incomplete when the session ends
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			_, evs := sink.decoded(t)
			if got, want := joined(evs, TypeOutput), "é€😀 ok \uFFFD x 日本語\x1b[0m\uFFFD\uFFFD"; got != want {
				t.Errorf("output = %q, want %q", got, want)
			}
		})
	}
}

// Input has its own carry: a split sequence of keystrokes is not mixed
// with output written between its halves.
func TestRecorderInputAndOutputCarriesApart(t *testing.T) {
	sink := &memSink{}
	r := start(t, sink, Header{}, Options{})
	r.Input([]byte("\xc3"))
	r.Output([]byte("\xe2\x82"))
	r.Input([]byte("\xa9"))
	r.Output([]byte("\xac"))
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	_, evs := sink.decoded(t)
	if in, out := joined(evs, TypeInput), joined(evs, TypeOutput); in != "é" || out != "€" {
		t.Errorf("input %q, output %q; want é and €", in, out)
	}
}

// A large write is recorded as several events of one time, each line
// far below a chunk; all of it is there.
func TestRecorderLargeWrite(t *testing.T) {
	sink := &memSink{}
	r := start(t, sink, Header{}, Options{})
	big := bytes.Repeat([]byte("0123456789abcdé\x1b[0m\n"), 3<<20/22)
	r.Output(big)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	_, evs := sink.decoded(t)
	if got := joined(evs, TypeOutput); got != string(big) {
		t.Fatalf("output: %d bytes recorded, want %d", len(got), len(big))
	}
	if len(evs) < len(big)/maxEventData {
		t.Errorf("%d events for %d bytes, want at most %d bytes an event", len(evs), len(big), maxEventData)
	}
	for _, ev := range evs {
		if ev.Time != evs[0].Time {
			t.Fatalf("the events of one write have times %v and %v", evs[0].Time, ev.Time)
		}
	}
	if n := len(sink.snapshot()); n < 3 {
		t.Errorf("%d chunks for a %d-byte recording, want several of at most %d", n, len(big), MaxChunk)
	}
}

// A sink that stops answering never blocks the recorded session: output
// beyond MaxPending is dropped, and one marker says how many bytes; once
// the sink catches up, output is recorded again.
func TestRecorderBackpressure(t *testing.T) {
	sink := &memSink{gate: make(chan func())}
	const maxPending = 64 << 10
	r := start(t, sink, Header{}, Options{MaxPending: maxPending, FlushSize: 4 << 10})
	line := bytes.Repeat([]byte("x"), 1023)
	line = append(line, '\n')
	const writes = 1024 // 1 MiB while the sink is stuck
	for range writes {
		r.Output(line)
	}
	r.Input([]byte("q"))
	r.Resize(10, 10)

	// Let the sink go: every append from now on goes through.
	released := make(chan struct{})
	go func() {
		for {
			select {
			case sink.gate <- func() {}:
			case <-released:
				return
			}
		}
	}()
	defer close(released)
	// Wait until the sink caught up below half of MaxPending.
	for {
		r.mu.Lock()
		pending := r.pending()
		r.mu.Unlock()
		if pending <= maxPending/2 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	r.Output([]byte("after\n"))
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	_, evs := sink.decoded(t)
	var markers []Event
	for _, ev := range evs {
		if ev.Type == TypeMarker {
			markers = append(markers, ev)
		}
	}
	if len(markers) != 1 {
		t.Fatalf("%d markers, want 1: %+v", len(markers), markers)
	}
	recorded := strings.TrimSuffix(joined(evs, TypeOutput), "after\n")
	if len(recorded) > maxPending || len(recorded) == 0 || len(recorded)%len(line) != 0 {
		t.Errorf("%d bytes of output recorded while the sink was stuck, want whole writes up to %d", len(recorded), maxPending)
	}
	dropped := writes*len(line) - len(recorded)
	want := fmt.Sprintf("warden: not recorded: %d bytes of output, 1 bytes of input, 1 resizes (the audit store fell behind)", dropped)
	if markers[0].Data != want {
		t.Errorf("marker = %q, want %q", markers[0].Data, want)
	}
	if !strings.HasSuffix(joined(evs, TypeOutput), "after\n") || evs[len(evs)-1].Data != "after\n" {
		t.Errorf("output after the sink caught up is missing or before the marker: %+v", evs[len(evs)-3:])
	}
}

// The chunks stored at any moment, even when the process dies before
// Close, are a valid cast file: every prefix of them decodes.
func TestRecorderCrashSafePrefix(t *testing.T) {
	sink := &memSink{}
	r := start(t, sink, Header{Width: 100, Height: 30}, Options{FlushSize: 1 << 10, FlushInterval: time.Millisecond})
	payload := []byte("é€😀 \x1b[31mred\x1b[0m \"quoted\" \\ \r\n")
	for i := 0; len(sink.snapshot()) < 12; i++ {
		// Odd splits, so that sequences cross writes and chunks.
		cut := i % len(payload)
		r.Output(payload[:cut])
		r.Output(payload[cut:])
		r.Input([]byte{'a' + byte(i%26)})
		if i%7 == 0 {
			r.Resize(80+i%40, 24)
		}
		if i%50 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	chunks := sink.snapshot() // as a crash would leave them: no Close
	for k := 1; k <= len(chunks); k++ {
		h, evs, err := Decode(bytes.NewReader(bytes.Join(chunks[:k], nil)))
		if err != nil {
			t.Fatalf("the first %d of %d chunks are not a cast file: %v", k, len(chunks), err)
		}
		if h.Width != 100 || (k > 1 && len(evs) == 0) {
			t.Fatalf("the first %d chunks: header %+v, %d events", k, h, len(evs))
		}
	}
}

// The first failed append stops the recording: Close and Err return it,
// nothing more is appended, and the session goes on unhindered.
func TestRecorderSinkFails(t *testing.T) {
	sink := &memSink{failAt: 2}
	r := start(t, sink, Header{}, Options{FlushSize: 1})
	for i := 0; r.Err() == nil; i++ {
		r.Output([]byte("some output\r\n"))
		if i%100 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	for range 1000 {
		r.Output([]byte("more output\r\n"))
	}
	if err := r.Close(); !errors.Is(err, errSinkDown) || !strings.Contains(err.Error(), "chunk 2") {
		t.Fatalf("Close = %v, want the sink's error for chunk 2", err)
	}
	if n := len(sink.snapshot()); n != 2 {
		t.Errorf("%d chunks stored, want 2 (header and chunk 1): nothing after the failure", n)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := r.pending(); n != 0 {
		t.Errorf("the recorder holds %d bytes after it stopped", n)
	}
}

// A header that cannot be stored fails Start: the caller knows before
// the session runs that it would not be recorded.
func TestStartFails(t *testing.T) {
	sink := &memSink{}
	for _, tt := range []struct {
		name string
		sink Sink
		id   string
		want string
	}{
		{"no sink", nil, "01J", "no sink"},
		{"no id", sink, "", "no recording id"},
		{"header not stored", failingSink{}, "01J", "write header: sink down"},
	} {
		if _, err := Start(context.Background(), tt.sink, tt.id, Header{}, Options{}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Start = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

type failingSink struct{}

func (failingSink) AppendRecording(context.Context, string, int, []byte) error { return errSinkDown }

// A header too long for a chunk is cut at a character boundary.
func TestStartBoundsTheHeader(t *testing.T) {
	sink := &memSink{}
	long := strings.Repeat("é", maxHeaderText)
	r := start(t, sink, Header{Command: long, Title: long, Env: map[string]string{"TERM": long}}, Options{})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	h, _ := sink.decoded(t)
	if len(h.Command) > maxHeaderText || !strings.HasSuffix(h.Command, "é…") || len(h.Env["TERM"]) > maxEnvValue {
		t.Errorf("header fields: command %d bytes (%q...), TERM %d bytes", len(h.Command), h.Command[len(h.Command)-8:], len(h.Env["TERM"]))
	}
}

// Output and input from goroutines of their own are all recorded, each
// write whole, in time order.
func TestRecorderConcurrent(t *testing.T) {
	sink := &memSink{}
	r := start(t, sink, Header{}, Options{FlushSize: 512})
	const n = 2000
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range n {
			r.Output(fmt.Appendf(nil, "out %d é\n", i))
		}
	})
	wg.Go(func() {
		for i := range n {
			r.Input(fmt.Appendf(nil, "in %d €\n", i))
		}
	})
	wg.Go(func() {
		for i := range n / 10 {
			r.Resize(80+i%10, 24)
		}
	})
	wg.Wait()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	_, evs := sink.decoded(t)
	var outs, ins int
	for _, ev := range evs {
		switch ev.Type {
		case TypeOutput:
			if ev.Data != fmt.Sprintf("out %d é\n", outs) {
				t.Fatalf("output event %d = %q", outs, ev.Data)
			}
			outs++
		case TypeInput:
			if ev.Data != fmt.Sprintf("in %d €\n", ins) {
				t.Fatalf("input event %d = %q", ins, ev.Data)
			}
			ins++
		}
	}
	if outs != n || ins != n {
		t.Errorf("%d output and %d input events, want %d each", outs, ins, n)
	}
}
