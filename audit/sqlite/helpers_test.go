package sqlite

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wardenhq/warden/audit"
)

// testTimeout bounds every store call in tests, so a hang fails instead of
// blocking the test binary.
const testTimeout = 30 * time.Second

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// openTestStore opens a store in a fresh directory and closes it when the
// test ends.
func openTestStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(testContext(t), filepath.Join(t.TempDir(), "audit.db"), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// sampleEvent is a complete allowed query, as the pipeline would build it.
func sampleEvent() *audit.Event {
	return &audit.Event{
		Session:    "sess-1",
		Transport:  audit.TransportHTTP,
		Identity:   "alice@example.com",
		Groups:     []string{"agents", "dba"},
		Issuer:     "https://idp.example.com",
		Tool:       "run_query",
		Connection: "prod-pg",
		Arguments:  json.RawMessage(`{"connection":"prod-pg","sql":"select id, email from customers","max_rows":50}`),
		Statement:  "select id, email from customers",
		Decision:   audit.DecisionAllow,
		Rule:       "agents-read-prod",
		Reason:     "matched rule agents-read-prod",
	}
}

// logBuffer is a slog handler target safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newTestLogger() (*slog.Logger, *logBuffer) {
	var b logBuffer
	return slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})), &b
}

func assertEventEqual(t *testing.T, got, want audit.Event) {
	t.Helper()
	want.Duration = want.Duration.Truncate(time.Microsecond) // stored in microseconds
	if !got.Time.Equal(want.Time) {
		t.Errorf("time = %v, want %v", got.Time, want.Time)
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	if !slices.Equal(got.Arguments, want.Arguments) {
		t.Errorf("arguments = %s, want %s", got.Arguments, want.Arguments)
	}
	got.Arguments, want.Arguments = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("event:\n got  %+v\n want %+v", got, want)
	}
}
