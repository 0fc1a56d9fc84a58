package audit

import (
	"context"
	"fmt"
	"testing"
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
					e.Status = StatusOK
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
		e.Status = StatusOK
		e.Rows = 1
		if err := s.FinishAsync(e); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Sync(ctx); err != nil {
		b.Fatal(err)
	}
}
