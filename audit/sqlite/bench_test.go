package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/audit/audittest"
)

// BenchmarkBeginFinish measures one audited operation (intent then outcome)
// with many callers at once, the case group commit is for. ops/commit is how
// many writes shared each transaction.
func BenchmarkBeginFinish(b *testing.B) {
	for _, parallelism := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("callers=%dxGOMAXPROCS", parallelism), func(b *testing.B) {
			s := openTestStore(b)
			ctx := context.Background()
			b.SetParallelism(parallelism)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					e := sampleEvent()
					if err := s.Begin(ctx, e); err != nil {
						b.Error(err)
						return
					}
					e.Status = audit.StatusOK
					e.Rows = 50
					if err := s.Finish(ctx, e); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			if commits := s.commits.Load(); commits > 0 {
				b.ReportMetric(float64(2*b.N)/float64(commits), "ops/commit")
			}
		})
	}
}

// BenchmarkJournaledCalls is the hot path's pattern: an intent through the
// journal, an outcome without waiting; it reports the writer's CPU per event
// through the total time once everything is committed.
func BenchmarkJournaledCalls(b *testing.B) {
	s := openTestStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		e := sampleEvent()
		if err := s.BeginAsync(e).Wait(ctx); err != nil {
			b.Fatal(err)
		}
		e.Status = audit.StatusOK
		e.Rows = 1
		if err := s.FinishAsync(e); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Sync(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkProxyEvents is the PostgreSQL proxy's load: 8 sessions, each
// statement an intent through the journal (BeginAsync, waited for as the
// gate does) and an outcome nobody waits for (Intent.Complete), then Sync.
// The writer goroutine's work does not show in ns/op, so it reports the
// whole process's CPU time (user and system) per event.
//
// saturated runs statements back to back. paced is closer to pgbench
// through the proxy: each statement takes about a millisecond between its
// intent and its outcome (PostgreSQL and the client), several thousand
// statements a second in all (8,000 if sleeps were exact); the CPU the
// pacing itself costs (timers, goroutine switches) is measured alone first
// and subtracted.
func BenchmarkProxyEvents(b *testing.B) {
	b.Run("saturated", func(b *testing.B) { benchmarkProxyEvents(b, 0) })
	b.Run("paced", func(b *testing.B) { benchmarkProxyEvents(b, 900*time.Microsecond) })
}

func benchmarkProxyEvents(b *testing.B, running time.Duration) {
	const sessions = 8
	s := openTestStore(b)
	ctx := context.Background()
	run := func(record bool) {
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := range sessions {
			wg.Go(func() {
				for {
					i := next.Add(1)
					if i > int64(b.N) {
						return
					}
					e := proxyEvent(w, i)
					var intent audit.Intent
					if record {
						intent = s.BeginAsync(e)
						if err := intent.Wait(ctx); err != nil {
							b.Error(err)
							return
						}
					}
					if running > 0 {
						time.Sleep(running)
					}
					e.Status, e.Duration, e.Rows = audit.StatusOK, 180*time.Microsecond, 1
					if i%4 == 0 {
						e.Masked = map[string]int64{"email": 1}
					}
					if record {
						if err := intent.Complete(e); err != nil {
							b.Error(err)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		if err := s.Sync(ctx); err != nil {
			b.Fatal(err)
		}
	}
	var pacing time.Duration
	if running > 0 {
		cpu0 := processCPU(b)
		run(false)
		pacing = processCPU(b) - cpu0
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, wall0, commits0 := processCPU(b), time.Now(), s.commits.Load()
	run(true)
	cpu, wall := processCPU(b)-cpu0-pacing, time.Since(wall0)
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N), "cpu-µs/event")
	b.ReportMetric(float64(b.N)/wall.Seconds(), "events/s")
	if commits := s.commits.Load() - commits0; commits > 0 {
		b.ReportMetric(float64(b.N)/float64(commits), "events/commit")
	}
}

// proxyEvent is a statement as tools/proxy.go records it: pgbench's
// select-only transaction on one of the sessions.
func proxyEvent(session int, i int64) *audit.Event {
	aid := strconv.FormatInt(i%100000+1, 10)
	return &audit.Event{
		Session:    "pg-" + strconv.Itoa(session),
		Transport:  audit.TransportPostgresProxy,
		Identity:   "alice@example.com",
		Groups:     []string{"agents", "dba"},
		Issuer:     "https://idp.example.com",
		Tool:       "run_query",
		Connection: "prod-pg",
		Arguments:  json.RawMessage(`{"connection":"prod-pg","sql":"SELECT abalance FROM pgbench_accounts WHERE aid = $1;","params":["` + aid + `"]}`),
		Statement:  "SELECT abalance FROM pgbench_accounts WHERE aid = $1;",
		Decision:   audit.DecisionAllow,
		Rule:       "agents-read-prod",
		Credential: "lease-01JX4M2Q8V7ZK3N5T6W9Y0B1C2",
	}
}

// processCPU is the user and system time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReadRuns reads a store of 200,000 proxied statements, nearly
// all in runs: a page of the newest events, a page of one session's, a
// page deep in the past, and one event by ID. Each should cost the same
// whatever the store's size (List stops at the first run older than the
// page).
func BenchmarkReadRuns(b *testing.B) {
	s := openTestStore(b)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Now().Add(-24 * time.Hour)
	const total, perBatch = 200_000, 400
	var mid *audit.Event
	for n := 0; n < total; n += perBatch {
		batch := make([]*audit.Event, perBatch)
		for i := range batch {
			batch[i] = audittest.SessionEvent(fmt.Sprintf("sess-%d", i%8), n+i, r)
			batch[i].Time = base.Add(time.Duration(n+i) * 300 * time.Microsecond)
		}
		commitFolded(b, s, batch...)
		if n == total/2 {
			mid = batch[0]
		}
	}
	for _, bm := range []struct {
		name string
		read func() (int, error)
	}{
		{"list-newest", func() (int, error) { e, err := s.List(ctx, audit.Filter{}); return len(e), err }},
		{"list-session", func() (int, error) { e, err := s.List(ctx, audit.Filter{Session: "sess-3"}); return len(e), err }},
		{"list-before-mid", func() (int, error) { e, err := s.List(ctx, audit.Filter{Before: mid.ID}); return len(e), err }},
		{"get-mid", func() (int, error) { _, err := s.Get(ctx, mid.ID); return 1, err }},
	} {
		b.Run(bm.name, func(b *testing.B) {
			for b.Loop() {
				if n, err := bm.read(); err != nil || n == 0 {
					b.Fatalf("%d events, %v", n, err)
				}
			}
		})
	}
}
