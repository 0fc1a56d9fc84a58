package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// When the database cannot be written, Begin must return an error promptly,
// so that the caller refuses the operation.
func TestWriteFailsClosed(t *testing.T) {
	tests := []struct {
		name       string
		breakStore func(t *testing.T, s *Store)
		big        bool // write events large enough to need new pages
	}{
		{
			name: "disk full",
			big:  true,
			breakStore: func(t *testing.T, s *Store) {
				var pages int
				if err := s.writeDB.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
					t.Fatal(err)
				}
				if _, err := s.writeDB.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "read-only database",
			breakStore: func(t *testing.T, s *Store) {
				if _, err := s.writeDB.Exec("PRAGMA query_only = ON"); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "file removed",
			breakStore: func(t *testing.T, s *Store) {
				if err := os.Remove(s.path); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "directory removed",
			breakStore: func(t *testing.T, s *Store) {
				if err := os.RemoveAll(filepath.Dir(s.path)); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "file replaced",
			breakStore: func(t *testing.T, s *Store) {
				if err := os.Rename(s.path, s.path+".old"); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(s.path, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(testContext(t), filepath.Join(t.TempDir(), "db", "audit.db"), nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx := testContext(t)
			if err := s.Begin(ctx, sampleEvent()); err != nil {
				t.Fatalf("Begin before breaking the store: %v", err)
			}
			tt.breakStore(t, s)

			// Several callers, so that some share a failing batch.
			const callers = 8
			errs := make([]error, callers)
			var wg sync.WaitGroup
			for i := range callers {
				wg.Go(func() {
					e := sampleEvent()
					if tt.big {
						e.Arguments = json.RawMessage(`{"sql":"` + strings.Repeat("x", 64<<10) + `"}`)
					}
					errs[i] = s.Begin(ctx, e)
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err == nil {
					t.Errorf("caller %d: Begin succeeded on a broken store", i)
					continue
				}
				if errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "audit: write event") {
					t.Errorf("caller %d: error = %v, want an audit write error", i, err)
				}
			}
			t.Logf("error: %v", errs[0])
			_ = s.Close() // may fail; must not hang
		})
	}
}

// A database file the process may not write: Open or the first Begin fails.
func TestReadOnlyFileFailsClosed(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root, which ignores file permissions; the read-only case is covered by TestWriteFailsClosed")
	}
	dir := filepath.Join(t.TempDir(), "db")
	path := filepath.Join(dir, "audit.db")
	s := mustOpen(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		_ = os.Chmod(f, 0o400)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })

	s, err := Open(testContext(t), path, nil)
	if err != nil {
		t.Logf("Open refused: %v", err)
		if !strings.Contains(err.Error(), path) {
			t.Errorf("Open error %q does not name the file", err)
		}
		return
	}
	defer s.Close()
	err = s.Begin(testContext(t), sampleEvent())
	if err == nil {
		t.Fatal("Begin succeeded on a read-only database")
	}
	t.Logf("Begin refused: %v", err)
}
