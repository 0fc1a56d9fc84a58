package recording_test

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/wardenhq/warden/audit"
	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
	"github.com/wardenhq/warden/recording"
)

// The audit store is a Sink: a recording of an event whose intent is
// not written yet is stored, read back as a cast file, and listed with
// the event's session once the event is.
func TestRecorderIntoAuditStore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := auditsqlite.Open(ctx, filepath.Join(t.TempDir(), "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	var ids audit.IDGenerator
	ev := &audit.Event{ID: ids.Next(time.Now()), Session: "ssh-test", Tool: "ssh_shell", Connection: "web-1"}
	rec, err := recording.Start(ctx, store, ev.ID, recording.Header{Width: 100, Height: 30, Env: map[string]string{"TERM": "xterm"}},
		recording.Options{FlushSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	for i := range 200 {
		line := []byte("line é€ \x1b[0m ")
		line = append(line, byte('0'+i%10), '\r', '\n')
		rec.Output(line[:5]) // inside é
		rec.Output(line[5:])
		want.Write(line)
	}
	rec.Input([]byte("exit\r"))
	rec.Exit(0)
	if err := store.Begin(ctx, ev); err != nil { // the intent, after the first chunks
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}

	r, err := store.Recording(ctx, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	cast, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	h, evs, err := recording.Decode(bytes.NewReader(cast))
	if err != nil {
		t.Fatalf("the stored recording is not a cast file: %v", err)
	}
	var out bytes.Buffer
	for _, e := range evs {
		if e.Type == recording.TypeOutput {
			out.WriteString(e.Data)
		}
	}
	if h.Width != 100 || out.String() != want.String() || evs[len(evs)-1].Type != recording.TypeExit {
		t.Errorf("header %+v, %d bytes of output (want %d), last event %+v", h, out.Len(), want.Len(), evs[len(evs)-1])
	}
	recs, err := store.SessionRecordings(ctx, "ssh-test")
	if err != nil || len(recs) != 1 || recs[0].ID != ev.ID || recs[0].Size != int64(len(cast)) || recs[0].Chunks < 2 {
		t.Errorf("SessionRecordings = %+v, %v; want the one recording of %d bytes in chunks", recs, err, len(cast))
	}
}
