package sqlite

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardenhq/warden/audit"
)

// TestJournalSurvivesCrash: intents acknowledged by BeginAsync and
// outcomes acknowledged by Complete are in the store after the process
// dies without closing it (os.Exit, the writer killed mid-flight),
// because the journal is replayed on open; the intents without an outcome
// are closed as interrupted, naming the process.
func TestJournalSurvivesCrash(t *testing.T) {
	if path := os.Getenv("WARDEN_AUDIT_CRASH_CHILD"); path != "" {
		s, err := Open(context.Background(), path, nil)
		if err != nil {
			fmt.Println("open:", err)
			os.Exit(2)
		}
		fmt.Println("instance", s.instance)
		for i := range 500 {
			e := &audit.Event{Tool: "run_query", Statement: fmt.Sprintf("SELECT %d", i)}
			in := s.BeginAsync(e)
			if err := in.Wait(context.Background()); err != nil {
				fmt.Println("begin:", err)
				os.Exit(2)
			}
			if i%2 == 0 {
				e.Status, e.Rows = audit.StatusOK, int64(i)
				if err := in.Complete(e); err != nil {
					fmt.Println("complete:", err)
					os.Exit(2)
				}
			}
		}
		fmt.Println("acknowledged")
		os.Exit(1) // no Close: the writer may not have committed anything
	}
	path := filepath.Join(t.TempDir(), "audit.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestJournalSurvivesCrash$")
	cmd.Env = append(os.Environ(), "WARDEN_AUDIT_CRASH_CHILD="+path)
	out, _ := cmd.Output()
	if !strings.Contains(string(out), "acknowledged") {
		t.Fatalf("child: %s", out)
	}
	instance := strings.Fields(strings.SplitN(string(out), "\n", 2)[0])[1]
	s, err := Open(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs, err := s.List(context.Background(), audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 500 {
		t.Fatalf("%d of 500 acknowledged intents survived the crash", len(evs))
	}
	for _, e := range evs {
		var i int64
		fmt.Sscanf(e.Statement, "SELECT %d", &i)
		switch {
		case e.Tool != "run_query":
			t.Fatalf("recovered event = %+v", e)
		case i%2 == 0 && (e.Status != audit.StatusOK || e.Rows != i):
			t.Fatalf("acknowledged outcome lost: %+v", e)
		case i%2 == 1 && (e.Status != audit.StatusInterrupted || !strings.Contains(e.Error, instance)):
			t.Fatalf("intent without outcome, after the crash: %+v (want interrupted, naming %s)", e, instance)
		}
	}
	if left, _ := filepath.Glob(path + "-intent*"); len(left) != 1 || left[0] != s.journal.seg.path {
		t.Errorf("journals after replay: %v (want only this process's)", left)
	}
	mustVerify(t, s, nil)
}

// TestJournalReplay: replay inserts what the database lacks, keeps what it
// has (an outcome is never overwritten by its intent), and ignores a line
// cut short by a crash.
func TestJournalReplay(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	s, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := &audit.Event{Tool: "run_query"}
	if err := s.BeginAsync(done).Wait(ctx); err != nil {
		t.Fatal(err)
	}
	done.Status = audit.StatusOK
	done.Rows = 7
	if err := s.FinishAsync(done); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// What a crash could leave: the finished event's intent, another
	// intent, and half a line.
	intent := *done
	intent.Status, intent.Rows = audit.StatusRunning, 0
	a, _ := intent.MarshalJSON()
	other := audit.Event{ID: "01M8ZZZZZZZZZZZZZZZZZZZZZZ", Tool: "describe_schema", Status: audit.StatusRunning}
	other.Time = done.Time
	b, _ := other.MarshalJSON()
	data := string(a) + "\n" + string(b) + "\n" + `{"id":"01M9`
	// The journal of a process that is gone (the single journal of
	// earlier versions has no owner at all).
	if err := os.WriteFile(path+"-intents", []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Get(ctx, done.ID)
	if err != nil || got.Status != audit.StatusOK || got.Rows != 7 {
		t.Errorf("finished event after replay = %+v, %v", got, err)
	}
	// Its process is gone: the intent is closed, outcome unknown.
	got, err = s.Get(ctx, other.ID)
	if err != nil || got.Status != audit.StatusInterrupted || got.Tool != "describe_schema" {
		t.Errorf("replayed intent = %+v, %v", got, err)
	}
}

// TestBeginAsyncFailsClosed: no intent is acknowledged once the database
// file or the journal is gone.
func TestBeginAsyncFailsClosed(t *testing.T) {
	for _, remove := range []string{"database", "journal"} {
		t.Run(remove, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.db")
			s, err := Open(context.Background(), path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			victim := path
			if remove == "journal" {
				victim = s.journal.seg.path
			}
			if err := os.Remove(victim); err != nil {
				t.Fatal(err)
			}
			if err := s.BeginAsync(&audit.Event{Tool: "x"}).Wait(context.Background()); err == nil {
				t.Fatalf("an intent was acknowledged with the %s removed", remove)
			}
		})
	}
}

// TestFoldedOutcome: an outcome that reaches the writer with its own
// intent is stored as one complete event.
func TestFoldedOutcome(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Many intents and outcomes in flight at once land in shared batches.
	evs := make([]*audit.Event, 200)
	for i := range evs {
		evs[i] = &audit.Event{Tool: "run_query", Decision: "allow", Rule: "r"}
		if err := s.BeginAsync(evs[i]).Wait(ctx); err != nil {
			t.Fatal(err)
		}
		evs[i].Status, evs[i].Rows, evs[i].Credential = audit.StatusOK, int64(i), "static"
		evs[i].Masked = map[string]int64{"email": 1}
		if err := s.FinishAsync(evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for i, want := range evs {
		got, err := s.Get(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != audit.StatusOK || got.Rows != int64(i) || got.Rule != "r" || got.Credential != "static" || got.Masked["email"] != 1 {
			t.Fatalf("event %d = %+v", i, got)
		}
	}
}

// TestJournalsPerProcess: two processes sharing a store keep their own
// journals; opening the store never replays a live process's journal, and
// an outcome is never lost to a replay.
func TestJournalsPerProcess(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	a, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	e := &audit.Event{Tool: "run_query"}
	if err := a.BeginAsync(e).Wait(ctx); err != nil {
		t.Fatal(err)
	}
	// A journal left by a process that is gone, holding the same event's
	// intent (as if replayed concurrently): the live outcome must win.
	line, _ := e.MarshalJSON()
	dead := fmt.Sprintf("%s-intents.%s.%d.%s", path, safeHost(mustHost(t)), 1<<22, "1")
	os.WriteFile(dead, append(line, '\n'), 0o600)
	b, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("the dead process's journal was not replayed and removed: %v", err)
	}
	if _, err := os.Stat(a.journal.seg.path); err != nil {
		t.Errorf("a live process's journal was touched: %v", err)
	}
	e.Status, e.Rows = audit.StatusOK, 3
	if err := a.FinishAsync(e); err != nil {
		t.Fatal(err)
	}
	a.Sync(ctx)
	got, err := b.Get(ctx, e.ID)
	if err != nil || got.Status != audit.StatusOK || got.Rows != 3 {
		t.Fatalf("event = %+v, %v", got, err)
	}
}

func mustHost(t *testing.T) string {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}
