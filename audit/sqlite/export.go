package sqlite

import (
	"context"
	"fmt"
	"io"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/audit/auditlog"
)

// ExportLog writes a checkpoint made now, then the events that started at
// or after o.Since and the chunks of their recordings, each with its leaf
// index and its inclusion proof in the checkpoint's tree (see
// auditlog.ExportWriter), in no particular order. An event changed after
// the checkpoint is left out (its leaf is not in it); one that does not
// match its leaf fails the export: verify the store first.
func (s *Store) ExportLog(ctx context.Context, w io.Writer, o auditlog.ExportOptions) (auditlog.ExportSummary, error) {
	var sum auditlog.ExportSummary
	cp, err := s.Checkpoint(ctx)
	if err != nil {
		return sum, fmt.Errorf("audit log: export: %w", err)
	}
	sum.Checkpoint = cp
	tx, done, err := s.snapshot(ctx)
	if err != nil {
		return sum, fmt.Errorf("audit log: export: %w", err)
	}
	defer done()

	// Every hash of the tree, for the proofs; the latest leaf of each key.
	var stored hashStorage
	latest := map[string]int64{}
	var n int64
	batches, err := sqlLogDB{tx}.batchesFrom(ctx, 0)
	if err != nil {
		return sum, fmt.Errorf("audit log: export: %w", err)
	}
	for i := range batches {
		b := &batches[i]
		if err := b.check(); err != nil {
			return sum, err
		}
		if b.first != n {
			return sum, fmt.Errorf("audit log: export: the log has a gap at leaf %d; run warden audit verify", n)
		}
		for k, key := range strings.Split(b.keys, "\n") {
			latest[key] = n
			if n < cp.Size {
				hs, err := tlog.StoredHashesForRecordHash(n, b.hash(int64(k)), stored)
				if err != nil {
					return sum, fmt.Errorf("audit log: export: %w", err)
				}
				stored = append(stored, hs...)
			}
			n++
		}
	}
	if root, err := tlog.TreeHash(cp.Size, stored); err != nil || root != cp.Root {
		return sum, fmt.Errorf("audit log: export: the log does not match its checkpoint of %d leaves; run warden audit verify", cp.Size)
	}

	x := auditlog.NewExportWriter(w)
	if err := x.WriteCheckpoint(cp); err != nil {
		return sum, err
	}
	// proved returns the proof of the latest leaf of key if the
	// checkpoint holds it and it is leaf's.
	proved := func(key string, leaf []byte) (int64, tlog.RecordProof, bool, error) {
		i, ok := latest[key]
		if !ok || i >= cp.Size {
			return 0, nil, false, nil // logged after the checkpoint
		}
		if h, _ := stored.hashAt(i); h != auditlog.LeafHash(leaf) {
			return 0, nil, false, fmt.Errorf("audit log: export: %s does not match leaf %d of the log; run warden audit verify", describeKey(key), i)
		}
		p, err := tlog.ProveRecord(cp.Size, i, stored)
		if err != nil {
			return 0, nil, false, fmt.Errorf("audit log: export: prove leaf %d: %w", i, err)
		}
		return i, p, true, nil
	}
	from := ""
	if !o.Since.IsZero() {
		from = sinceID(o.Since)
	}
	var buf []byte
	err = eachEvent(ctx, tx, from, func(e *audit.Event) error {
		if !o.Since.IsZero() && e.Time.Before(o.Since) {
			return nil
		}
		var err error
		if buf, err = eventLeaf(buf[:0], e); err != nil {
			return fmt.Errorf("event %s: %w", e.ID, err)
		}
		i, proof, ok, err := proved(e.ID, buf)
		if err != nil || !ok {
			return err
		}
		sum.Events++
		return x.WriteEvent(i, buf, proof)
	})
	if err != nil {
		return sum, err
	}
	err = eachChunk(ctx, tx, from, func(id string, seq int, chunk []byte) error {
		leaf := auditlog.ChunkLeaf(id, seq, chunk)
		i, proof, ok, err := proved(auditlog.ChunkKey(id, seq), leaf)
		if err != nil || !ok {
			return err
		}
		sum.Chunks++
		return x.WriteChunk(i, leaf, chunk, proof)
	})
	if err != nil {
		return sum, err
	}
	return sum, x.Flush()
}

// hashStorage holds every stored hash of a tree (tlog's layout), for
// proofs.
type hashStorage []tlog.Hash

func (s hashStorage) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(s)) {
			return nil, fmt.Errorf("hash %d not stored", x)
		}
		out[i] = s[x]
	}
	return out, nil
}

// hashAt returns the hash of leaf i.
func (s hashStorage) hashAt(i int64) (tlog.Hash, error) {
	h, err := s.ReadHashes([]int64{tlog.StoredHashIndex(0, i)})
	if err != nil {
		return tlog.Hash{}, err
	}
	return h[0], nil
}
