package auditlog

import (
	"context"
	"io"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Store is a store that keeps an audit log (audit/sqlite does).
type Store interface {
	// Checkpoint signs and keeps a checkpoint of the log as it is now, if
	// it grew since the last one, after checking every head appended
	// since (a head not signed by this store's key, or not matching the
	// leaves, stops it with an error), and returns the latest checkpoint.
	Checkpoint(ctx context.Context) (Checkpoint, error)

	// VerifyLog recomputes the log from its leaves, checks every
	// checkpoint (and the heads after the last) against it and their
	// signatures, and every event and recording chunk against its latest
	// leaf. Problems found are in the report; the error is for a log
	// that could not be read.
	VerifyLog(ctx context.Context, o VerifyOptions) (*Report, error)

	// ExportLog writes, as JSON lines (ExportWriter), a checkpoint made
	// now and the events (from o.Since) and their recordings' chunks,
	// each with its leaf index and inclusion proof.
	ExportLog(ctx context.Context, w io.Writer, o ExportOptions) (ExportSummary, error)
}

// Checkpoint is a signed head a store keeps.
type Checkpoint struct {
	Head
	Note string    `json:"note"` // the signed note
	Time time.Time `json:"time"` // when it was made
}

// VerifyOptions say what VerifyLog checks signatures with.
type VerifyOptions struct {
	// Verifiers are the keys heads may be signed with; nil: signatures
	// are not checked (the report says so).
	Verifiers note.Verifiers
	// Anchors are checkpoint notes kept outside the store (a published
	// checkpoint, an export's): the log must extend each. They catch a
	// log cut short together with its own checkpoints.
	Anchors []string
}

// ExportOptions select what ExportLog writes.
type ExportOptions struct {
	Since time.Time // events that started at or after Since; zero: all
}

// ExportSummary says what ExportLog wrote.
type ExportSummary struct {
	Checkpoint Checkpoint
	Events     int
	Chunks     int
}

// Kinds of Problem.
const (
	// ProblemChanged: an event or chunk is not what its latest leaf says.
	ProblemChanged = "changed"
	// ProblemRemoved: a leaf's event or chunk is not in the store.
	ProblemRemoved = "removed"
	// ProblemUnlogged: an event or chunk is in the store but in no leaf:
	// written behind Warden's back.
	ProblemUnlogged = "unlogged"
	// ProblemLog: the leaves do not lead to a signed head or checkpoint:
	// leaves were changed, removed, reordered or inserted.
	ProblemLog = "log"
	// ProblemSignature: a head or checkpoint is not signed by a known key.
	ProblemSignature = "signature"
	// ProblemTruncated: a checkpoint covers more leaves than the log has.
	ProblemTruncated = "truncated"
	// ProblemProof: an export's line does not prove its leaf.
	ProblemProof = "proof"
)

// Problem is one thing verification found wrong.
type Problem struct {
	Kind   string `json:"kind"`
	Leaf   int64  `json:"leaf"`          // the leaf concerned; -1 if none
	Key    string `json:"key,omitempty"` // an event ID, or recording ID/seq
	Detail string `json:"detail"`
}

// Report is the result of VerifyLog.
type Report struct {
	OK     bool   `json:"ok"`
	Origin string `json:"origin"`
	Leaves int64  `json:"leaves"`
	Events int    `json:"events"`
	Chunks int    `json:"chunks"`
	// Revisions counts leaves a later leaf of the same event superseded:
	// intents since completed, outcomes since replaced.
	Revisions   int64 `json:"revisions"`
	Checkpoints int   `json:"checkpoints"`
	// Latest is the last checkpoint; Uncheckpointed the leaves after it,
	// covered by the signed heads of their batches until the next.
	Latest         *Checkpoint `json:"latest_checkpoint,omitempty"`
	Uncheckpointed int64       `json:"uncheckpointed"`
	// Signatures is "checked", or why not.
	Signatures string    `json:"signatures"`
	Problems   []Problem `json:"problems"`
	Seconds    float64   `json:"seconds"`
}
