package sqlite

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/audit"
)

// insertRunning writes a running event of instance straight into the
// file, as that process's writer would have.
func insertRunning(t *testing.T, s *Store, instance, tool string) *audit.Event {
	t.Helper()
	e := &audit.Event{Tool: tool, Status: audit.StatusRunning}
	s.stamp(e)
	r, err := encodeRow(e)
	if err != nil {
		t.Fatal(err)
	}
	r.instance = instance
	if _, err := s.DB().ExecContext(testContext(t), insertSQL, r.args()...); err != nil {
		t.Fatal(err)
	}
	return e
}

func status(t *testing.T, s *Store, id string) audit.Event {
	t.Helper()
	e, err := s.Get(testContext(t), id)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestInterruptedOnlyWhenTheProcessIsGone: opening the store closes the
// running events of a process of this host that no longer runs, and only
// those: a live process's (another Warden sharing the store), this
// process's own, and those of another host that heartbeats stay running.
// The outcome of the live process, when it comes, completes its event.
func TestInterruptedOnlyWhenTheProcessIsGone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	s := mustOpen(t, path)
	defer s.Close()
	ctx := testContext(t)

	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer sleeper.Process.Kill()
	host, _ := os.Hostname()
	pid := sleeper.Process.Pid
	var start string
	for range 100 { // /proc/PID/stat is there once the child runs
		if start = audit.ProcessStart(pid); start != "" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	live := fmt.Sprintf("%s.%d.%s", safeHost(host), pid, start)
	reused := fmt.Sprintf("%s.%d.%s", safeHost(host), pid, start+"0") // same PID, another process
	remote := "other-host.42.7"
	// The live process heartbeats too (as the credential reaper does); a
	// heartbeat does not keep a process of this host alive once it ended.
	if err := s.Heartbeat(ctx, audit.Instance{ID: "l", Host: host, PID: pid, Boot: start, Started: time.Now(), Heartbeat: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.Heartbeat(ctx, audit.Instance{ID: "r", Host: "other-host", PID: 42, Boot: "7", Started: time.Now(), Heartbeat: time.Now()}); err != nil {
		t.Fatal(err)
	}
	liveEv := insertRunning(t, s, live, "live")
	reusedEv := insertRunning(t, s, reused, "reused")
	remoteEv := insertRunning(t, s, remote, "remote")
	silentEv := insertRunning(t, s, "silent-host.43.8", "silent") // no journal, no heartbeat
	mine := &audit.Event{Tool: "mine"}
	in := s.BeginAsync(mine)
	if err := in.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}

	other := mustOpen(t, path) // another store of this process: a Warden starting
	for _, e := range []*audit.Event{liveEv, remoteEv, mine} {
		if got := status(t, other, e.ID); got.Status != audit.StatusRunning {
			t.Errorf("%s event = %+v, want still running", e.Tool, got)
		}
	}
	for _, e := range []*audit.Event{reusedEv, silentEv} {
		if got := status(t, other, e.ID); got.Status != audit.StatusInterrupted || !strings.Contains(got.Error, "interrupted") {
			t.Errorf("%s event = %+v, want interrupted", e.Tool, got)
		}
	}
	other.Close()

	sleeper.Process.Kill()
	sleeper.Wait()
	other = mustOpen(t, path)
	defer other.Close()
	if got := status(t, other, liveEv.ID); got.Status != audit.StatusInterrupted || !strings.Contains(got.Error, live) {
		t.Errorf("event of the process that ended = %+v, want interrupted naming %s", got, live)
	}
	if got := status(t, other, mine.ID); got.Status != audit.StatusRunning {
		t.Errorf("this process's own event = %+v, want running", got)
	}
	n, err := other.List(ctx, audit.Filter{Status: audit.StatusInterrupted})
	if err != nil || len(n) != 3 {
		t.Errorf("List(status interrupted) = %d events, %v; want 3", len(n), err)
	}

	// A process taken for gone completes its event after all: the
	// outcome replaces interrupted (the outcome was unknown; now it is).
	if _, err := other.DB().ExecContext(ctx, `UPDATE events SET status = 'interrupted' WHERE id = ?`, mine.ID); err != nil {
		t.Fatal(err)
	}
	mine.Status, mine.Rows = audit.StatusOK, 4
	if err := in.Complete(mine); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := status(t, other, mine.ID); got.Status != audit.StatusOK || got.Rows != 4 {
		t.Errorf("event completed after it was closed as interrupted = %+v", got)
	}
}

// TestInterruptedEventsOfEarlierVersions: running events written before
// events named their process are closed only when no other process has
// the store open (a journal in use): any could be running them.
func TestInterruptedEventsOfEarlierVersions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	s := mustOpen(t, path)
	old := insertRunning(t, s, "", "old")
	s.Close()

	// A journal of another process of this host that still runs.
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer sleeper.Process.Kill()
	time.Sleep(50 * time.Millisecond)
	host, _ := os.Hostname()
	pid := sleeper.Process.Pid
	journal := fmt.Sprintf("%s-intentlog.%s.%d.%s.0", path, safeHost(host), pid, audit.ProcessStart(pid))
	if err := os.WriteFile(journal, []byte(segmentHeader), 0o600); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, path)
	if got := status(t, s, old.ID); got.Status != audit.StatusRunning {
		t.Errorf("with another Warden running: %+v, want running", got)
	}
	s.Close()

	sleeper.Process.Kill()
	sleeper.Wait()
	s = mustOpen(t, path)
	defer s.Close()
	if got := status(t, s, old.ID); got.Status != audit.StatusInterrupted {
		t.Errorf("with no other Warden: %+v, want interrupted", got)
	}
}
