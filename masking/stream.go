package masking

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/wardenhq/warden/masking/detect"
)

// StreamMasker masks text streams: a command's output, a session's
// terminal. A text stream has no columns, so only the profile's detectors
// apply.
type StreamMasker interface {
	// Stream returns a writer that masks what is written to it and
	// passes it on to w. Close flushes what it still holds; until then it
	// keeps back the stream's last bytes, so that a value split across two
	// writes is seen whole.
	Stream(ctx context.Context, req Request, w io.Writer) (StreamWriter, error)
}

// StreamWriter is one masked stream.
type StreamWriter interface {
	io.WriteCloser
	// Flush passes on, masked, what the stream holds back, but for an
	// unfinished UTF-8 sequence: for an interactive terminal, whose
	// prompt must appear when the program waits. A value split across a
	// Flush is seen in two parts, so a caller flushes only when the
	// output pauses (nothing more arrived for a while), never after each
	// write.
	Flush() error
	// Summary counts what was masked, by detector ("detector:email").
	Summary() map[string]int64
}

// Stream implements StreamMasker with the profile's detectors; a profile
// without detectors, or no profile, passes the stream through.
func (e *Engine) Stream(_ context.Context, req Request, w io.Writer) (StreamWriter, error) {
	if req.Profile == "" {
		return passStream{w}, nil
	}
	prof, ok := e.profiles[req.Profile]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownProfile, req.Profile)
	}
	if prof.scanner == nil {
		return passStream{w}, nil
	}
	return NewStream(prof.scanner, w), nil
}

// Stream implements StreamMasker: nothing is masked.
func (None) Stream(_ context.Context, _ Request, w io.Writer) (StreamWriter, error) {
	return passStream{w}, nil
}

type passStream struct{ w io.Writer }

func (p passStream) Write(b []byte) (int, error) { return p.w.Write(b) }
func (passStream) Close() error                  { return nil }
func (passStream) Flush() error                  { return nil }
func (passStream) Summary() map[string]int64     { return nil }

// Stream holding sizes. A value the detectors look for (a key, a token, a
// card number) is far shorter than streamHold, except PEM blocks, which
// are held whole up to pemHold. A stream passes its text on once it holds
// streamBatch bytes more than streamHold: each cut scans the held bytes
// again, so the larger the batch, the less of the text is scanned twice
// (an eighth at 56 KB, a half at 8 KB).
const (
	streamHold  = 8 << 10
	streamBatch = 56 << 10
	pemHold     = 64 << 10
)

var pemBegin, pemEnd = []byte("-----BEGIN "), []byte("-----END ")

// detectStream masks a stream with a scanner. It passes on everything but
// the last streamHold bytes (cut after a line or a space, never inside a
// match, never in a rune), and holds an unfinished PEM block whole.
//
// The held bytes are scanned once for each cut, and only the lines that
// hold a value go through the masker: a line break outside every value
// is as safe a place to cut the text as the cut itself, so masking those
// lines apart and passing the others on as they are gives what masking
// the whole text gives.
type detectStream struct {
	scanner *detect.Scanner
	w       io.Writer
	buf     []byte
	matches []detect.Match // the values in buf, by find
	out     []byte         // what emit passes on, in one write
	scanAt  int            // Write scans once buf is longer than this
	counts  detect.Counts
	err     error
}

// NewStream masks what is written to it with scanner and passes it on to
// w.
func NewStream(scanner *detect.Scanner, w io.Writer) StreamWriter {
	return &detectStream{scanner: scanner, w: w}
}

// Write takes p, and passes on what no later byte can change.
func (d *detectStream) Write(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	d.buf = append(d.buf, p...)
	if len(d.buf) > max(d.scanAt, streamHold+streamBatch) {
		d.find()
		d.emit(d.cut())
		// When the cut could not pass much on (an unfinished PEM
		// block is held), scan again only once another half batch
		// has come, not at every write: small writes would rescan
		// the same held bytes each time. Past twice the PEM hold the
		// cut is forced, so every write may cut.
		d.scanAt = min(len(d.buf)+streamBatch/2, 2*pemHold)
	}
	return len(p), d.err
}

// Close passes on, masked, everything still held.
func (d *detectStream) Close() error {
	if d.err == nil && len(d.buf) > 0 {
		d.find()
		d.emit(len(d.buf))
	}
	return d.err
}

// Flush implements StreamWriter.
func (d *detectStream) Flush() error {
	if d.err != nil {
		return d.err
	}
	n := len(d.buf)
	// Not inside a rune: keep an unfinished trailing sequence.
	if i := lastRuneStart(d.buf); i >= 0 && !utf8.FullRune(d.buf[i:]) {
		n = i
	}
	d.find()
	d.emit(n)
	return d.err
}

// lastRuneStart is the index of the last byte that starts a rune in the
// final utf8.UTFMax bytes of b, -1 if none.
func lastRuneStart(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			return i
		}
	}
	return -1
}

// Summary implements StreamWriter.
func (d *detectStream) Summary() map[string]int64 {
	var out map[string]int64
	d.counts.Each(func(k detect.Kind, n int) {
		if out == nil {
			out = map[string]int64{}
		}
		out["detector:"+string(k)] += int64(n)
	})
	return out
}

// find scans what is held for the values in it.
func (d *detectStream) find() {
	d.matches = d.scanner.Find(string(d.buf), d.matches[:0])
}

// cut is how much of the buffer can be passed on now; find must have
// scanned it.
func (d *detectStream) cut() int {
	b := d.buf
	cut := len(b) - streamHold
	// After the last line break (or else space) before the cut.
	if i := bytes.LastIndexByte(b[:cut], '\n'); i >= 0 {
		cut = i + 1
	} else if i := bytes.LastIndexAny(b[:cut], " \t"); i >= 0 {
		cut = i + 1
	}
	// Not inside a PEM block that has not ended. (Index first: it
	// rules out the common case far faster than LastIndex.)
	if bytes.Index(b[:cut], pemBegin) >= 0 {
		if i := bytes.LastIndex(b[:cut], pemBegin); !bytes.Contains(b[i:], pemEnd) && len(b)-i <= pemHold {
			cut = i
		}
	}
	// Not inside a value the detectors see.
	for _, m := range d.matches {
		if m.Start < cut && cut < m.End {
			cut = m.Start
		}
	}
	// However long a value, memory is bounded: past twice the PEM hold
	// the buffer is cut where it must be.
	if len(b) > 2*pemHold {
		cut = max(cut, len(b)-streamHold)
	}
	for cut > 0 && cut < len(b) && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return cut
}

// emit masks and passes on the first n bytes held; find must have
// scanned them. Each run of lines that holds a value is masked whole; the
// lines between are passed on as they are.
func (d *detectStream) emit(n int) {
	if n <= 0 {
		return
	}
	b := d.buf[:n]
	d.out = d.out[:0]
	pos := 0
	for i := 0; i < len(d.matches) && d.matches[i].Start < n; {
		start := pos + bytes.LastIndexByte(b[pos:d.matches[i].Start], '\n') + 1
		end := lineEnd(b, d.matches[i].End)
		for i++; i < len(d.matches) && d.matches[i].Start < end; i++ {
			end = lineEnd(b, max(end, d.matches[i].End))
		}
		masked, _ := d.scanner.MaskText(string(b[start:end]), &d.counts)
		d.out = append(append(d.out, b[pos:start]...), masked...)
		pos = end
	}
	d.out = append(d.out, b[pos:]...)
	if _, err := d.w.Write(d.out); err != nil {
		d.err = err
	}
	if cap(d.out) > 2*(streamHold+streamBatch)+pemHold {
		d.out = nil // a burst's buffer is not kept for the stream's life
	}
	d.buf = append(d.buf[:0], d.buf[n:]...)
}

// lineEnd is the index just past the first line break in b at or after
// i, or len(b).
func lineEnd(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	if j := bytes.IndexByte(b[i:], '\n'); j >= 0 {
		return i + j + 1
	}
	return len(b)
}

var (
	_ StreamMasker = (*Engine)(nil)
	_ StreamMasker = None{}
)
