package auditlog

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/wardenhq/warden/audit"
)

// An export is JSON lines. The first is the checkpoint every proof leads
// to:
//
//	{"type":"checkpoint","origin":O,"size":N,"root":B64,"time":T,"note":SIGNED}
//
// then one line per event and per recording chunk, in log order:
//
//	{"type":"event","leaf":I,"event":LEAF,"proof":[B64,...]}
//	{"type":"chunk","leaf":I,"chunk":LEAF,"data":B64,"proof":[B64,...]}
//
// LEAF is the leaf itself, byte for byte (an event's JSON, a chunk's
// record), so that its hash is computed from the line without encoding
// anything again; proof is the leaf's inclusion proof in the tree of the
// checkpoint (tlog.ProveRecord); data is the chunk's bytes.

// Types of export lines.
const (
	lineCheckpoint = "checkpoint"
	lineEvent      = "event"
	lineChunk      = "chunk"
)

// exportLine is a line of an export, of any type.
type exportLine struct {
	Type   string          `json:"type"`
	Origin string          `json:"origin,omitempty"`
	Size   int64           `json:"size,omitempty"`
	Root   *tlog.Hash      `json:"root,omitempty"`
	Time   *time.Time      `json:"time,omitempty"`
	Note   string          `json:"note,omitempty"`
	Leaf   *int64          `json:"leaf,omitempty"`
	Event  json.RawMessage `json:"event,omitempty"`
	Chunk  json.RawMessage `json:"chunk,omitempty"`
	Data   []byte          `json:"data,omitempty"`
	Proof  []tlog.Hash     `json:"proof,omitempty"`
}

// ExportWriter writes an export.
type ExportWriter struct {
	w   *bufio.Writer
	buf bytes.Buffer
}

// NewExportWriter returns an ExportWriter on w; call Flush at the end.
func NewExportWriter(w io.Writer) *ExportWriter {
	return &ExportWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

func (x *ExportWriter) write(l *exportLine) error {
	x.buf.Reset()
	enc := json.NewEncoder(&x.buf)
	if err := enc.Encode(l); err != nil {
		return fmt.Errorf("auditlog: export: %w", err)
	}
	_, err := x.w.Write(x.buf.Bytes())
	return err
}

// WriteCheckpoint writes the first line.
func (x *ExportWriter) WriteCheckpoint(cp Checkpoint) error {
	t := cp.Time.UTC()
	return x.write(&exportLine{Type: lineCheckpoint, Origin: cp.Origin, Size: cp.Size, Root: &cp.Root, Time: &t, Note: cp.Note})
}

// WriteEvent writes an event's line: leaf index i, the leaf, its proof.
func (x *ExportWriter) WriteEvent(i int64, leaf []byte, proof tlog.RecordProof) error {
	return x.write(&exportLine{Type: lineEvent, Leaf: &i, Event: leaf, Proof: proof})
}

// WriteChunk writes a chunk's line: leaf index i, the leaf, the chunk's
// bytes, its proof.
func (x *ExportWriter) WriteChunk(i int64, leaf, data []byte, proof tlog.RecordProof) error {
	return x.write(&exportLine{Type: lineChunk, Leaf: &i, Chunk: leaf, Data: data, Proof: proof})
}

// Flush writes what is buffered.
func (x *ExportWriter) Flush() error { return x.w.Flush() }

// ExportReport is the result of VerifyExport.
type ExportReport struct {
	OK         bool      `json:"ok"`
	Checkpoint *Head     `json:"checkpoint,omitempty"`
	Events     int       `json:"events"`
	Chunks     int       `json:"chunks"`
	Problems   []Problem `json:"problems"`
	Seconds    float64   `json:"seconds"`
}

// maxExportLine bounds a line: a chunk (at most audit.MaxRecordingChunk,
// in base64) and its proof, with room to spare.
const maxExportLine = 2*audit.MaxRecordingChunk + 64<<10

// VerifyExport checks an export without the store: the checkpoint's
// signature (by one of verifiers), and for every line that its leaf is in
// the checkpoint's tree (its proof leads to the signed root) and, for a
// chunk, that the data is the chunk the leaf describes. Problems are in
// the report; the error is for an export that cannot be read at all.
func VerifyExport(r io.Reader, verifiers note.Verifiers) (*ExportReport, error) {
	if verifiers == nil {
		return nil, errors.New("auditlog: verify an export: no verifier key")
	}
	start := time.Now()
	rep := &ExportReport{Problems: []Problem{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxExportLine)
	problem := func(kind string, leaf int64, key, format string, args ...any) {
		rep.Problems = append(rep.Problems, Problem{Kind: kind, Leaf: leaf, Key: key, Detail: fmt.Sprintf(format, args...)})
	}
	seen := map[int64]int{}
	var head Head
	for n := 1; sc.Scan(); n++ {
		var l exportLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("auditlog: export line %d: %w", n, err)
		}
		if n == 1 {
			if l.Type != lineCheckpoint {
				return nil, fmt.Errorf("auditlog: export line 1 is a %q line, not the checkpoint", l.Type)
			}
			h, err := OpenHead(l.Note, verifiers)
			if err != nil {
				return nil, fmt.Errorf("auditlog: export checkpoint: %w", err)
			}
			if h.Origin != l.Origin || h.Size != l.Size || l.Root == nil || h.Root != *l.Root {
				return nil, errors.New("auditlog: export checkpoint: its fields are not what its signed note says")
			}
			head = h
			rep.Checkpoint = &head
			continue
		}
		if l.Leaf == nil {
			return nil, fmt.Errorf("auditlog: export line %d: no leaf index", n)
		}
		i := *l.Leaf
		var leaf []byte
		key := ""
		switch l.Type {
		case lineEvent:
			leaf = l.Event
			var e audit.Event
			if err := json.Unmarshal(leaf, &e); err != nil {
				problem(ProblemChanged, i, "", "line %d: the event is not an audit event: %v", n, err)
				continue
			}
			key = e.ID
			rep.Events++
		case lineChunk:
			leaf = l.Chunk
			var c ChunkRecord
			if err := json.Unmarshal(leaf, &c); err != nil {
				problem(ProblemChanged, i, "", "line %d: the chunk record is not one: %v", n, err)
				continue
			}
			key = ChunkKey(c.Recording, c.Seq)
			sum := sha256.Sum256(l.Data)
			if c.Size != int64(len(l.Data)) || c.SHA256 != hex.EncodeToString(sum[:]) {
				problem(ProblemChanged, i, key, "line %d: the chunk's data is not the chunk its leaf describes", n)
			}
			rep.Chunks++
		default:
			return nil, fmt.Errorf("auditlog: export line %d: unknown type %q", n, l.Type)
		}
		if prev, ok := seen[i]; ok {
			problem(ProblemProof, i, key, "line %d: leaf %d is on line %d already", n, i, prev)
			continue
		}
		seen[i] = n
		if i < 0 || i >= head.Size {
			problem(ProblemProof, i, key, "line %d: leaf %d is not in the checkpoint's tree of %d leaves", n, i, head.Size)
			continue
		}
		if err := tlog.CheckRecord(l.Proof, head.Size, head.Root, i, LeafHash(leaf)); err != nil {
			problem(ProblemProof, i, key, "line %d (%s, leaf %d): its proof does not lead from its leaf to the checkpoint's root: the line was changed", n, key, i)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("auditlog: read export: %w", err)
	}
	if rep.Checkpoint == nil {
		return nil, errors.New("auditlog: the export is empty")
	}
	rep.OK = len(rep.Problems) == 0
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}
