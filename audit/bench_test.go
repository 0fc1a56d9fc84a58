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
