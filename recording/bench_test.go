package recording

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// discardSink stores nothing: what the recorder itself costs. It counts
// what it was given.
type discardSink struct{ bytes atomic.Int64 }

func (s *discardSink) AppendRecording(_ context.Context, _ string, _ int, chunk []byte) error {
	s.bytes.Add(int64(len(chunk)))
	return nil
}

// terminalOutput is 32 KiB as a shell shows it: colours, text, a little
// UTF-8 and control characters.
var terminalOutput = func() []byte {
	line := []byte("\x1b[01;34mdrwxr-xr-x\x1b[0m  2 alice staff  4096 Mär  3 10:41 \x1b[01;32mnotes-é€.txt\x1b[0m\t\"x\"\r\n")
	return bytes.Repeat(line, 32<<10/len(line)+1)[:32<<10]
}()

// benchmarkOutput times Output(p), everything recorded: every 2 MiB the
// timer stops until the flusher has appended what waits, so that the
// benchmark never outruns the sink into dropping (which costs nothing).
func benchmarkOutput(b *testing.B, p []byte) {
	sink := &discardSink{}
	r, err := Start(context.Background(), sink, "01JBENCH", Header{}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Output(p)
		if i%64 == 63 {
			b.StopTimer()
			for {
				r.mu.Lock()
				n, dropped := r.pending(), r.dropped.any()
				r.mu.Unlock()
				if dropped {
					b.Fatal("the recorder dropped output: the benchmark outran the flusher")
				}
				if n == 0 {
					break
				}
				time.Sleep(100 * time.Microsecond)
			}
			b.StartTimer()
		}
	}
	b.StopTimer()
	if err := r.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(sink.bytes.Load())/float64(b.N)/float64(len(p)), "recorded/written")
}

// BenchmarkOutput is one 32 KiB write of terminal output
// (go test ./recording -run '^$' -bench Output).
func BenchmarkOutput(b *testing.B) { benchmarkOutput(b, terminalOutput) }

// BenchmarkOutputASCII is a 32 KiB write of plain text.
func BenchmarkOutputASCII(b *testing.B) {
	benchmarkOutput(b, bytes.Repeat([]byte("lorem ipsum dolor sit amet "), 32<<10/27+1)[:32<<10])
}

// Output allocates nothing per byte: a 32 KiB write costs at most the
// occasional growth of a buffer.
func TestOutputAllocations(t *testing.T) {
	r, err := Start(context.Background(), &discardSink{}, "01JALLOCS", Header{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n := testing.AllocsPerRun(200, func() { r.Output(terminalOutput) }); n > 4 {
		t.Errorf("Output of 32 KiB: %.1f allocations, want a few at most (none per byte)", n)
	}
}
