package sqlite

import (
	"errors"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/audit/audittest"
)

// commitFolded writes events as the writer does intents whose outcomes
// arrived in the same batch: journaled, complete, in one commit. It calls
// the writer's commit itself, so the batch is exactly events; the store's
// writer goroutine must be idle (nothing else submitted meanwhile).
func commitFolded(t testing.TB, s *Store, events ...*audit.Event) {
	t.Helper()
	batch := make([]*op, len(events))
	for i, e := range events {
		status := e.Status
		s.stamp(e)
		e.Status = audit.StatusRunning
		o := &op{kind: opInsert, async: true, journaled: true, done: make(chan error, 1)}
		if _, err := encodeIntent(nil, e, &o.row); err != nil {
			t.Fatal(err)
		}
		e.Status = status
		applyOutcome(&o.row, new(outcomeRow(e)))
		batch[i] = o
	}
	s.commit(batch)
	for i, o := range batch {
		if err := <-o.done; err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
}

func countRows(t testing.TB, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.DB().QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRunsReadBackLikeEvents: events stored as runs, among events stored
// one by one, come back from Get and List exactly as written, under every
// filter and page size List takes.
func TestRunsReadBackLikeEvents(t *testing.T) {
	s := openTestStore(t)
	ctx := testContext(t)
	r := rand.New(rand.NewPCG(1, 2))

	var all []*audit.Event
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for round := range 12 {
		var batch []*audit.Event
		for i := range 10 + r.IntN(30) {
			e := audittest.SessionEvent([]string{"sess-a", "sess-b", "sess-c"}[r.IntN(3)], round*100+i, r)
			e.Time = base.Add(time.Duration(round)*time.Minute + time.Duration(i)*time.Millisecond)
			batch = append(batch, e)
		}
		commitFolded(t, s, batch...)
		all = append(all, batch...)
		// Denied statements and slow ones, one row each, in between.
		denied := audittest.SessionEvent("sess-a", round, r)
		denied.Time, denied.Status, denied.Decision = base.Add(time.Duration(round)*time.Minute+20*time.Millisecond), audit.StatusDenied, audit.DecisionDeny
		if err := s.Record(ctx, denied); err != nil {
			t.Fatal(err)
		}
		all = append(all, denied)
	}
	slow := audittest.SessionEvent("sess-b", 999, r)
	if err := s.BeginAsync(slow).Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	all = append(all, slow)

	if n := countRows(t, s, "event_runs"); n < 12 {
		t.Fatalf("%d runs stored, want at least one per batch", n)
	}
	var inRuns int
	if err := s.DB().QueryRow("SELECT sum(json_array_length(body)) FROM event_runs").Scan(&inRuns); err != nil {
		t.Fatal(err)
	}
	// Besides the denied and the running one, a session with one event
	// in a batch has it in events.
	if n := countRows(t, s, "events"); n+inRuns != len(all) || n > 13+12 {
		t.Fatalf("%d events in events and %d in runs, want %d in all, at most 25 in events", n, inRuns, len(all))
	}

	audittest.CheckReadBack(t, s, all, base)
}

func TestFinishEventInRun(t *testing.T) {
	logger, logs := newTestLogger()
	s, err := Open(testContext(t), filepath.Join(t.TempDir(), "audit.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := testContext(t)
	r := rand.New(rand.NewPCG(3, 4))
	events := []*audit.Event{audittest.SessionEvent("sess-a", 1, r), audittest.SessionEvent("sess-a", 2, r), audittest.SessionEvent("sess-a", 3, r)}
	commitFolded(t, s, events...)
	if n := countRows(t, s, "event_runs"); n != 1 {
		t.Fatalf("%d runs, want 1", n)
	}

	again := *events[0]
	again.Rows = 12345
	if err := s.FinishAsync(&again); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, events[0].ID); got.Rows != events[0].Rows {
		t.Fatalf("a second outcome replaced the first: rows %d", got.Rows)
	}
	if strings.Contains(logs.String(), "not written") {
		t.Fatalf("second outcome logged as a failure:\n%s", logs)
	}

	for i, e := range events {
		changed := *e
		changed.Status, changed.Decision, changed.Reason = audit.StatusDenied, audit.DecisionDeny, "denied by an approver"
		changed.Duration, changed.Rows = 0, 0
		if err := s.Finish(ctx, &changed); err != nil {
			t.Fatalf("Finish %d: %v", i, err)
		}
		got, err := s.Get(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertEventEqual(t, got, changed)
		if n := countRows(t, s, "events"); n != i+1 {
			t.Fatalf("after %d finishes: %d rows in events", i+1, n)
		}
		for _, rest := range events[i+1:] {
			got, err := s.Get(ctx, rest.ID)
			if err != nil {
				t.Fatal(err)
			}
			assertEventEqual(t, got, *rest)
		}
	}
	if n := countRows(t, s, "event_runs"); n != 0 {
		t.Fatalf("%d runs left, want none", n)
	}
	if err := s.Finish(ctx, &audit.Event{ID: "01ZZZZZZZZZZZZZZZZZZZZZZZZ", Status: audit.StatusOK}); !errors.Is(err, audit.ErrNotFound) {
		t.Fatalf("Finish of an unknown event = %v, want audit.ErrNotFound", err)
	}
}

// TestRunAmongReplayedIntents: when an event of a batch is in events
// already (replayed from this process's journal by a Warden that took it
// for dead), the batch's events are stored one by one, each once.
func TestRunAmongReplayedIntents(t *testing.T) {
	s := openTestStore(t)
	ctx := testContext(t)
	r := rand.New(rand.NewPCG(5, 6))
	events := []*audit.Event{audittest.SessionEvent("sess-a", 1, r), audittest.SessionEvent("sess-a", 2, r), audittest.SessionEvent("sess-a", 3, r)}
	for _, e := range events {
		s.stamp(e) // IDs in order: the replayed one is neither first nor last
	}
	replayed := *events[1]
	replayed.Status = audit.StatusRunning
	row, err := encodeRow(&replayed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, insertSQL, row.args()...); err != nil {
		t.Fatal(err)
	}
	commitFolded(t, s, events...)
	if n := countRows(t, s, "event_runs"); n != 0 {
		t.Fatalf("%d runs, want none", n)
	}
	for _, e := range events {
		got, err := s.Get(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertEventEqual(t, got, *e)
	}
}

// TestReplaySkipsEventsInRuns: the journal of a process that died after
// its events were committed as a run replays nothing.
func TestReplaySkipsEventsInRuns(t *testing.T) {
	ctx := testContext(t)
	path := filepath.Join(t.TempDir(), "audit.db")
	s, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 8))
	events := []*audit.Event{audittest.SessionEvent("sess-a", 1, r), audittest.SessionEvent("sess-a", 2, r)}
	commitFolded(t, s, events...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	intents := make([]audit.Event, len(events))
	for i, e := range events {
		intents[i] = *e
		intents[i].Status = audit.StatusRunning
	}
	deadJournal(t, path, intents)

	s, err = Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := countRows(t, s, "events"); n != 0 {
		t.Fatalf("replay added %d events that were in a run", n)
	}
	for _, e := range events {
		got, err := s.Get(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertEventEqual(t, got, *e)
	}
}

// TestRunsFromTheWriter: intents and outcomes through the store's own
// writer, as the proxy sends them (Complete) or otherwise (FinishAsync),
// end up in runs under load, and read back complete.
func TestRunsFromTheWriter(t *testing.T) {
	s := openTestStore(t)
	ctx := testContext(t)
	r := rand.New(rand.NewPCG(9, 10))
	var (
		all []*audit.Event
		err error
	)
	for i := range 2000 {
		e := audittest.SessionEvent("sess-b", i, r)
		status := e.Status
		p := s.BeginAsync(e)
		if err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		e.Status = status
		if i%2 == 0 {
			err = p.Complete(e)
		} else {
			err = s.FinishAsync(e)
		}
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, e)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, s, "event_runs"); n == 0 {
		t.Fatal("no runs stored")
	}
	got, err := s.List(ctx, audit.Filter{Session: "sess-b", Limit: audit.MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(all) {
		t.Fatalf("List: %d events, want %d", len(got), len(all))
	}
	slices.Reverse(got)
	for i, e := range got {
		assertEventEqual(t, e, *all[i])
	}
}

// TestCompleteRidesWithIntent: an outcome given to the intent (audit.Intent)
// while the intent waits for the writer goes into the database with it;
// one given after the writer took the intent is written on its own. The
// first outcome stands either way, and Complete refuses what is not the
// intent's outcome.
func TestCompleteRidesWithIntent(t *testing.T) {
	s := openTestStore(t)
	ctx := testContext(t)
	r := rand.New(rand.NewPCG(11, 12))

	rode := 0
	var events []*audit.Event
	var pendings []*pending
	for i := range 200 {
		e := audittest.SessionEvent("sess-a", i, r)
		status := e.Status
		p := s.BeginAsync(e)
		if err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		e.Status = status
		if err := p.Complete(e); err != nil {
			t.Fatal(err)
		}
		events, pendings = append(events, e), append(pendings, p.(*pending))
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for i, e := range events {
		if pendings[i].intent.state.Load() == intentCompleted {
			rode++
		}
		got, err := s.Get(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertEventEqual(t, got, *e)
	}
	if rode == 0 {
		t.Fatal("no outcome rode with its intent")
	}

	// After the writer took the intent: its own write.
	late := audittest.SessionEvent("sess-b", 1, r)
	p := s.BeginAsync(late)
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	late.Status, late.Rows = audit.StatusOK, 77
	if err := p.Complete(late); err != nil {
		t.Fatal(err)
	}
	second := *late
	second.Rows = 78
	if err := p.Complete(&second); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := p.(*pending).intent.state.Load(); got != intentTaken {
		t.Fatalf("late intent's state = %d, want taken", got)
	}
	got, err := s.Get(ctx, late.ID)
	if err != nil {
		t.Fatal(err)
	}
	assertEventEqual(t, got, *late)

	// Two outcomes before the writer takes the intent: the first stands.
	twice := audittest.SessionEvent("sess-c", 1, r)
	p = s.BeginAsync(twice)
	twice.Status = audit.StatusOK
	first := *twice
	if err := p.Complete(&first); err != nil {
		t.Fatal(err)
	}
	twice.Status, twice.Rows = audit.StatusFailed, 1234
	if err := p.Complete(twice); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, twice.ID); err != nil || got.Status != first.Status || got.Rows != first.Rows {
		t.Fatalf("after two outcomes: %+v, %v; want the first (%s, %d rows)", got, err, first.Status, first.Rows)
	}

	other := audittest.SessionEvent("sess-c", 2, r)
	p = s.BeginAsync(other)
	if err := p.Complete(&audit.Event{ID: other.ID, Status: audit.StatusRunning}); err == nil {
		t.Fatal("Complete with status running: no error")
	}
	if err := p.Complete(&audit.Event{ID: "01ZZZZZZZZZZZZZZZZZZZZZZZZ", Status: audit.StatusOK}); err == nil {
		t.Fatal("Complete of another event: no error")
	}
	if err := (&pending{}).Complete(&audit.Event{ID: other.ID, Status: audit.StatusOK}); err == nil {
		t.Fatal("Complete without an intent: no error")
	}
}
