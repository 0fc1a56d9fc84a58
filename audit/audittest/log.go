package audittest

import (
	"bytes"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/audit/auditlog"
)

// LogStore is a store that keeps an audit log.
type LogStore interface {
	audit.Store
	auditlog.Store
}

// RunLog runs the contract of a store's audit log: newStore returns a new,
// empty store whose log is signed by signer. Whatever is written through
// the store's interfaces (refused calls, intents and outcomes, outcomes
// replacing outcomes, recordings) verifies, with the revisions counted; a
// checkpoint covers it; an export of it verifies without the store. The
// tampering a backend must show is the backend's to test: it needs the
// backend's files.
func RunLog(t *testing.T, signer *auditlog.Signer, newStore func(t *testing.T) LogStore) {
	s := newStore(t)
	ctx := testContext(t)
	verifiers := note.VerifierList(signer.Verifier)

	refused := sampleEvent()
	refused.Status, refused.Decision = audit.StatusDenied, audit.DecisionDeny
	if err := s.Record(ctx, refused); err != nil {
		t.Fatal(err)
	}
	async := sampleEvent()
	in := s.BeginAsync(async)
	if err := in.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	async.Status, async.Rows = audit.StatusOK, 3
	if err := in.Complete(async); err != nil {
		t.Fatal(err)
	}
	held := sampleEvent()
	if err := s.Begin(ctx, held); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil { // the intent, then its outcomes: three leaves
		t.Fatal(err)
	}
	if err := s.Finish(ctx, &audit.Event{ID: held.ID, Status: audit.StatusFailed, Error: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, &audit.Event{ID: held.ID, Status: audit.StatusOK, Approval: "appr-1"}); err != nil {
		t.Fatal(err)
	}
	shell := sampleEvent()
	if err := s.Begin(ctx, shell); err != nil {
		t.Fatal(err)
	}
	appendChunks(t, s, shell.ID, 0, 3)
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}

	cp, err := s.Checkpoint(ctx)
	if err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	if _, err := auditlog.OpenHead(cp.Note, verifiers); err != nil {
		t.Errorf("the checkpoint's note: %v", err)
	}
	rep, err := s.VerifyLog(ctx, auditlog.VerifyOptions{Verifiers: verifiers})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Events != 4 || rep.Chunks != 3 || rep.Revisions < 2 || rep.Latest == nil || rep.Latest.Size != rep.Leaves {
		t.Errorf("VerifyLog = %+v", rep)
	}

	var exp bytes.Buffer
	sum, err := s.ExportLog(ctx, &exp, auditlog.ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Events != 4 || sum.Chunks != 3 {
		t.Errorf("ExportLog = %+v", sum)
	}
	xr, err := auditlog.VerifyExport(&exp, verifiers)
	if err != nil || !xr.OK || xr.Events != 4 || xr.Chunks != 3 {
		t.Errorf("VerifyExport = %+v, %v", xr, err)
	}
}
