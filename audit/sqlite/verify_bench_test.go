package sqlite

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/audit/auditlog"
)

// BenchmarkVerifyLog verifies a store of WARDEN_VERIFY_EVENTS events
// (default 1,000,000), as a busy Warden writes them: nine in ten proxied
// statements, in runs of their sessions, one in ten an MCP call stored on
// its own, a checkpoint every 100,000 leaves; signed. It reports the
// seconds one verification takes, and the CPU seconds (on a shared
// machine, the measure that does not depend on the neighbours).
//
//	go test ./audit/sqlite -run '^$' -bench VerifyLog -benchtime 1x
func BenchmarkVerifyLog(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("WARDEN_VERIFY_EVENTS")); err == nil && v > 0 {
		n = v
	}
	signer := newSigner(b)
	s, err := OpenWith(testContext(b), b.TempDir()+"/audit.db", Options{Signer: signer, CheckpointEvery: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	built := time.Now()
	batch := make([]*op, 0, maxBatch)
	flush := func() {
		s.commit(batch)
		for i, o := range batch {
			if err := <-o.done; err != nil {
				b.Fatalf("event %d: %v", i, err)
			}
		}
		batch = batch[:0]
	}
	for i := range n {
		e := proxyEvent(i%8, int64(i))
		if i%10 == 9 {
			e.Session, e.Transport, e.Tool = "mcp-"+strconv.Itoa(i), audit.TransportHTTP, "run_query"
		}
		s.stamp(e)
		e.Status = audit.StatusRunning
		o := &op{kind: opInsert, async: true, journaled: true, done: make(chan error, 1)}
		if _, err := encodeIntent(nil, e, &o.row); err != nil {
			b.Fatal(err)
		}
		e.Status, e.Rows, e.Duration = audit.StatusOK, 1, 180*time.Microsecond
		applyOutcome(&o.row, new(outcomeRow(e)))
		batch = append(batch, o)
		if len(batch) == maxBatch {
			flush()
		}
		if (i+1)%100_000 == 0 {
			flush()
			if _, err := s.Checkpoint(testContext(b)); err != nil {
				b.Fatal(err)
			}
		}
	}
	flush()
	b.Logf("built a store of %d events in %s", n, time.Since(built).Round(time.Second))
	b.ResetTimer()
	for range b.N {
		cpu0 := processCPU(b)
		rep, err := s.VerifyLog(testContext(b), auditlog.VerifyOptions{Verifiers: verifiersOf(signer)})
		if err != nil {
			b.Fatal(err)
		}
		if !rep.OK || rep.Events != n {
			b.Fatalf("report: %d events, problems %+v", rep.Events, rep.Problems[:min(3, len(rep.Problems))])
		}
		b.ReportMetric(rep.Seconds, "s/verify")
		b.ReportMetric((processCPU(b) - cpu0).Seconds(), "cpu-s/verify")
	}
}
