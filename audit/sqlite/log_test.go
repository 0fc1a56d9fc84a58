package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/audit/auditlog"
	"github.com/wardenhq/warden/audit/audittest"
)

func newSigner(t testing.TB) *auditlog.Signer {
	t.Helper()
	skey, _, err := auditlog.GenerateKey("test-audit")
	if err != nil {
		t.Fatal(err)
	}
	s, err := auditlog.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openSigned(t testing.TB, path string, signer *auditlog.Signer) *Store {
	t.Helper()
	s, err := OpenWith(testContext(t), path, Options{Signer: signer, CheckpointEvery: -1})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func verifiersOf(signer *auditlog.Signer) note.Verifiers {
	if signer == nil {
		return nil
	}
	return note.VerifierList(signer.Verifier)
}

func verifyLog(t testing.TB, s *Store, signer *auditlog.Signer) *auditlog.Report {
	t.Helper()
	rep, err := s.VerifyLog(testContext(t), auditlog.VerifyOptions{Verifiers: verifiersOf(signer)})
	if err != nil {
		t.Fatalf("VerifyLog: %v", err)
	}
	return rep
}

func mustVerify(t testing.TB, s *Store, signer *auditlog.Signer) *auditlog.Report {
	t.Helper()
	rep := verifyLog(t, s, signer)
	if !rep.OK {
		t.Fatalf("the log does not verify: %+v", rep.Problems)
	}
	return rep
}

// TestEventLeafMatchesEncodingJSON: the store's leaf encoder writes what
// auditlog.EventLeaf (encoding/json) writes, for events of every shape.
func TestEventLeafMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	checked := 0
	for range 20000 {
		e := randomEvent(rng)
		want, werr := auditlog.EventLeaf(e)
		got, gerr := eventLeaf(nil, &e)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("event %+v: errors differ: %v / %v", e, werr, gerr)
		}
		if werr == nil {
			checked++
			if !bytes.Equal(got, want) {
				t.Fatalf("event %+v:\n got  %s\n want %s", e, got, want)
			}
		}
	}
	if checked < 10000 {
		t.Fatalf("only %d events encodable", checked)
	}
}

// writable makes e something a store accepts: a time within RFC 3339,
// arguments that are JSON.
func writable(e audit.Event, rng *rand.Rand) *audit.Event {
	e.ID = ""
	e.Time = time.Now().Add(-time.Duration(rng.Int64N(int64(time.Hour))))
	if !json.Valid(e.Arguments) {
		e.Arguments = nil
	}
	return &e
}

// TestLogVerifiesEveryWrite: whatever the store writes (intents,
// outcomes folded in or not, runs, refused calls, outcomes that replace
// outcomes in runs and out of them, recordings, interrupted events,
// journals replayed), of events of every shape, verifies: the leaf
// written is the leaf recomputed from what reads back. Each change of an
// event after the first is a revision.
func TestLogVerifiesEveryWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	signer := newSigner(t)
	s := openSigned(t, path, signer)
	ctx := testContext(t)
	rng := rand.New(rand.NewPCG(3, 4))

	for range 300 {
		e := writable(randomEvent(rng), rng)
		status := e.Status
		switch rng.IntN(4) {
		case 0:
			if !audit.IsOutcome(status) {
				e.Status = audit.StatusDenied
			}
			if err := s.Record(ctx, e); err != nil {
				t.Fatal(err)
			}
		case 1:
			in := s.BeginAsync(e)
			if err := in.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			e.Status = audit.StatusOK
			if err := in.Complete(e); err != nil {
				t.Fatal(err)
			}
		case 2:
			if err := s.Begin(ctx, e); err != nil {
				t.Fatal(err)
			}
			e.Status = audit.StatusFailed
			if err := s.Finish(ctx, e); err != nil {
				t.Fatal(err)
			}
		default:
			in := s.BeginAsync(e)
			if err := in.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			if err := s.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			e.Status = audit.StatusOK
			if err := in.Complete(e); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// Runs of a session, then an outcome replaced in one (moved out).
	var session []*audit.Event
	for i := range 6 {
		session = append(session, audittest.SessionEvent("sess-log", i, rng))
	}
	commitFolded(t, s, session...)
	if countRows(t, s, "event_runs") == 0 {
		t.Fatal("no run written")
	}
	changed := *session[2]
	changed.Status, changed.Decision, changed.Approval = audit.StatusDenied, audit.DecisionDeny, "appr-9"
	if err := s.Finish(ctx, &changed); err != nil {
		t.Fatal(err)
	}
	// A recording.
	rec := &audit.Event{Tool: "ssh_shell"}
	if err := s.Begin(ctx, rec); err != nil {
		t.Fatal(err)
	}
	for seq := range 3 {
		if err := s.AppendRecording(ctx, rec.ID, seq, []byte(fmt.Sprintf("[%d, \"o\", \"x\"]\n", seq))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	rep := mustVerify(t, s, signer)
	if rep.Chunks != 3 || rep.Checkpoints != 1 || rep.Uncheckpointed != 0 || rep.Revisions == 0 {
		t.Errorf("report = %+v", rep)
	}

	// A journal left by a process that is gone: an intent replayed, then
	// closed as interrupted; an outcome replayed.
	s.Close()
	lost := audit.Event{ID: "01M8ZZZZZZZZZZZZZZZZZZZZZZ", Time: time.Now(), Tool: "describe_schema", Status: audit.StatusRunning}
	answered := audit.Event{ID: "01M8ZZZZZZZZZZZZZZZZZZZZZY", Time: time.Now(), Tool: "run_query", Status: audit.StatusRunning}
	outcome := audit.Event{ID: answered.ID, Status: audit.StatusOK, Rows: 3}
	deadJournal(t, path, []audit.Event{lost, answered, outcome})
	s = openSigned(t, path, signer)
	defer s.Close()
	if got := status(t, s, lost.ID); got.Status != audit.StatusInterrupted {
		t.Fatalf("replayed intent = %+v", got)
	}
	rep = mustVerify(t, s, signer)
	if rep.Uncheckpointed == 0 {
		t.Errorf("report = %+v: the replay's leaves are after the checkpoint", rep)
	}
	t.Logf("%d leaves, %d events, %d revisions, %d chunks, %d checkpoints", rep.Leaves, rep.Events, rep.Revisions, rep.Chunks, rep.Checkpoints)
}

// attacker is a connection to the store's file of someone who can write
// it but has no key.
func attacker(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func sqlExec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// tamperStore is a signed store with events one by one, events in a run,
// a recording and a checkpoint, then more events after it.
type tamperStore struct {
	path   string
	signer *auditlog.Signer
	before []*audit.Event // events table, before the checkpoint
	run    []*audit.Event // in a run, before the checkpoint
	after  []*audit.Event // after the checkpoint
	rec    string         // a recording (3 chunks), before the checkpoint
}

func newTamperStore(t *testing.T) *tamperStore {
	ts := &tamperStore{path: filepath.Join(t.TempDir(), "audit.db"), signer: newSigner(t)}
	s := openSigned(t, ts.path, ts.signer)
	ctx := testContext(t)
	for i := range 5 {
		e := &audit.Event{Tool: "run_query", Identity: "alice", Statement: fmt.Sprintf("SELECT %d", i), Status: audit.StatusOK}
		if err := s.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
		ts.before = append(ts.before, e)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 4 {
		ts.run = append(ts.run, audittest.SessionEvent("sess-t", i, rng))
	}
	commitFolded(t, s, ts.run...)
	rec := &audit.Event{Tool: "ssh_shell", Status: audit.StatusOK}
	if err := s.Record(ctx, rec); err != nil {
		t.Fatal(err)
	}
	ts.rec = rec.ID
	for seq := range 3 {
		if err := s.AppendRecording(ctx, rec.ID, seq, []byte(fmt.Sprintf("[%d, \"o\", \"secret-free output\"]\n", seq))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		e := &audit.Event{Tool: "run_query", Identity: "bob", Statement: fmt.Sprintf("UPDATE t SET x = %d", i), Status: audit.StatusOK}
		if err := s.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
		ts.after = append(ts.after, e)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return ts
}

// TestLogTamperEvident: every way of changing the file behind Warden's
// back that the log must show, each found and named: the first event
// changed, removed, reordered or appended, with its kind.
func TestLogTamperEvident(t *testing.T) {
	for _, tt := range []struct {
		name   string
		tamper func(t *testing.T, db *sql.DB, ts *tamperStore) (kind, key string)
	}{
		{"edit a statement", func(t *testing.T, db *sql.DB, ts *tamperStore) (string, string) {
			sqlExec(t, db, `UPDATE events SET statement = 'SELECT 42' WHERE id = ?`, ts.before[1].ID)
			return auditlog.ProblemChanged, ts.before[1].ID
		}},
		{"edit a statement after the last checkpoint", func(t *testing.T, db *sql.DB, ts *tamperStore) (string, string) {
			sqlExec(t, db, `UPDATE events SET statement = 'SELECT 1' WHERE id = ?`, ts.after[0].ID)
			return auditlog.ProblemChanged, ts.after[0].ID
		}},
		{"edit an event in a run", func(t *testing.T, db *sql.DB, ts *tamperStore) (string, string) {
			sqlExec(t, db, `UPDATE event_runs SET body = json_set(body, '$[2][3]', 'DROP TABLE x')`)
			return auditlog.ProblemChanged, ts.run[2].ID
		}},
		{"edit a shared column of a run", func(t *testing.T, db *sql.DB, ts *tamperStore) (string, string) {
			sqlExec(t, db, `UPDATE event_runs SET identity = 'mallory'`)
			return auditlog.ProblemChanged, ts.run[0].ID
		}},
		{"mark an answered call failed", func(t *testing.T, db *sql.DB, ts *tamperStore) (string, string) {
			sqlExec(t, db, `UPDATE events SET status = 'failed', error = 'x' WHERE id = ?`, ts.before[3].ID)
			return auditlog.ProblemChanged, ts.before[3].ID
		}},
		{"delete an event", func(t *testing.T, db *sql.DB, ts *tamperStore) (string, string) {
			sqlExec(t, db, `DELETE FROM events WHERE id = ?`, ts.before[2].ID)
			return auditlog.ProblemRemoved, ts.before[2].ID
		}},
		{"delete a run", func(t *testing.T, db *sql.DB, ts *tamperStore) (string, string) {
			sqlExec(t, db, `DELETE FROM event_runs`)
			return auditlog.ProblemRemoved, ts.run[0].ID
		}},
		{"reorder: swap two statements", func(t *testing.T, db *sql.DB, ts *tamperStore) (string, string) {
			a, b := ts.before[0], ts.before[4]
			sqlExec(t, db, `UPDATE events SET statement = CASE id WHEN ? THEN ? ELSE ? END WHERE id IN (?, ?)`, a.ID, b.Statement, a.Statement, a.ID, b.ID)
			return auditlog.ProblemChanged, a.ID
		}},
		{"reorder: swap two leaves", func(t *testing.T, db *sql.DB, ts *tamperStore) (string, string) {
			// Two batches of one leaf each: swap their keys and hashes.
			var k0, k1 string
			var h0, h1 []byte
			db.QueryRow(`SELECT keys, hashes FROM log_batches WHERE first = 0`).Scan(&k0, &h0)
			db.QueryRow(`SELECT keys, hashes FROM log_batches WHERE first = 1`).Scan(&k1, &h1)
			sqlExec(t, db, `UPDATE log_batches SET keys = ?, hashes = ? WHERE first = 0`, k1, h1)
			sqlExec(t, db, `UPDATE log_batches SET keys = ?, hashes = ? WHERE first = 1`, k0, h0)
			return auditlog.ProblemLog, ts.before[1].ID
		}},
		{"append an event behind its back", func(t *testing.T, db *sql.DB, ts *tamperStore) (string, string) {
			id := "01M8ZZZZZZZZZZZZZZZZZZZZZZ"
			sqlExec(t, db, `INSERT INTO events (id, time, tool, status, statement) VALUES (?, ?, 'run_query', 'ok', 'SELECT 1')`, id, formatTime(time.Now()))
			return auditlog.ProblemUnlogged, id
		}},
		{"append an event and its leaf, without the key", func(t *testing.T, db *sql.DB, ts *tamperStore) (string, string) {
			id := "01M8ZZZZZZZZZZZZZZZZZZZZZZ"
			e := audit.Event{ID: id, Time: time.Now(), Tool: "run_query", Status: audit.StatusOK, Statement: "SELECT 1"}
			r, _ := encodeRow(&e)
			sqlExec(t, db, insertSQL, r.args()...)
			leaf, _ := auditlog.EventLeaf(e)
			h := auditlog.LeafHash(leaf)
			var end int64
			db.QueryRow(logTailSQL).Scan(&end)
			// A head as Warden writes them, signed by another key.
			other := newSigner(t)
			var origin string
			db.QueryRow(`SELECT origin FROM log_origin`).Scan(&origin)
			msg, _ := auditlog.Sign(auditlog.Head{Origin: origin, Size: end + 1}, other)
			sqlExec(t, db, logInsertSQL, end, id, h[:], msg)
			return auditlog.ProblemSignature, ""
		}},
		{"change a leaf and its event", func(t *testing.T, db *sql.DB, ts *tamperStore) (string, string) {
			e := *ts.before[1]
			e.Statement = "SELECT 42"
			sqlExec(t, db, `UPDATE events SET statement = ? WHERE id = ?`, e.Statement, e.ID)
			got, _ := (&Store{}).getForTest(db, e.ID)
			leaf, _ := auditlog.EventLeaf(got)
			h := auditlog.LeafHash(leaf)
			sqlExec(t, db, `UPDATE log_batches SET hashes = ? WHERE keys = ?`, h[:], e.ID)
			return auditlog.ProblemLog, e.ID
		}},
		{"truncate: the last events and their leaves", func(t *testing.T, db *sql.DB, ts *tamperStore) (string, string) {
			var size int64
			db.QueryRow(`SELECT max(size) FROM log_checkpoints`).Scan(&size)
			sqlExec(t, db, `DELETE FROM log_batches WHERE first >= ?`, size-2)
			sqlExec(t, db, `DELETE FROM events WHERE id >= ?`, ts.rec)
			sqlExec(t, db, `DELETE FROM recording_chunks`)
			return auditlog.ProblemTruncated, ""
		}},
		{"edit a recording chunk", func(t *testing.T, db *sql.DB, ts *tamperStore) (string, string) {
			sqlExec(t, db, `UPDATE recording_chunks SET chunk = CAST('[1, "o", "other output"]' || char(10) AS BLOB) WHERE seq = 1`)
			return auditlog.ProblemChanged, auditlog.ChunkKey(ts.rec, 1)
		}},
		{"delete a recording chunk", func(t *testing.T, db *sql.DB, ts *tamperStore) (string, string) {
			sqlExec(t, db, `DELETE FROM recording_chunks WHERE seq = 2`)
			return auditlog.ProblemRemoved, auditlog.ChunkKey(ts.rec, 2)
		}},
		{"forge a checkpoint", func(t *testing.T, db *sql.DB, ts *tamperStore) (string, string) {
			sqlExec(t, db, `UPDATE log_checkpoints SET note = replace(note, substr(note, instr(note, char(10)) + 1, 1), '9')`)
			return auditlog.ProblemSignature, ""
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTamperStore(t)
			s := openSigned(t, ts.path, ts.signer)
			mustVerify(t, s, ts.signer)
			s.Close()

			kind, key := tt.tamper(t, attacker(t, ts.path), ts)
			s = openSigned(t, ts.path, ts.signer)
			defer s.Close()
			rep := verifyLog(t, s, ts.signer)
			if rep.OK || len(rep.Problems) == 0 {
				t.Fatalf("tampering went unnoticed: %+v", rep)
			}
			first := rep.Problems[0]
			if first.Kind != kind || (key != "" && first.Key != key) {
				t.Errorf("first problem = %+v, want kind %s, key %s; all: %+v", first, kind, key, rep.Problems)
			}
			t.Logf("found: %s (%d problems)", first.Detail, len(rep.Problems))
		})
	}
}

// getForTest reads an event as Get does, through db.
func (*Store) getForTest(db *sql.DB, id string) (audit.Event, error) {
	rows, err := db.QueryContext(context.Background(), selectColumns+` WHERE id = ?`, id)
	if err != nil {
		return audit.Event{}, err
	}
	evs, err := scanEvents(rows)
	if err != nil || len(evs) != 1 {
		return audit.Event{}, fmt.Errorf("event %s: %v", id, err)
	}
	return evs[0], nil
}

// TestCheckpointRefusesForgedBatches: a batch appended without the key
// stops checkpoints (the error says why), so that no checkpoint ever
// covers it; verification names it.
func TestCheckpointRefusesForgedBatches(t *testing.T) {
	ts := newTamperStore(t)
	db := attacker(t, ts.path)
	var end int64
	db.QueryRow(logTailSQL).Scan(&end)
	var origin string
	db.QueryRow(`SELECT origin FROM log_origin`).Scan(&origin)
	h := auditlog.LeafHash([]byte("{}"))
	var tree auditlog.Frontier // not the real one: the attacker has no need of it without the key
	tree.Append(h)
	msg, _ := auditlog.Sign(auditlog.Head{Origin: origin, Size: end + 1, Root: tree.Root()}, nil)
	sqlExec(t, db, logInsertSQL, end, "01M8ZZZZZZZZZZZZZZZZZZZZZZ", h[:], msg)

	s := openSigned(t, ts.path, ts.signer)
	defer s.Close()
	if _, err := s.Checkpoint(testContext(t)); err == nil || !strings.Contains(err.Error(), "not signed") {
		t.Fatalf("Checkpoint over a batch without a signed head: %v", err)
	}
	// Warden goes on writing (nothing is refused), and the log says so.
	if err := s.Record(testContext(t), &audit.Event{Tool: "run_query", Status: audit.StatusOK}); err != nil {
		t.Fatal(err)
	}
	rep := verifyLog(t, s, ts.signer)
	if rep.OK || rep.Problems[0].Kind != auditlog.ProblemSignature || rep.Problems[0].Leaf != end {
		t.Fatalf("problems = %+v", rep.Problems)
	}
}

// TestVerifyAnchors: a log cut short together with its checkpoints looks
// whole from the file alone; a checkpoint kept elsewhere shows it.
func TestVerifyAnchors(t *testing.T) {
	ts := newTamperStore(t)
	s := openSigned(t, ts.path, ts.signer)
	rep := mustVerify(t, s, ts.signer)
	kept := rep.Latest.Note
	s.Close()

	db := attacker(t, ts.path)
	var first int64
	db.QueryRow(`SELECT max(first) FROM log_batches`).Scan(&first)
	sqlExec(t, db, `DELETE FROM log_batches WHERE first = ?`, first)
	sqlExec(t, db, `DELETE FROM log_checkpoints WHERE size > ?`, first)
	sqlExec(t, db, `DELETE FROM events WHERE id = ?`, ts.after[len(ts.after)-1].ID)

	s = openSigned(t, ts.path, ts.signer)
	defer s.Close()
	mustVerify(t, s, ts.signer) // consistent in itself
	rep, err := s.VerifyLog(testContext(t), auditlog.VerifyOptions{Verifiers: verifiersOf(ts.signer), Anchors: []string{kept}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.Problems[0].Kind != auditlog.ProblemTruncated {
		t.Fatalf("with the kept checkpoint: %+v", rep.Problems)
	}
}

// TestUnsignedLog: without a key the log still shows damage (anyone who
// can write the file could rewrite it, and verification says signatures
// were not checked); a key configured later signs from then on, and the
// unsigned beginning verifies.
func TestUnsignedLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	s := openSigned(t, path, nil)
	ctx := testContext(t)
	e := &audit.Event{Tool: "run_query", Statement: "SELECT 1", Status: audit.StatusOK}
	if err := s.Record(ctx, e); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openSigned(t, path, nil)
	rep := mustVerify(t, s, nil)
	if !strings.HasPrefix(rep.Signatures, "not checked") || rep.Checkpoints != 1 {
		t.Errorf("report = %+v", rep)
	}
	s.Close()

	signer := newSigner(t)
	s = openSigned(t, path, signer)
	if err := s.Record(ctx, &audit.Event{Tool: "run_query", Statement: "SELECT 2", Status: audit.StatusOK}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Checkpoint(ctx); err != nil {
		t.Fatalf("a key signs a log that was unsigned: %v", err)
	}
	mustVerify(t, s, signer)
	s.Close()

	sqlExec(t, attacker(t, path), `UPDATE events SET statement = 'SELECT 3' WHERE id = ?`, e.ID)
	s = openSigned(t, path, signer)
	defer s.Close()
	if rep := verifyLog(t, s, nil); rep.OK || rep.Problems[0].Kind != auditlog.ProblemChanged {
		t.Errorf("unsigned verification of a changed event: %+v", rep.Problems)
	}
}

// TestTwoWritersShareTheLog: two stores on one file (two Wardens) append
// to one log, each taking in the other's batches; it verifies.
func TestTwoWritersShareTheLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	signer := newSigner(t)
	a := openSigned(t, path, signer)
	b := openSigned(t, path, signer)
	ctx := testContext(t)
	for i := range 50 {
		s := a
		if i%3 == 0 {
			s = b
		}
		if err := s.Record(ctx, &audit.Event{Tool: "run_query", Statement: fmt.Sprint(i), Status: audit.StatusOK}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	a.Close()
	b.Close()
	s := openSigned(t, path, signer)
	defer s.Close()
	if rep := mustVerify(t, s, signer); rep.Leaves != 50 || rep.Events != 50 {
		t.Errorf("report = %+v", rep)
	}
}

// TestBackfill: a store written before the log existed is logged once,
// as it is, when it opens; what was written before stays verifiable.
func TestBackfill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	s := openSigned(t, path, nil)
	ctx := testContext(t)
	for i := range 10 {
		if err := s.Record(ctx, &audit.Event{Tool: "run_query", Statement: fmt.Sprint(i), Status: audit.StatusOK}); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(9, 9))
	commitFolded(t, s, audittest.SessionEvent("s", 0, rng), audittest.SessionEvent("s", 1, rng))
	rec := &audit.Event{Tool: "ssh_shell", Status: audit.StatusOK}
	s.Record(ctx, rec)
	s.AppendRecording(ctx, rec.ID, 0, []byte("{}\n"))
	s.Close()
	// As an earlier version left it.
	db := attacker(t, path)
	sqlExec(t, db, `DELETE FROM log_batches`)
	sqlExec(t, db, `DELETE FROM log_checkpoints`)
	sqlExec(t, db, `UPDATE log_origin SET backfill = 1`)

	signer := newSigner(t)
	s = openSigned(t, path, signer)
	defer s.Close()
	if rep := mustVerify(t, s, signer); rep.Leaves != 14 || rep.Events != 13 || rep.Chunks != 1 {
		t.Errorf("report = %+v", rep)
	}
}

// TestRowLeaf: the writer's leaf of a row, encoded without decoding it,
// is the leaf of the event the row holds, for rows of every shape; and it
// takes the fast way for most.
func TestRowLeaf(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	fast := 0
	for i := range 20000 {
		e := writable(randomEvent(rng), rng)
		e.ID = fmt.Sprintf("01M8ZZZZZZZZZZZZZZZZZZ%04d", i%10000)
		r, err := encodeRow(e)
		if err != nil {
			continue
		}
		got, ok := appendRowLeaf(nil, &r)
		back, err := rowEvent(&r)
		if err != nil {
			t.Fatal(err)
		}
		want, err := eventLeaf(nil, &back)
		if err != nil {
			if ok {
				t.Fatalf("row %+v: fast leaf %s, but the event has none: %v", r, got, err)
			}
			continue
		}
		if ok {
			fast++
			if !bytes.Equal(got, want) {
				t.Fatalf("row %+v:\n fast %s\n want %s", r, got, want)
			}
		}
	}
	if fast < 2000 {
		t.Errorf("only %d of 20000 rows took the fast way", fast)
	}
	t.Logf("%d of 20000 rows the fast way", fast)
}
