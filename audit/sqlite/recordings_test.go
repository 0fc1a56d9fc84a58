package sqlite

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/audit"
)

func appendTestChunks(t *testing.T, s *Store, id string, n int) []byte {
	t.Helper()
	var all []byte
	for seq := range n {
		c := fmt.Appendf(nil, "[%d.0, \"o\", \"chunk %d\"]\n", seq, seq)
		if err := s.AppendRecording(testContext(t), id, seq, c); err != nil {
			t.Fatalf("AppendRecording %d: %v", seq, err)
		}
		all = append(all, c...)
	}
	return all
}

// An appended chunk is committed when AppendRecording returns: a store
// opened again on the file reads it, with no Close in between (a process
// that died keeps its last page cache writes, as the WAL commit does).
func TestRecordingDurableWithoutClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	s, err := Open(testContext(t), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	var ids audit.IDGenerator
	id := ids.Next(time.Now())
	want := appendTestChunks(t, s, id, 3)

	other, err := Open(testContext(t), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	r, err := other.Recording(testContext(t), id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("another store reads %q, %v; want %q", got, err, want)
	}
}

// A chunk removed from the file by hand is not read over: the reader
// returns what comes before the gap, then an error that names it.
func TestRecordingGapIsAnError(t *testing.T) {
	s := openTestStore(t)
	var ids audit.IDGenerator
	id := ids.Next(time.Now())
	all := appendTestChunks(t, s, id, 2*readChunks)
	if _, err := s.DB().Exec(`DELETE FROM recording_chunks WHERE id = ? AND seq = ?`, id, readChunks+2); err != nil {
		t.Fatal(err)
	}
	r, err := s.Recording(testContext(t), id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("chunk %d is missing", readChunks+2)) {
		t.Fatalf("read over a gap: err = %v, want chunk %d missing", err, readChunks+2)
	}
	if !bytes.HasPrefix(all, got) || len(got) == 0 {
		t.Errorf("read before the gap = %q, want a prefix of the recording", got)
	}

	if _, err := s.DB().Exec(`DELETE FROM recording_chunks WHERE id = ? AND seq = 0`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recording(testContext(t), id); err == nil || !strings.Contains(err.Error(), "chunk 0 is missing") {
		t.Errorf("recording without its header: err = %v, want chunk 0 missing", err)
	}
}

// Recordings whose events the writer stored as runs (a session's fast
// commands, intent and outcome in one batch) are listed like the others.
func TestSessionRecordingsOfEventsInRuns(t *testing.T) {
	s := openTestStore(t)
	ctx := testContext(t)
	var events []*audit.Event
	for i := range 20 {
		e := &audit.Event{Session: "ssh-1", Tool: "exec_ssh", Statement: fmt.Sprintf("uptime %d", i)}
		in := s.BeginAsync(e)
		if err := in.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		out := *e
		out.Status = audit.StatusOK
		if err := in.Complete(&out); err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	var inRuns int
	if err := s.DB().QueryRow(`SELECT count(*) FROM event_runs WHERE session = 'ssh-1'`).Scan(&inRuns); err != nil {
		t.Fatal(err)
	}
	if inRuns == 0 {
		t.Skip("the writer stored no run of this session (batches took one event each): nothing to check")
	}
	var want []audit.RecordingInfo
	for i, e := range events {
		if i%3 == 0 {
			c := appendTestChunks(t, s, e.ID, 2)
			want = append(want, audit.RecordingInfo{ID: e.ID, Chunks: 2, Size: int64(len(c))})
		}
	}
	got, err := s.SessionRecordings(ctx, "ssh-1")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("SessionRecordings = %+v, want %+v", got, want)
	}
}

// An append to a store whose file was removed fails, as an event write
// does, instead of going to the unlinked file.
func TestAppendRecordingFileRemoved(t *testing.T) {
	s := openTestStore(t)
	var ids audit.IDGenerator
	if err := os.Remove(s.Path()); err != nil {
		t.Fatal(err)
	}
	err := s.AppendRecording(testContext(t), ids.Next(time.Now()), 0, []byte("{}\n"))
	if err == nil || !strings.Contains(err.Error(), "removed") {
		t.Fatalf("append after the file was removed: %v, want an error saying so", err)
	}
}
