package recording

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/wardenhq/warden/audit"
)

// Sink stores the chunks of recordings; the audit store is one
// (audit.Recordings).
type Sink interface {
	// AppendRecording stores chunk as chunk seq of recording id and
	// returns once it is durable. A Recorder calls it from one goroutine
	// at a time, seq 0 (the header) first, then 1, 2, ... in order; each
	// chunk is whole lines, at most MaxChunk bytes. It must not keep
	// chunk once it returns.
	AppendRecording(ctx context.Context, id string, seq int, chunk []byte) error
}

// Writer is what a proxy records one stream into (an SSH channel, a
// Kubernetes exec): output as the client saw it, input, window changes
// and the exit. *Recorder implements it.
type Writer interface {
	Output(p []byte)
	Input(p []byte)
	Resize(width, height int)
	Exit(status int)
	Close() error
}

var _ Writer = (*Recorder)(nil)

// Defaults of Options, and limits.
const (
	DefaultFlushInterval = 200 * time.Millisecond
	DefaultFlushSize     = 64 << 10
	DefaultMaxPending    = 8 << 20
	DefaultAppendTimeout = 30 * time.Second

	// MaxChunk is the largest chunk a Recorder appends: what the audit
	// store accepts.
	MaxChunk = audit.MaxRecordingChunk

	// maxEventData is the most bytes of one Output or Input call one
	// event holds; a longer write becomes several events of one time,
	// so a line stays far below MaxChunk, escaped.
	maxEventData = 16 << 10
	// maxHeaderText and maxEnvValue bound the header's strings, so that
	// it fits in a chunk; longer ones are cut (the audit event has the
	// whole command).
	maxHeaderText = 64 << 10
	maxEnvValue   = 1 << 10
)

// Options tunes a Recorder; zero fields take the defaults.
type Options struct {
	// FlushInterval is the longest a recorded event waits before the
	// recorder appends it (DefaultFlushInterval).
	FlushInterval time.Duration
	// FlushSize is about how big a chunk is: once that many bytes
	// wait, they are appended at once (DefaultFlushSize, at most
	// MaxChunk/2).
	FlushSize int
	// MaxPending is how many bytes may wait for the sink (appended, not
	// yet returned, and not yet appended). Past it the recorder drops
	// output, input and resizes until the sink has caught up with half
	// of it, then records a marker event saying what it dropped
	// (DefaultMaxPending).
	MaxPending int
	// AppendTimeout bounds each append (DefaultAppendTimeout).
	AppendTimeout time.Duration
	// Logger gets the append that failed, once; nil discards it.
	Logger *slog.Logger
}

// Recorder records one session as asciicast v2 into a Sink. Its methods
// never wait for the sink: events are encoded into blocks that a
// goroutine of the recorder appends as chunks of whole lines, so the
// chunks stored up to any point concatenate into a valid .cast file. It
// is safe for concurrent use: output and input may come from different
// goroutines, and times never decrease in the order events are recorded.
type Recorder struct {
	sink   Sink
	id     string
	opts   Options
	ctx    context.Context // Start's, without its end: the last appends outlive a session
	logger *slog.Logger
	start  time.Time // with its monotonic clock reading
	seq    int       // the next chunk; the flusher's own once Start returned

	// Events are encoded into blocks of whole lines, of about FlushSize
	// bytes each; the flusher appends a block as a chunk and pools it.
	blocks   sync.Pool // *[]byte, empty
	blockCap int

	mu       sync.Mutex
	buf      []byte    // the block being filled
	bufp     *[]byte   // the holder of buf's array, to queue and pool it without allocating
	queued   []*[]byte // full blocks, in order, for the flusher
	queuedN  int       // their bytes
	taken    []*[]byte // the flusher's last list of blocks, for queued's next turn
	inflight int       // bytes the flusher took and has not appended yet
	last     time.Duration
	out, in  carry
	dropped  dropped
	exited   bool
	closed   bool
	err      error // the first failed append: nothing is recorded after it

	wake      chan struct{} // lines arrived for a flusher that had none
	full      chan struct{} // a block is full
	closing   chan struct{}
	done      chan struct{} // the flusher returned
	closeOnce sync.Once
}

// Start begins recording id (the audit event ID of the exec or shell
// operation recorded) into sink, and appends the header before it
// returns: if that fails, the error says so and nothing is recorded, so a
// caller that must not run unrecorded can refuse. Event times count from
// Start. h is completed and bounded: a size of 0 becomes 80x24, a zero
// Timestamp is now, Env keeps TERM and SHELL only (an environment can
// hold secrets), and Command, Title and the Env values are cut to a
// bound that fits in a chunk. ctx bounds the header's append; its values
// (not its end) go with every later append.
func Start(ctx context.Context, sink Sink, id string, h Header, opts Options) (*Recorder, error) {
	switch {
	case sink == nil:
		return nil, errors.New("recording: no sink")
	case id == "":
		return nil, errors.New("recording: no recording id")
	}
	opts = withDefaults(opts)
	r := &Recorder{
		sink:   sink,
		id:     id,
		opts:   opts,
		ctx:    context.WithoutCancel(ctx),
		logger: opts.Logger,
		start:  time.Now(),
		// A block is sealed past FlushSize: room for the line that
		// crosses it, most of the time.
		blockCap: opts.FlushSize + opts.FlushSize/2 + 4<<10,
		wake:     make(chan struct{}, 1),
		full:     make(chan struct{}, 1),
		closing:  make(chan struct{}),
		done:     make(chan struct{}),
	}
	line, err := appendHeader(nil, boundHeader(h, r.start))
	if err != nil {
		return nil, fmt.Errorf("recording %s: %w", id, err)
	}
	if err := sink.AppendRecording(ctx, id, 0, line); err != nil {
		return nil, fmt.Errorf("recording %s: write header: %w", id, err)
	}
	r.seq = 1
	r.bufp = r.newBlock()
	r.buf = *r.bufp
	go r.run()
	return r, nil
}

func withDefaults(o Options) Options {
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.FlushSize <= 0 {
		o.FlushSize = DefaultFlushSize
	}
	o.FlushSize = min(o.FlushSize, MaxChunk/2)
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.AppendTimeout <= 0 {
		o.AppendTimeout = DefaultAppendTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// boundHeader is h as Start records it.
func boundHeader(h Header, now time.Time) Header {
	if h.Width <= 0 {
		h.Width = 80
	}
	if h.Height <= 0 {
		h.Height = 24
	}
	if h.Timestamp.IsZero() {
		h.Timestamp = now
	}
	h.Command, h.Title = cut(h.Command, maxHeaderText), cut(h.Title, maxHeaderText)
	env := h.Env
	h.Env = nil
	for _, k := range []string{"TERM", "SHELL"} {
		if v, ok := env[k]; ok {
			if h.Env == nil {
				h.Env = make(map[string]string, 2)
			}
			h.Env[k] = cut(v, maxEnvValue)
		}
	}
	return h
}

// cut shortens s to at most n bytes, at a character boundary, marked
// with an ellipsis.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n - len("…")
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// Output records terminal output: stdout, and stderr for an exec, as
// masked. A UTF-8 sequence split between two calls is recorded whole;
// bytes that are not UTF-8 are recorded as U+FFFD.
func (r *Recorder) Output(p []byte) { r.text(TypeOutput, &r.out, p) }

// Input records what was typed or sent: keystrokes, stdin.
func (r *Recorder) Input(p []byte) { r.text(TypeInput, &r.in, p) }

// Resize records the terminal's new size; sizes below 1 are ignored.
func (r *Recorder) Resize(w, h int) {
	if w <= 0 || h <= 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.recording() {
		return
	}
	t := r.now()
	var size [48]byte
	line := strconv.AppendInt(append(strconv.AppendInt(size[:0], int64(w), 10), 'x'), int64(h), 10)
	if !r.room(t, len(line)) {
		r.dropped.resizes++
		return
	}
	empty := r.empty()
	r.buf = appendEventStart(r.buf, t, TypeResize)
	r.buf = append(append(r.buf, line...), eventEnd...)
	r.kick(empty)
}

// Exit records the exit status of the command or shell, as asciicast
// v3's "x" event (v2 players skip it). Output held back as an incomplete
// UTF-8 sequence is recorded first, and so is the marker of anything
// dropped. Only the first Exit is recorded.
func (r *Recorder) Exit(status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.recording() || r.exited {
		return
	}
	r.exited = true
	t := r.now()
	empty := r.empty()
	r.settle(t)
	r.buf = appendEventStart(r.buf, t, TypeExit)
	r.buf = append(strconv.AppendInt(r.buf, int64(status), 10), eventEnd...)
	r.kick(empty)
}

// Close records what is held back (as Exit does), appends everything
// recorded, and returns the first append error, or nil. Events after
// Close are ignored. Close is idempotent.
func (r *Recorder) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		if r.recording() {
			r.settle(r.now())
		}
		r.closed = true
		r.mu.Unlock()
		close(r.closing)
		<-r.done
	})
	return r.Err()
}

// Err returns the first append error, or nil: once there is one, the
// recorder records nothing more.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// recording reports whether events are still recorded. r.mu is held.
func (r *Recorder) recording() bool { return !r.closed && r.err == nil }

// now is the time since Start, never less than an event's before it.
// r.mu is held.
func (r *Recorder) now() time.Duration {
	r.last = max(r.last, time.Since(r.start))
	return r.last
}

// text records p as events of type typ, after what c held back. r.mu is
// taken.
func (r *Recorder) text(typ string, c *carry, p []byte) {
	if len(p) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.recording() {
		return
	}
	t := r.now()
	empty := r.empty()
	for len(p) > 0 {
		n := len(p)
		if n > maxEventData {
			n = maxEventData
			for back := 1; back < utf8.UTFMax && !utf8.RuneStart(p[n]); back++ {
				n--
			}
		}
		if !r.room(t, n) {
			r.dropped.add(typ, len(p)+c.n)
			c.n = 0
			break
		}
		mark := len(r.buf)
		r.buf = appendEventStart(r.buf, t, typ)
		start := len(r.buf)
		r.buf = c.append(r.buf, p[:n])
		if len(r.buf) == start {
			r.buf = r.buf[:mark] // all held back
		} else {
			r.buf = append(r.buf, eventEnd...)
		}
		p = p[n:]
		if len(r.buf) >= r.opts.FlushSize {
			r.seal()
		}
	}
	r.kick(empty)
}

// room reports whether n more bytes may wait for the sink. While the
// recorder drops, it waits for the sink to catch up with half of
// MaxPending, then records the marker of what it dropped. r.mu is held.
func (r *Recorder) room(t time.Duration, n int) bool {
	if r.dropped.any() {
		if r.pending() > r.opts.MaxPending/2 {
			return false
		}
		r.buf = r.dropped.appendMarker(r.buf, t)
	}
	return r.pending()+n <= r.opts.MaxPending
}

// settle records what the carries hold back and the marker of what was
// dropped, whatever the bound: the session ends. r.mu is held.
func (r *Recorder) settle(t time.Duration) {
	for _, c := range []struct {
		typ string
		c   *carry
	}{{TypeOutput, &r.out}, {TypeInput, &r.in}} {
		if c.c.n > 0 {
			r.buf = appendEventStart(r.buf, t, c.typ)
			r.buf = append(appendText(r.buf, c.c.b[:c.c.n]), eventEnd...)
			c.c.n = 0
		}
	}
	if r.dropped.any() {
		r.buf = r.dropped.appendMarker(r.buf, t)
	}
}

// pending is how many bytes wait for the sink. r.mu is held.
func (r *Recorder) pending() int { return len(r.buf) + r.queuedN + r.inflight }

// empty reports whether the flusher has nothing to take. r.mu is held.
func (r *Recorder) empty() bool { return len(r.buf) == 0 && len(r.queued) == 0 }

// newBlock returns an empty block, a pooled one if there is one.
func (r *Recorder) newBlock() *[]byte {
	if b, ok := r.blocks.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, r.blockCap)
	return &b
}

// seal queues the current block, if it holds anything, and starts
// another. r.mu is held.
func (r *Recorder) seal() {
	if len(r.buf) == 0 {
		return
	}
	*r.bufp = r.buf
	r.queued = append(r.queued, r.bufp)
	r.queuedN += len(r.buf)
	r.bufp = r.newBlock()
	r.buf = *r.bufp
	select {
	case r.full <- struct{}{}:
	default:
	}
}

// kick tells the flusher about new lines: the first since it took the
// last ones (empty), or a block's worth. r.mu is held.
func (r *Recorder) kick(empty bool) {
	if len(r.buf) >= r.opts.FlushSize {
		r.seal()
	}
	if empty && !r.empty() {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// run is the flusher: once lines arrive it waits up to FlushInterval (or
// until a block is full, or Close), takes every block and appends each
// as a chunk, until Close and nothing is left.
func (r *Recorder) run() {
	defer close(r.done)
	linger := time.NewTimer(r.opts.FlushInterval)
	linger.Stop()
	for {
		select {
		case <-r.wake:
		case <-r.closing:
		}
		select {
		case <-r.closing:
		default:
			linger.Reset(r.opts.FlushInterval)
			select {
			case <-r.full:
			case <-linger.C:
			case <-r.closing:
			}
			linger.Stop()
		}
		blocks, last := r.take()
		for _, b := range blocks {
			if r.Err() == nil {
				r.write(*b)
			}
			r.release(b)
		}
		r.mu.Lock()
		clear(blocks)
		r.taken = blocks[:0]
		r.mu.Unlock()
		if last {
			return
		}
	}
}

// take hands every block to the flusher, the one being filled too, and
// reports whether they are the last (the recorder is closed).
func (r *Recorder) take() (blocks []*[]byte, last bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.full:
	default:
	}
	r.seal()
	select {
	case <-r.full: // seal's own
	default:
	}
	blocks, r.queued, r.taken = r.queued, r.taken, nil
	r.inflight += r.queuedN
	r.queuedN = 0
	return blocks, r.closed
}

// release ends the append of block b: its bytes no longer count as
// pending, and it is pooled (unless a long line made it big).
func (r *Recorder) release(b *[]byte) {
	r.mu.Lock()
	r.inflight -= len(*b)
	r.mu.Unlock()
	if cap(*b) <= 2*r.blockCap {
		*b = (*b)[:0]
		r.blocks.Put(b)
	}
}

// write appends lines in chunks of whole lines of at most MaxChunk
// bytes (a block is one, but for a block of very long lines). On the
// first error the recorder stops recording.
func (r *Recorder) write(lines []byte) {
	for len(lines) > 0 {
		n := len(lines)
		if n > MaxChunk {
			n = bytes.LastIndexByte(lines[:MaxChunk], '\n') + 1
		}
		var err error
		if n == 0 {
			err = fmt.Errorf("a line is longer than %d bytes", MaxChunk) // no event line is: a bug
		} else {
			ctx, cancel := context.WithTimeout(r.ctx, r.opts.AppendTimeout)
			err = r.sink.AppendRecording(ctx, r.id, r.seq, lines[:n])
			cancel()
		}
		if err != nil {
			r.fail(err)
			return
		}
		r.seq++
		lines = lines[n:]
	}
}

// fail records the first append error and stops recording: what waits
// is dropped, and nothing more is recorded.
func (r *Recorder) fail(err error) {
	r.logger.Error("session recording stopped: append failed", "recording", r.id, "chunk", r.seq, "err", err)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = fmt.Errorf("recording %s: append chunk %d: %w", r.id, r.seq, err)
	}
	r.buf = r.buf[:0]
	for _, b := range r.queued {
		*b = (*b)[:0]
		r.blocks.Put(b)
	}
	clear(r.queued)
	r.queued, r.queuedN = r.queued[:0], 0
}

// carry holds the start of a UTF-8 sequence that one write ended with,
// for the next to complete.
type carry struct {
	b [utf8.UTFMax]byte
	n int
}

// append appends p as JSON string text, after the bytes c holds, and
// holds p's incomplete last sequence, if any.
func (c *carry) append(dst, p []byte) []byte {
	if c.n > 0 {
		// The held bytes and p's first few, decoded until past the held.
		var j [2 * utf8.UTFMax]byte
		k := copy(j[:], c.b[:c.n])
		m := copy(j[k:], p)
		i := 0
		for i < k && utf8.FullRune(j[i:k+m]) {
			_, size := utf8.DecodeRune(j[i : k+m])
			i += size
		}
		dst = appendText(dst, j[:i])
		if i < k {
			// Still incomplete: p was short, and is all in j.
			c.n = copy(c.b[:], j[i:k+m])
			return dst
		}
		c.n = 0
		p = p[i-k:]
	}
	tail := incompleteTail(p)
	dst = appendText(dst, p[:len(p)-tail])
	c.n = copy(c.b[:], p[len(p)-tail:])
	return dst
}

// dropped counts what was not recorded while the sink was behind.
type dropped struct {
	output, input int64 // bytes
	resizes       int64
}

func (d *dropped) any() bool { return d.output > 0 || d.input > 0 || d.resizes > 0 }

func (d *dropped) add(typ string, n int) {
	if typ == TypeInput {
		d.input += int64(n)
	} else {
		d.output += int64(n)
	}
}

// appendMarker appends the marker event of what was dropped, and counts
// from zero again.
func (d *dropped) appendMarker(dst []byte, t time.Duration) []byte {
	var parts []string
	for _, p := range []struct {
		n    int64
		what string
	}{{d.output, "bytes of output"}, {d.input, "bytes of input"}, {d.resizes, "resizes"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	*d = dropped{}
	dst = appendEventStart(dst, t, TypeMarker)
	dst = appendTextString(dst, "warden: not recorded: "+strings.Join(parts, ", ")+" (the audit store fell behind)")
	return append(dst, eventEnd...)
}
