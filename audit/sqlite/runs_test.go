package sqlite

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/audit"
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

// runEvent is an event of session sess, as a proxy records a statement.
func runEvent(sess string, i int, r *rand.Rand) *audit.Event {
	e := &audit.Event{
		Session: sess, Transport: audit.TransportPostgresProxy, Identity: "id-" + sess, Groups: []string{"agents"},
		Issuer: "https://idp.example", TokenID: "jti-" + sess, Tool: "proxy_statement",
		Connection: "conn-" + sess[len(sess)-1:], Credential: "lease-" + sess,
		Statement: fmt.Sprintf("SELECT %d, 'it''s \"quoted\" \\ ünïcode'", i),
		Decision:  audit.DecisionAllow, Rule: "read", Reason: "matched rule read",
		Status:   []string{audit.StatusOK, audit.StatusOK, audit.StatusFailed, audit.StatusError}[r.IntN(4)],
		Duration: time.Duration(r.IntN(5000)) * time.Microsecond,
		Rows:     int64(r.IntN(100)), Truncated: r.IntN(5) == 0,
	}
	if r.IntN(3) > 0 {
		e.Arguments = json.RawMessage(fmt.Sprintf(`{ "sql" : "SELECT %d",  "params":["a\u00e9", %d,null] }`, i, i)) // odd spacing: kept byte for byte
	}
	if r.IntN(2) == 0 {
		e.Masked = map[string]int64{"email": int64(r.IntN(9) + 1), "public.users.ssn": 2}
	}
	if e.Status != audit.StatusOK {
		e.Error = "ERROR: relation \"x\" does not exist (SQLSTATE 42P01)"
	}
	return e
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
			e := runEvent([]string{"sess-a", "sess-b", "sess-c"}[r.IntN(3)], round*100+i, r)
			e.Time = base.Add(time.Duration(round)*time.Minute + time.Duration(i)*time.Millisecond)
			batch = append(batch, e)
		}
		commitFolded(t, s, batch...)
		all = append(all, batch...)
		// Denied statements and slow ones, one row each, in between.
		denied := runEvent("sess-a", round, r)
		denied.Time, denied.Status, denied.Decision = base.Add(time.Duration(round)*time.Minute+20*time.Millisecond), audit.StatusDenied, audit.DecisionDeny
		if err := s.Record(ctx, denied); err != nil {
			t.Fatal(err)
		}
		all = append(all, denied)
	}
	slow := runEvent("sess-b", 999, r)
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

	byID := map[string]*audit.Event{}
	for _, e := range all {
		byID[e.ID] = e
	}
	for _, want := range all {
		got, err := s.Get(ctx, want.ID)
		if err != nil {
			t.Fatalf("Get %s: %v", want.ID, err)
		}
		assertEventEqual(t, got, *want)
		if got, err := s.Get(ctx, strings.ToLower(want.ID[:22])); err != nil || got.ID != want.ID {
			t.Fatalf("Get by prefix %s = %s, %v", want.ID[:22], got.ID, err)
		}
	}
	// A prefix shared by many events of runs and of events.
	if _, err := s.Get(ctx, all[0].ID[:8]); !errors.Is(err, audit.ErrAmbiguousID) {
		t.Fatalf("Get of a shared prefix = %v, want audit.ErrAmbiguousID", err)
	}
	if _, err := s.Get(ctx, "01ZZZZZZZZZZZZZZZZZZZZZZZZ"); !errors.Is(err, audit.ErrNotFound) {
		t.Fatalf("Get of an unknown ID = %v, want audit.ErrNotFound", err)
	}

	mid := all[len(all)/2]
	filters := []audit.Filter{
		{},
		{Limit: 7},
		{Session: "sess-b"},
		{Identity: "id-sess-a", Limit: 15},
		{Connection: "conn-c"},
		{Tool: "proxy_statement", Status: audit.StatusFailed},
		{Status: audit.StatusDenied},
		{Status: audit.StatusRunning},
		{Since: mid.Time},
		{Until: mid.Time, Limit: 30},
		{Since: base.Add(3 * time.Minute), Until: base.Add(5 * time.Minute)},
		{Before: mid.ID, Limit: 25},
		{Before: mid.ID, Session: "sess-c", Status: audit.StatusOK},
		{Before: "ZZZZZZZZZZZZZZZZZZZZZZZZZZ", Limit: 5}, // past any ID's time
		{Before: "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", Limit: 5},
	}
	for _, f := range filters {
		t.Run(fmt.Sprintf("%+v", f), func(t *testing.T) {
			got, err := s.List(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			want := expectedList(all, f)
			if !slices.Equal(eventIDs(got), want) {
				t.Fatalf("List:\n got  %v\n want %v", eventIDs(got), want)
			}
			for _, e := range got {
				assertEventEqual(t, e, *byID[e.ID])
			}
		})
	}

	// Paging through everything with Before, a few at a time, as replay does.
	var paged []string
	for f := (audit.Filter{Limit: 9}); ; {
		page, err := s.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, eventIDs(page)...)
		f.Before = page[len(page)-1].ID
	}
	if want := expectedList(all, audit.Filter{Limit: audit.MaxListLimit}); !slices.Equal(paged, want) {
		t.Fatalf("paged: %d events, want %d", len(paged), len(want))
	}
}

// expectedList is what List(f) must return from events.
func expectedList(events []*audit.Event, f audit.Filter) []string {
	var ids []string
	for _, e := range events {
		switch {
		case f.Identity != "" && e.Identity != f.Identity,
			f.Connection != "" && e.Connection != f.Connection,
			f.Tool != "" && e.Tool != f.Tool,
			f.Session != "" && e.Session != f.Session,
			!matches(&f, e):
			continue
		}
		ids = append(ids, e.ID)
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	limit := f.Limit
	if limit <= 0 {
		limit = audit.DefaultListLimit
	}
	return ids[:min(len(ids), limit)]
}

func eventIDs(events []audit.Event) []string {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return ids
}

// TestFinishEventInRun: a Finish that changes an event stored in a run
// moves it out of the run, changed, and leaves the others as they were;
// a run left empty goes. An outcome for an event already complete in a
// run (FinishAsync twice) changes nothing and is no error.
func TestFinishEventInRun(t *testing.T) {
	logger, logs := newTestLogger()
	s, err := Open(testContext(t), filepath.Join(t.TempDir(), "audit.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := testContext(t)
	r := rand.New(rand.NewPCG(3, 4))
	events := []*audit.Event{runEvent("sess-a", 1, r), runEvent("sess-a", 2, r), runEvent("sess-a", 3, r)}
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
	events := []*audit.Event{runEvent("sess-a", 1, r), runEvent("sess-a", 2, r), runEvent("sess-a", 3, r)}
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
	events := []*audit.Event{runEvent("sess-a", 1, r), runEvent("sess-a", 2, r)}
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
		e := runEvent("sess-b", i, r)
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
		e := runEvent("sess-a", i, r)
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
	late := runEvent("sess-b", 1, r)
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
	twice := runEvent("sess-c", 1, r)
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

	other := runEvent("sess-c", 2, r)
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
