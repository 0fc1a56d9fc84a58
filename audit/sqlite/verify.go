package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/audit/auditlog"
)

// VerifyLog recomputes the audit log and checks the store against it (see
// auditlog.Store). It reads one snapshot of the file (a read transaction
// of its own, which writers do not wait for), in one pass over the log
// and one over the events and chunks:
//
//   - the tree, leaf by leaf, against every checkpoint's root, and each
//     checkpoint's signature; a checkpoint the leaves do not reach means
//     the log was cut short;
//   - after the last checkpoint, each batch's head (signature and root):
//     a batch appended without the key has none that holds;
//   - where a checkpoint does not match, the heads of the batches before
//     it, to find the first batch that changed;
//   - every event and chunk against the latest leaf of its key: changed,
//     in no leaf (written behind Warden's back), or gone (a leaf of it
//     and no event).
func (s *Store) VerifyLog(ctx context.Context, o auditlog.VerifyOptions) (*auditlog.Report, error) {
	start := time.Now()
	tx, done, err := s.snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit log: verify: %w", err)
	}
	defer done()
	v := &verifier{rep: &auditlog.Report{Problems: []auditlog.Problem{}}, verifiers: o.Verifiers, latest: map[string]int64{}}
	v.rep.Signatures = "checked"
	if o.Verifiers == nil {
		v.rep.Signatures = "not checked: no key (configure audit.signing_key_file or pass --key)"
	}
	if err := tx.QueryRowContext(ctx, `SELECT origin FROM log_origin`).Scan(&v.rep.Origin); err != nil {
		return nil, fmt.Errorf("audit log: verify: origin: %w", err)
	}
	if err := v.readCheckpoints(ctx, tx); err != nil {
		return nil, fmt.Errorf("audit log: verify: %w", err)
	}
	if err := v.anchors(o.Anchors); err != nil {
		return nil, err
	}
	if err := v.readLog(ctx, tx); err != nil {
		return nil, fmt.Errorf("audit log: verify: %w", err)
	}
	if err := v.readStore(ctx, tx); err != nil {
		return nil, fmt.Errorf("audit log: verify: %w", err)
	}
	v.finish()
	v.rep.Seconds = time.Since(start).Seconds()
	return v.rep, nil
}

// snapshot begins a read transaction on a connection of its own: the
// pools' transactions begin IMMEDIATE, which would hold up the writer for
// as long as verification takes.
func (s *Store) snapshot(ctx context.Context) (*sql.Tx, func(), error) {
	db, err := sql.Open("sqlite", s.path+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)&_txlock=deferred")
	if err != nil {
		return nil, nil, err
	}
	db.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	// A read makes the snapshot: the transaction sees nothing committed
	// after it.
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM log_origin`).Scan(&n); err != nil {
		tx.Rollback()
		db.Close()
		return nil, nil, err
	}
	return tx, func() { tx.Rollback(); db.Close() }, nil
}

// verifier is one verification under way.
type verifier struct {
	rep         *auditlog.Report
	verifiers   note.Verifiers // nil: signatures not checked
	checkpoints []verifiedCheckpoint
	anchorsAt   map[int64][]anchor
	tree        auditlog.Frontier
	hashes      []tlog.Hash      // every leaf's hash, by index
	latest      map[string]int64 // the latest leaf of each key
	signedSeen  bool
	lastCP      int64 // the size of the last checkpoint; -1 if none

	// Since the last checkpoint that matched: where the tree was, and the
	// batches after it, to find which one changed when the next does not
	// match.
	good    auditlog.Frontier
	pending []storedBatch
}

func (v *verifier) verifiersNil() bool            { return v.verifiers == nil }
func (v *verifier) noteVerifiers() note.Verifiers { return v.verifiers }

type verifiedCheckpoint struct {
	storedCheckpoint
	head auditlog.Head
	ok   bool // signature (if checked) and origin hold
}

type anchor struct {
	head auditlog.Head
	i    int
}

func (v *verifier) problem(kind string, leaf int64, key, format string, args ...any) {
	v.rep.Problems = append(v.rep.Problems, auditlog.Problem{Kind: kind, Leaf: leaf, Key: key, Detail: fmt.Sprintf(format, args...)})
}

// openHead reads a head or checkpoint note, checking its signature when
// there are verifiers: one without a signature is accepted only before
// the first signed checkpoint (the log was unsigned until a key was
// configured).
func (v *verifier) openHead(msg string, what string, leaf int64) (auditlog.Head, bool) {
	if v.verifiersNil() {
		h, err := auditlog.OpenHead(msg, nil)
		if err != nil {
			v.problem(auditlog.ProblemLog, leaf, "", "%s: %v", what, err)
			return h, false
		}
		return h, v.checkOrigin(h, what, leaf)
	}
	h, err := auditlog.OpenHead(msg, v.noteVerifiers())
	if errors.Is(err, auditlog.ErrUnsigned) && !v.signedSeen {
		h, err = auditlog.OpenHead(msg, nil)
	}
	if err != nil {
		v.problem(auditlog.ProblemSignature, leaf, "", "%s: %v", what, err)
		return h, false
	}
	return h, v.checkOrigin(h, what, leaf)
}

func (v *verifier) checkOrigin(h auditlog.Head, what string, leaf int64) bool {
	if h.Origin != v.rep.Origin {
		v.problem(auditlog.ProblemLog, leaf, "", "%s is of another log (%s, this is %s)", what, h.Origin, v.rep.Origin)
		return false
	}
	return true
}

// readCheckpoints reads and checks every checkpoint, in size order.
func (v *verifier) readCheckpoints(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT `+checkpointColumns+` FROM log_checkpoints ORDER BY size`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		cp, err := scanCheckpoint(rows.Scan)
		if err != nil {
			return err
		}
		vc := verifiedCheckpoint{storedCheckpoint: cp}
		what := fmt.Sprintf("checkpoint of %d leaves", cp.size)
		vc.head, vc.ok = v.openHead(cp.note, what, cp.size)
		if vc.ok && vc.head.Size != cp.size {
			v.problem(auditlog.ProblemLog, cp.size, "", "%s: its note says %d leaves", what, vc.head.Size)
			vc.ok = false
		}
		if vc.ok && !v.verifiersNil() && strings.Contains(cp.note, "\n\n") {
			v.signedSeen = true
		}
		v.checkpoints = append(v.checkpoints, vc)
	}
	v.rep.Checkpoints = len(v.checkpoints)
	v.lastCP = -1
	if n := len(v.checkpoints); n > 0 {
		last := v.checkpoints[n-1]
		v.lastCP = last.size
		v.rep.Latest = &auditlog.Checkpoint{Head: last.head, Note: last.note, Time: last.time}
	}
	return rows.Err()
}

// anchors reads checkpoints kept outside the store; the log must extend
// each.
func (v *verifier) anchors(notes []string) error {
	v.anchorsAt = map[int64][]anchor{}
	for i, msg := range notes {
		var (
			h   auditlog.Head
			err error
		)
		if v.verifiersNil() {
			h, err = auditlog.OpenHead(msg, nil)
		} else {
			h, err = auditlog.OpenHead(msg, v.noteVerifiers())
		}
		if err != nil {
			return fmt.Errorf("audit log: checkpoint %d given: %w", i+1, err)
		}
		if h.Origin != v.rep.Origin {
			v.problem(auditlog.ProblemLog, h.Size, "", "the checkpoint given (%d leaves) is of another log (%s, this is %s)", h.Size, h.Origin, v.rep.Origin)
			continue
		}
		v.anchorsAt[h.Size] = append(v.anchorsAt[h.Size], anchor{head: h, i: i})
	}
	return nil
}

// readLog reads the batches in order and recomputes the tree.
func (v *verifier) readLog(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT first, keys, hashes, head FROM log_batches ORDER BY first`)
	if err != nil {
		return err
	}
	defer rows.Close()
	next := 0 // the next checkpoint to reach
	for rows.Next() {
		var b storedBatch
		if err := rows.Scan(&b.first, &b.keys, &b.hashes, &b.head); err != nil {
			return err
		}
		if err := b.check(); err != nil {
			v.problem(auditlog.ProblemLog, b.first, "", "%v", err)
			continue
		}
		size := v.tree.Size()
		switch {
		case b.first > size:
			v.problem(auditlog.ProblemLog, size, "", "leaves %d to %d are missing from the log (removed)", size, b.first-1)
		case b.first < size:
			v.problem(auditlog.ProblemLog, b.first, "", "a batch at leaf %d overlaps the one before (leaves inserted)", b.first)
		}
		keys := strings.Split(b.keys, "\n")
		for k := range b.count() {
			h := b.hash(k)
			i := v.tree.Size()
			v.tree.Append(h)
			v.hashes = append(v.hashes, h)
			key := keys[k]
			if _, ok := v.latest[key]; ok {
				v.rep.Revisions++
			}
			v.latest[key] = i
		}
		size = v.tree.Size()
		if b.first+b.count() != size {
			b.first = size - b.count() // where it went, for the heads below
		}
		v.pending = append(v.pending, b)
		if v.lastCP < 0 || size > v.lastCP {
			// After the last checkpoint, each head stands for the log.
			v.checkHead(&b, v.tree.Root())
		}
		for as := v.anchorsAt[size]; len(as) > 0; as = as[1:] {
			if as[0].head.Root != v.tree.Root() {
				v.problem(auditlog.ProblemLog, size, "", "the log of %d leaves does not match the checkpoint given (its leaves were changed, removed, reordered or inserted)", size)
			}
			delete(v.anchorsAt, size)
		}
		for next < len(v.checkpoints) && v.checkpoints[next].size <= size {
			v.reach(&v.checkpoints[next], size)
			next++
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	v.rep.Leaves = v.tree.Size()
	for ; next < len(v.checkpoints); next++ {
		cp := v.checkpoints[next]
		v.problem(auditlog.ProblemTruncated, cp.size, "", "checkpoint of %d leaves, but the log has %d: leaves were removed from its end", cp.size, v.tree.Size())
	}
	for size := range v.anchorsAt {
		if size > v.tree.Size() {
			v.problem(auditlog.ProblemTruncated, size, "", "the checkpoint given has %d leaves, but the log has %d: leaves were removed from its end", size, v.tree.Size())
		} else {
			v.problem(auditlog.ProblemLog, size, "", "the checkpoint given (%d leaves) is not at a batch's end of this log", size)
		}
	}
	if v.lastCP >= 0 {
		v.rep.Uncheckpointed = max(v.tree.Size()-v.lastCP, 0)
	} else {
		v.rep.Uncheckpointed = v.tree.Size()
	}
	return nil
}

// checkHead checks a batch's head against the tree after it (root).
func (v *verifier) checkHead(b *storedBatch, root tlog.Hash) bool {
	end := b.first + b.count()
	key := strings.SplitN(b.keys, "\n", 2)[0]
	h, ok := v.openHead(b.head, fmt.Sprintf("the head of the batch of leaves %d to %d (%s, ...)", b.first, end-1, key), b.first)
	if !ok {
		return false
	}
	if h.Size != end || h.Root != root {
		v.problem(auditlog.ProblemLog, b.first, key, "the leaves %d to %d (%s, ...) are not those their signed head was written for: changed, removed, reordered or inserted", b.first, end-1, key)
		return false
	}
	return true
}

// reach checks checkpoint cp once the tree has size leaves.
func (v *verifier) reach(cp *verifiedCheckpoint, size int64) {
	switch {
	case cp.size != size:
		v.problem(auditlog.ProblemLog, cp.size, "", "checkpoint of %d leaves is not at a batch's end (the batches were changed)", cp.size)
	case !cp.ok:
		// Its problem is reported already.
	case cp.head.Root != v.tree.Root():
		v.locate(cp)
	default:
		v.good, v.pending = v.tree.Clone(), v.pending[:0]
		return
	}
	v.good, v.pending = v.tree.Clone(), v.pending[:0]
}

// locate reports which batch since the last matching checkpoint made cp
// not match: the first whose signed head does not match the leaves.
func (v *verifier) locate(cp *verifiedCheckpoint) {
	tree := v.good.Clone()
	for i := range v.pending {
		b := &v.pending[i]
		for k := range b.count() {
			tree.Append(b.hash(k))
		}
		if !v.checkHead(b, tree.Root()) {
			return
		}
	}
	v.problem(auditlog.ProblemLog, cp.size, "", "the log of %d leaves does not match its checkpoint (its leaves were changed, removed, reordered or inserted)", cp.size)
}

// readStore checks every event and chunk against its latest leaf.
func (v *verifier) readStore(ctx context.Context, tx *sql.Tx) error {
	seen := make([]bool, len(v.hashes))
	check := func(key string, hash tlog.Hash) {
		i, ok := v.latest[key]
		switch {
		case !ok:
			v.problem(auditlog.ProblemUnlogged, -1, key, "%s is in the store but in no leaf of the log: written behind Warden's back", describeKey(key))
		case seen[i]:
			v.problem(auditlog.ProblemUnlogged, i, key, "%s is in the store twice", describeKey(key))
		case v.hashes[i] != hash:
			seen[i] = true
			v.problem(auditlog.ProblemChanged, i, key, "%s is not what leaf %d of the log says: changed", describeKey(key), i)
		default:
			seen[i] = true
		}
	}
	var buf []byte
	err := eachEvent(ctx, tx, "", func(e *audit.Event) error {
		var err error
		if buf, err = eventLeaf(buf[:0], e); err != nil {
			return fmt.Errorf("event %s: %w", e.ID, err)
		}
		v.rep.Events++
		check(e.ID, auditlog.LeafHash(buf))
		return nil
	})
	if err != nil {
		return err
	}
	err = eachChunk(ctx, tx, "", func(id string, seq int, chunk []byte) error {
		v.rep.Chunks++
		check(auditlog.ChunkKey(id, seq), auditlog.LeafHash(auditlog.ChunkLeaf(id, seq, chunk)))
		return nil
	})
	if err != nil {
		return err
	}
	for key, i := range v.latest {
		if !seen[i] {
			v.problem(auditlog.ProblemRemoved, i, key, "leaf %d of the log is %s, which is not in the store: removed", i, describeKey(key))
		}
	}
	return nil
}

// describeKey names what a leaf's key is.
func describeKey(key string) string {
	if id, seq := auditlog.SplitKey(key); seq >= 0 {
		return fmt.Sprintf("chunk %d of recording %s", seq, id)
	}
	return "event " + key
}

// finish orders the problems: the log's own first, then by leaf (the
// first event changed, removed or written behind Warden's back first).
func (v *verifier) finish() {
	rank := func(kind string) int {
		switch kind {
		case auditlog.ProblemSignature, auditlog.ProblemLog, auditlog.ProblemTruncated:
			return 0
		}
		return 1
	}
	slices.SortStableFunc(v.rep.Problems, func(a, b auditlog.Problem) int {
		return cmp.Or(cmp.Compare(rank(a.Kind), rank(b.Kind)), cmp.Compare(leafOrder(a), leafOrder(b)), strings.Compare(a.Key, b.Key))
	})
	v.rep.OK = len(v.rep.Problems) == 0
}

// leafOrder sorts a problem without a leaf (an event in none) after those
// with one.
func leafOrder(p auditlog.Problem) int64 {
	if p.Leaf < 0 {
		return 1 << 62
	}
	return p.Leaf
}
