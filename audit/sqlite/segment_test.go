package sqlite

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wardenhq/warden/audit"
)

// TestJournalSurvivesSIGKILL: a Warden killed at any moment — while
// sessions append intents, the writer commits them and full segments are
// removed — loses no acknowledged intent, and replay brings back nothing
// garbled: every event in the store afterwards is one a session sent,
// whole.
func TestJournalSurvivesSIGKILL(t *testing.T) {
	if path := os.Getenv("WARDEN_AUDIT_KILL_CHILD"); path != "" {
		killChild(path)
		return
	}
	for round := range 3 {
		path := filepath.Join(t.TempDir(), "audit.db")
		cmd := exec.Command(os.Args[0], "-test.run=^TestJournalSurvivesSIGKILL$")
		cmd.Env = append(os.Environ(), "WARDEN_AUDIT_KILL_CHILD="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := map[string]string{} // id -> statement
		lines := bufio.NewScanner(out)
		for lines.Scan() {
			id, stmt, ok := strings.Cut(lines.Text(), " ")
			if !ok {
				continue
			}
			acked[id] = stmt
			if len(acked) == 2000+1000*round {
				cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		cmd.Wait()
		if len(acked) < 2000 {
			t.Fatalf("round %d: the child acknowledged only %d intents before it ended", round, len(acked))
		}

		s, err := Open(testContext(t), path, nil)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := s.List(testContext(t), audit.Filter{Limit: audit.MaxListLimit})
		if err != nil {
			t.Fatal(err)
		}
		found := map[string]bool{}
		valid := regexp.MustCompile(`^SELECT \d+ /\* x{0,300} \*/$`)
		for _, e := range evs {
			found[e.ID] = true
			if !valid.MatchString(e.Statement) || e.Tool != "run_query" || e.Identity != "alice" || len(e.Groups) != 2 {
				t.Fatalf("round %d: garbled event after replay: %+v", round, e)
			}
			if want, ok := acked[e.ID]; ok && want != e.Statement {
				t.Fatalf("round %d: event %s has statement %q, acknowledged %q", round, e.ID, e.Statement, want)
			}
		}
		for id := range acked {
			if !found[id] {
				t.Fatalf("round %d: acknowledged intent %s is missing (%d acknowledged, %d in the store)", round, id, len(acked), len(evs))
			}
		}
		if left, _ := filepath.Glob(path + "-intent*"); len(left) != 1 || left[0] != s.journal.seg.path {
			t.Errorf("round %d: journals after replay: %v (want only this process's)", round, left)
		}
		// What the kill left is logged: every event is its latest leaf.
		if rep := mustVerify(t, s, nil); rep.Events != len(evs) {
			t.Errorf("round %d: %d events verified, %d listed", round, rep.Events, len(evs))
		}
		t.Logf("round %d: %d acknowledged, %d in the store", round, len(acked), len(evs))
		s.Close()
	}
}

// killChild appends intents from 4 sessions, with segments small enough
// to be replaced every few dozen intents, printing each acknowledged one,
// until it is killed.
func killChild(path string) {
	s, err := Open(context.Background(), path, nil)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	smallSegments(s, 16<<10)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				e := &audit.Event{
					Tool: "run_query", Identity: "alice", Groups: []string{"a", "b"},
					Statement: fmt.Sprintf("SELECT %d /* %s */", i, strings.Repeat("x", (i*7+w)%300)),
				}
				if err := s.BeginAsync(e).Wait(context.Background()); err != nil {
					fmt.Println("begin:", err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "%s %s\n", e.ID, e.Statement)
				mu.Unlock()
				if i%3 == 0 {
					e.Status = audit.StatusOK
					s.FinishAsync(e)
				}
			}
		})
	}
	wg.Wait()
}

// smallSegments makes s's journal take a new segment of size bytes now
// and whenever one is full.
func smallSegments(s *Store, size int) {
	s.journal.mu.Lock()
	defer s.journal.mu.Unlock()
	s.journal.segSize = size
	s.journal.seg.off = len(s.journal.seg.data)
}

// TestSegmentsAreRemovedOnceCommitted: under steady load the journal stays
// small: a full segment goes once its intents are in the database, and
// Close removes the rest.
func TestSegmentsAreRemovedOnceCommitted(t *testing.T) {
	s := openTestStore(t)
	ctx := testContext(t)
	smallSegments(s, 8<<10)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				e := proxyEvent(w, int64(i))
				if err := s.BeginAsync(e).Wait(ctx); err != nil {
					t.Error(err)
					return
				}
				e.Status = audit.StatusOK
				s.FinishAsync(e)
			}
		})
	}
	wg.Wait()
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if s.journal.next < 50 {
		t.Fatalf("only %d segments for 2000 intents: the test does not test rotation", s.journal.next)
	}
	left, _ := filepath.Glob(s.path + "-intentlog.*")
	if len(left) != 1 || left[0] != s.journal.seg.path {
		t.Errorf("segments after everything committed: %v, want only the current one", left)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(s.path + "-intent*"); len(left) != 0 {
		t.Errorf("journal after Close: %v", left)
	}
}

// TestSegmentsStayUntilCommitted: segments holding intents the database
// refused are kept, for the next Warden to replay.
func TestSegmentsStayUntilCommitted(t *testing.T) {
	s := openTestStore(t)
	ctx := testContext(t)
	smallSegments(s, 4<<10)
	if _, err := s.writeDB.Exec("PRAGMA query_only = ON"); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := s.BeginAsync(proxyEvent(0, int64(i))).Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sync(ctx); err == nil {
		t.Fatal("Sync succeeded on a read-only database")
	}
	var records int
	files, _ := filepath.Glob(s.path + "-intentlog.*")
	for _, f := range files {
		recs, err := readSegment(f)
		if err != nil {
			t.Fatal(err)
		}
		records += len(recs)
	}
	if len(files) < 10 || records != 100 {
		t.Fatalf("%d segments holding %d intents, want all 100 intents kept", len(files), records)
	}
	s.Close()
	if left, _ := filepath.Glob(s.path + "-intentlog.*"); len(left) != len(files) {
		t.Errorf("Close left %d of %d segments holding intents not in the database", len(left), len(files))
	}
}

// TestReadSegmentStopsAtTornRecord: replay takes the records before one a
// crash cut short (its checksum fails) and nothing after it.
func TestReadSegmentStopsAtTornRecord(t *testing.T) {
	dir := t.TempDir()
	sg, err := createSegment(filepath.Join(dir, "seg"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	payloads := []string{`{"id":"a"}`, `{"id":"bb"}`, `{"id":"ccc"}`, `{"id":"dddd"}`}
	for _, p := range payloads {
		if err := sg.write([]byte(p), crc(p)); err != nil {
			t.Fatal(err)
		}
	}
	// Tear the third record: its payload, as if the crash came mid-copy.
	third := len(segmentHeader) + recordSize(len(payloads[0])) + recordSize(len(payloads[1]))
	sg.data[third+recordHeader+3] ^= 0xff
	sg.unmap()

	recs, err := readSegment(sg.path)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || string(recs[0]) != payloads[0] || string(recs[1]) != payloads[1] {
		t.Fatalf("records = %q, want the first two", recs)
	}

	// A length running past the file ends the records too.
	data, _ := os.ReadFile(sg.path)
	binary.LittleEndian.PutUint32(data[third:], 1<<20)
	os.WriteFile(sg.path, data, 0o600)
	if recs, err := readSegment(sg.path); err != nil || len(recs) != 2 {
		t.Fatalf("records = %q, %v; want the first two", recs, err)
	}
}

func crc(s string) uint32 { return checksum([]byte(s)) }

// TestJournalReplaysDeadProcessSegments: the segments of a process that
// is gone are replayed (INSERT OR IGNORE) and removed when the store opens.
func TestJournalReplaysDeadProcessSegments(t *testing.T) {
	ctx := testContext(t)
	path := filepath.Join(t.TempDir(), "audit.db")
	s, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	finished := &audit.Event{Tool: "run_query"}
	if err := s.Record(ctx, &audit.Event{Tool: "x", Status: audit.StatusDenied}); err != nil {
		t.Fatal(err)
	}
	if err := s.BeginAsync(finished).Wait(ctx); err != nil {
		t.Fatal(err)
	}
	finished.Status, finished.Rows = audit.StatusOK, 7
	s.FinishAsync(finished)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// What a dead process could leave: two segments, one with the intent
	// of an event since finished, one with an intent never committed, and
	// one with its outcome too (Intent.Complete acknowledged it, the
	// writer never committed it).
	intent := *finished
	intent.Status, intent.Rows = audit.StatusRunning, 0
	lost := audit.Event{ID: "01M8ZZZZZZZZZZZZZZZZZZZZZZ", Time: finished.Time, Tool: "describe_schema", Status: audit.StatusRunning}
	answered := audit.Event{ID: "01M8ZZZZZZZZZZZZZZZZZZZZZY", Time: finished.Time, Tool: "run_query", Status: audit.StatusRunning}
	outcome := audit.Event{ID: answered.ID, Status: audit.StatusFailed, Error: "relation does not exist", Duration: time.Millisecond}
	owner := deadJournal(t, path, []audit.Event{intent, answered}, []audit.Event{lost, outcome})

	s, err = Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.Get(ctx, finished.ID); err != nil || got.Status != audit.StatusOK || got.Rows != 7 {
		t.Errorf("finished event after replay = %+v, %v", got, err)
	}
	if got, err := s.Get(ctx, lost.ID); err != nil || got.Status != audit.StatusInterrupted || got.Tool != "describe_schema" {
		t.Errorf("replayed intent = %+v, %v (want interrupted)", got, err)
	}
	if got, err := s.Get(ctx, answered.ID); err != nil || got.Status != audit.StatusFailed || got.Error != outcome.Error || got.Tool != "run_query" {
		t.Errorf("replayed outcome = %+v, %v", got, err)
	}
	if left, _ := filepath.Glob(owner + ".*"); len(left) != 0 {
		t.Errorf("replayed segments not removed: %v", left)
	}
}

// deadJournal writes the journal a process that is gone left next to the
// store at path: a segment for each of segments, holding its events as
// BeginAsync appends intents. It returns the journal's prefix.
func deadJournal(t *testing.T, path string, segments ...[]audit.Event) string {
	t.Helper()
	owner := fmt.Sprintf("%s-intentlog.%s.%d.%s", path, safeHost(mustHost(t)), 1<<22, "1")
	for i, events := range segments {
		sg, err := createSegment(owner+"."+strconv.Itoa(i), 1<<16)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			b, err := appendEvent(nil, &e, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := sg.write(b, checksum(b)); err != nil {
				t.Fatal(err)
			}
		}
		sg.unmap()
	}
	return owner
}

// TestIntentAlreadyReplayed: the writer completes an event another Warden
// replayed from the journal meanwhile (still running), and leaves one that
// has its outcome already.
func TestIntentAlreadyReplayed(t *testing.T) {
	s := openTestStore(t)
	ctx := testContext(t)
	for _, already := range []string{audit.StatusRunning, audit.StatusFailed} {
		e := &audit.Event{Tool: "run_query"}
		s.stamp(e)
		replayed := *e
		replayed.Status = already
		r, err := encodeRow(&replayed)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.DB().ExecContext(ctx, insertSQL, r.args()...); err != nil {
			t.Fatal(err)
		}
		if err := s.BeginAsync(e).Wait(ctx); err != nil {
			t.Fatal(err)
		}
		e.Status, e.Rows = audit.StatusOK, 3
		s.FinishAsync(e)
		if err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, e.ID)
		want := audit.StatusOK
		if already != audit.StatusRunning {
			want = already
		}
		if err != nil || got.Status != want {
			t.Errorf("event replayed as %s, then finished: %+v, %v; want status %s", already, got, err, want)
		}
	}
}

// TestJournalFailsClosed: an append that cannot be made durable fails,
// and the call must not run: a new segment that cannot be allocated (disk
// full), a segment cut short underneath the mapping (a fault, not a
// crash). The journal recovers once the cause is gone.
func TestJournalFailsClosed(t *testing.T) {
	s := openTestStore(t)
	ctx := testContext(t)
	if err := s.BeginAsync(&audit.Event{Tool: "x"}).Wait(ctx); err != nil {
		t.Fatal(err)
	}

	s.journal.mu.Lock()
	s.journal.segSize = 1 << 62 // no file system has room
	s.journal.seg.off = len(s.journal.seg.data)
	s.journal.mu.Unlock()
	if err := s.BeginAsync(&audit.Event{Tool: "x"}).Wait(ctx); err == nil {
		t.Fatal("an intent was acknowledged without room in the journal")
	} else {
		t.Logf("no room: %v", err)
	}
	s.journal.mu.Lock()
	s.journal.segSize = segmentSize
	s.journal.mu.Unlock()
	if err := s.BeginAsync(&audit.Event{Tool: "x"}).Wait(ctx); err != nil {
		t.Fatalf("with room again: %v", err)
	}

	if err := os.Truncate(s.journal.seg.path, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.BeginAsync(&audit.Event{Tool: "x"}).Wait(ctx); err == nil {
		t.Fatal("an intent was acknowledged into a segment cut short")
	} else {
		t.Logf("cut short: %v", err)
	}
	if err := s.BeginAsync(&audit.Event{Tool: "x"}).Wait(ctx); err != nil {
		t.Fatalf("after a fault, the next append takes a new segment: %v", err)
	}
}
