package sqlite

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/wardenhq/warden/audit"
)

// The contract suite (audittest) checks what Close does to later writes;
// these check that what was acknowledged is in the file once reopened.

func TestClose(t *testing.T) {
	s := openTestStore(t)
	ctx := testContext(t)

	// Writes submitted before Close are committed by it.
	var wg sync.WaitGroup
	ids := make([]string, 64)
	for i := range ids {
		wg.Go(func() {
			e := sampleEvent()
			if err := s.Begin(ctx, e); err != nil && !errors.Is(err, audit.ErrClosed) {
				t.Errorf("Begin: %v", err)
			} else if err == nil {
				ids[i] = e.ID
			}
		})
	}
	wg.Wait()
	path := s.path
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	reopened := mustOpen(t, path)
	defer reopened.Close()
	for _, id := range ids {
		if _, err := reopened.Get(ctx, id); err != nil {
			t.Errorf("event acknowledged before Close is missing: %v", err)
		}
	}
}

// Close while writers are still submitting: every write either commits or
// returns ErrClosed, nothing hangs, nothing panics.
func TestCloseDuringWrites(t *testing.T) {
	s := openTestStore(t)
	ctx := testContext(t)

	var wg sync.WaitGroup
	var mu sync.Mutex
	var committed []string
	for range 16 {
		wg.Go(func() {
			for {
				e := sampleEvent()
				err := s.Begin(ctx, e)
				if errors.Is(err, audit.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Begin: %v", err)
					return
				}
				mu.Lock()
				committed = append(committed, e.ID)
				mu.Unlock()
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	reopened := mustOpen(t, s.path)
	defer reopened.Close()
	var n int
	if err := reopened.DB().QueryRow("SELECT count(*) FROM events").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n < len(committed) {
		t.Errorf("%d writes acknowledged, %d in the database", len(committed), n)
	}
}
