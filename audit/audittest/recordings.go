package audittest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardenhq/warden/audit"
)

// recordingIDs makes event IDs for recordings whose events are written
// later, or never.
var recordingIDs audit.IDGenerator

func newRecordingID() string { return recordingIDs.Next(time.Now()) }

// chunk is chunk seq of a recording: whole lines, as package recording
// writes them, with bytes a store must keep as they are.
func chunk(id string, seq int) []byte {
	return fmt.Appendf(nil, "[%d.5, \"o\", \"%s chunk %d \\u001b[0m\"]\n\x00\xff\n", seq, id, seq)
}

func appendChunks(t *testing.T, s audit.Recordings, id string, from, to int) []byte {
	t.Helper()
	var all []byte
	for seq := from; seq < to; seq++ {
		c := chunk(id, seq)
		if err := s.AppendRecording(testContext(t), id, seq, c); err != nil {
			t.Fatalf("AppendRecording %s %d: %v", id, seq, err)
		}
		all = append(all, c...)
	}
	return all
}

func readRecording(t *testing.T, s audit.Recordings, id string) []byte {
	t.Helper()
	r, err := s.Recording(testContext(t), id)
	if err != nil {
		t.Fatalf("Recording %s: %v", id, err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read recording %s: %v", id, err)
	}
	return b
}

// Chunks read back concatenated in seq order, byte for byte, however
// many there are; the largest chunk allowed is stored whole; the caller
// may reuse its buffer once an append returned.
func testRecordingAppendRead(t *testing.T, s audit.Store) {
	ctx := testContext(t)
	id := newRecordingID()
	want := appendChunks(t, s, id, 0, 20)
	if got := readRecording(t, s, id); !bytes.Equal(got, want) {
		t.Fatalf("recording read back differs:\n got  %q\n want %q", got, want)
	}

	big := newRecordingID()
	buf := bytes.Repeat([]byte("x"), audit.MaxRecordingChunk)
	if err := s.AppendRecording(ctx, big, 0, buf); err != nil {
		t.Fatalf("AppendRecording of MaxRecordingChunk bytes: %v", err)
	}
	for i := range buf {
		buf[i] = 'y'
	}
	if got := readRecording(t, s, big); len(got) != audit.MaxRecordingChunk || bytes.ContainsRune(got, 'y') {
		t.Errorf("largest chunk read back as %d bytes (reused buffer leaked in: %v)", len(got), bytes.ContainsRune(got, 'y'))
	}
}

// Bad appends are refused with an error and change nothing: a chunk is
// never overwritten, never stored out of order, never empty or too big.
func testRecordingRefusals(t *testing.T, s audit.Store) {
	ctx := testContext(t)
	id := newRecordingID()
	want := appendChunks(t, s, id, 0, 3)
	for _, tt := range []struct {
		name    string
		id      string
		seq     int
		chunk   []byte
		wantErr error
		wantMsg string
	}{
		{"overwrite the header", id, 0, []byte("{\"version\": 2}\n"), audit.ErrChunkExists, "already stored"},
		{"overwrite a chunk", id, 2, chunk(id, 2), audit.ErrChunkExists, "already stored"},
		{"gap", id, 5, chunk(id, 5), nil, "chunk 4 is not stored"},
		{"new recording not from 0", newRecordingID(), 1, []byte("x\n"), nil, "chunk 0 is not stored"},
		{"negative seq", id, -1, []byte("x\n"), nil, "start at 0"},
		{"empty", id, 3, nil, nil, "empty"},
		{"too big", id, 3, make([]byte, audit.MaxRecordingChunk+1), nil, "more than"},
		{"not an event ID", "sess-1", 0, []byte("x\n"), nil, "not an event ID"},
		{"lower-case event ID", strings.ToLower(id), 3, []byte("x\n"), nil, "not an event ID"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := s.AppendRecording(ctx, tt.id, tt.seq, tt.chunk)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("error = %v, want %v containing %q", err, tt.wantErr, tt.wantMsg)
			}
		})
	}
	if got := readRecording(t, s, id); !bytes.Equal(got, want) {
		t.Errorf("after refused appends the recording is\n %q\nwant\n %q", got, want)
	}
	// The next chunk in order is still accepted.
	want = append(want, appendChunks(t, s, id, 3, 4)...)
	if got := readRecording(t, s, id); !bytes.Equal(got, want) {
		t.Errorf("recording = %q, want %q", got, want)
	}
}

// A recording of no stored chunk is ErrNotFound; a session with no
// recording, or no event, lists none without an error.
func testRecordingNotFound(t *testing.T, s audit.Store) {
	ctx := testContext(t)
	if _, err := s.Recording(ctx, newRecordingID()); !errors.Is(err, audit.ErrNotFound) {
		t.Errorf("Recording of an unknown ID: %v, want audit.ErrNotFound", err)
	}
	e := sampleEvent()
	if err := s.Record(ctx, withStatus(e, audit.StatusOK)); err != nil {
		t.Fatal(err)
	}
	for _, session := range []string{e.Session, "no-such-session"} {
		recs, err := s.SessionRecordings(ctx, session)
		if err != nil || len(recs) != 0 {
			t.Errorf("SessionRecordings(%q) = %v, %v; want none", session, recs, err)
		}
	}
}

func withStatus(e *audit.Event, status string) *audit.Event {
	e.Status = status
	return e
}

// A recording may be written before its event (the intent is recorded
// asynchronously): its chunks are stored and readable, and it joins its
// session's list once the event is. The list holds the session's
// recordings only, in event order, with their chunks and size, whichever
// way its events were written; another session's recording among them in
// time is not listed.
func testSessionRecordings(t *testing.T, s audit.Store) {
	ctx := testContext(t)
	const session = "sess-rec"

	// The shell's recording starts before its event exists.
	shell := &audit.Event{ID: newRecordingID(), Session: session, Tool: "ssh_shell", Connection: "web-1", Identity: "alice"}
	shellCast := appendChunks(t, s, shell.ID, 0, 3)
	if got := readRecording(t, s, shell.ID); !bytes.Equal(got, shellCast) {
		t.Fatalf("recording before its event: %q, want %q", got, shellCast)
	}
	if recs, err := s.SessionRecordings(ctx, session); err != nil || len(recs) != 0 {
		t.Errorf("SessionRecordings before the event = %v, %v; want none", recs, err)
	}
	if err := s.Begin(ctx, shell); err != nil {
		t.Fatal(err)
	}

	// Another session's recording, between this session's in time.
	other := &audit.Event{Session: "sess-other", Tool: "exec_ssh", Status: audit.StatusOK}
	if err := s.Record(ctx, other); err != nil {
		t.Fatal(err)
	}
	appendChunks(t, s, other.ID, 0, 2)

	// Commands of the session, written as the hot path writes them
	// (intent, then outcome at once), some recorded, some not.
	var execs []*audit.Event
	for i := range 6 {
		e := &audit.Event{Session: session, Tool: "exec_ssh", Connection: "web-1", Identity: "alice", Statement: fmt.Sprintf("uptime %d", i)}
		in := s.BeginAsync(e)
		if err := in.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			appendChunks(t, s, e.ID, 0, 1+i)
		}
		outcome := *e
		outcome.Status = audit.StatusOK
		if err := in.Complete(&outcome); err != nil {
			t.Fatal(err)
		}
		execs = append(execs, e)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	shellCast = append(shellCast, appendChunks(t, s, shell.ID, 3, 5)...)
	if err := s.Finish(ctx, &audit.Event{ID: shell.ID, Status: audit.StatusOK}); err != nil {
		t.Fatal(err)
	}

	size := func(id string, n int) int64 {
		var total int64
		for seq := range n {
			total += int64(len(chunk(id, seq)))
		}
		return total
	}
	want := []audit.RecordingInfo{{ID: shell.ID, Chunks: 5, Size: int64(len(shellCast))}}
	for i, e := range execs {
		if i%2 == 0 {
			want = append(want, audit.RecordingInfo{ID: e.ID, Chunks: 1 + i, Size: size(e.ID, 1+i)})
		}
	}
	got, err := s.SessionRecordings(ctx, session)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SessionRecordings:\n got  %+v\n want %+v", got, want)
	}
	if got := readRecording(t, s, shell.ID); !bytes.Equal(got, shellCast) {
		t.Errorf("shell recording = %q, want %q", got, shellCast)
	}
}

// Recorders of concurrent sessions append alongside event writes; every
// chunk is kept, in its own recording.
func testRecordingsConcurrent(t *testing.T, s audit.Store) {
	ctx := testContext(t)
	const recorders, chunks = 8, 25
	ids := make([]string, recorders)
	want := make([][]byte, recorders)
	errs := make(chan error, 2*recorders)
	var wg sync.WaitGroup
	for i := range recorders {
		ids[i] = newRecordingID()
		wg.Go(func() {
			for seq := range chunks {
				c := chunk(ids[i], seq)
				if err := s.AppendRecording(ctx, ids[i], seq, c); err != nil {
					errs <- err
					return
				}
				want[i] = append(want[i], c...)
			}
		})
		wg.Go(func() {
			for range chunks {
				if err := s.Record(ctx, withStatus(sampleEvent(), audit.StatusOK)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, id := range ids {
		if got := readRecording(t, s, id); !bytes.Equal(got, want[i]) {
			t.Errorf("recording %d: %d bytes, want %d", i, len(got), len(want[i]))
		}
	}
}
