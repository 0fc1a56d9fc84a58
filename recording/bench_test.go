package recording

import (
	"bytes"
	"context"
	"testing"
)

// discardSink stores nothing: what the recorder itself costs.
type discardSink struct{}

func (discardSink) AppendRecording(context.Context, string, int, []byte) error { return nil }

// terminalOutput is 32 KiB as a shell shows it: colours, text, a little
// UTF-8 and control characters.
var terminalOutput = func() []byte {
	line := []byte("\x1b[01;34mdrwxr-xr-x\x1b[0m  2 alice staff  4096 Mär  3 10:41 \x1b[01;32mnotes-é€.txt\x1b[0m\t\"x\"\r\n")
	return bytes.Repeat(line, 32<<10/len(line)+1)[:32<<10]
}()

// BenchmarkOutput is one 32 KiB write of terminal output
// (go test ./recording -run '^$' -bench Output).
func BenchmarkOutput(b *testing.B) {
	r, err := Start(context.Background(), discardSink{}, "01JBENCH", Header{}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.SetBytes(int64(len(terminalOutput)))
	b.ReportAllocs()
	for b.Loop() {
		r.Output(terminalOutput)
	}
}

// BenchmarkOutputASCII is a 32 KiB write of plain text.
func BenchmarkOutputASCII(b *testing.B) {
	r, err := Start(context.Background(), discardSink{}, "01JBENCH", Header{}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	p := bytes.Repeat([]byte("lorem ipsum dolor sit amet "), 32<<10/27+1)[:32<<10]
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		r.Output(p)
	}
}

// Output allocates nothing per byte: a 32 KiB write costs at most the
// occasional growth of a buffer.
func TestOutputAllocations(t *testing.T) {
	r, err := Start(context.Background(), discardSink{}, "01JALLOCS", Header{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n := testing.AllocsPerRun(200, func() { r.Output(terminalOutput) }); n > 4 {
		t.Errorf("Output of 32 KiB: %.1f allocations, want a few at most (none per byte)", n)
	}
}
