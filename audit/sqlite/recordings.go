package sqlite

import (
	"bytes"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/audit/auditlog"
)

// Recordings are written through the writer (writer.go), as events are:
// each chunk is a leaf of the audit log, appended in the transaction that
// stores it, so that a chunk is never stored without its leaf nor logged
// without being stored. A chunk is up to a mebibyte and comes at most
// every flush interval of a recorder (200 ms); the writer commits it with
// the events of its batch, at once (AppendRecording waits, so the writer
// does not linger for it), and AppendRecording returns once that
// transaction committed (WAL, synchronous=NORMAL).

// appendChunkSQL stores a chunk if it is the next one of its recording:
// no row is inserted when chunk seq-1 is missing; a seq already there
// fails the primary key.
const appendChunkSQL = `INSERT INTO recording_chunks (id, seq, size, chunk)
SELECT ?1, ?2, length(?3), ?3
WHERE ?2 = 0 OR EXISTS (SELECT 1 FROM recording_chunks WHERE id = ?1 AND seq = ?2 - 1)`

// AppendRecording stores chunk seq of recording id once it is committed
// (see audit.Recordings).
func (s *Store) AppendRecording(ctx context.Context, id string, seq int, chunk []byte) error {
	switch {
	case !audit.IsEventID(id):
		return fmt.Errorf("audit: append recording %q: not an event ID", id)
	case seq < 0:
		return fmt.Errorf("audit: append recording %s: chunk %d: sequence numbers start at 0", id, seq)
	case len(chunk) == 0:
		return fmt.Errorf("audit: append recording %s: chunk %d is empty", id, seq)
	case len(chunk) > audit.MaxRecordingChunk:
		return fmt.Errorf("audit: append recording %s: chunk %d is %d bytes, more than %d", id, seq, len(chunk), audit.MaxRecordingChunk)
	}
	// The writer may still hold the op after a cancelled ctx returned:
	// it writes a copy, and the caller may reuse chunk.
	o := &op{kind: opChunk, row: row{id: id}, seq: seq, chunk: bytes.Clone(chunk)}
	if err := s.send(ctx, o); err != nil {
		return err
	}
	return s.wait(ctx, o)
}

// readChunks is how many chunks one read of a recording fetches.
const readChunks = 8

// Recording returns the chunks of recording id in seq order (see
// audit.Recordings). Each read fetches the next few chunks; a recording
// with a chunk missing between two stored ones (removed from the file by
// hand) reads up to the gap, then fails.
func (s *Store) Recording(ctx context.Context, id string) (io.Reader, error) {
	r := &chunkReader{ctx: ctx, s: s, id: id}
	if err := r.fill(); err != nil {
		return nil, err
	}
	if r.next == 0 {
		return nil, fmt.Errorf("%w: no recording %s", audit.ErrNotFound, id)
	}
	return r, nil
}

// chunkReader reads a recording, a few chunks at a time, so that reading
// a long one holds neither all of it nor a read transaction.
type chunkReader struct {
	ctx  context.Context // Recording's, for every read
	s    *Store
	id   string
	next int    // the seq to fetch next
	buf  []byte // fetched, not yet read
	done bool   // no chunk after next
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.done {
			return 0, io.EOF
		}
		if err := r.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// fill fetches the next chunks into buf.
func (r *chunkReader) fill() error {
	rows, err := r.s.readDB.QueryContext(r.ctx, `SELECT seq, chunk FROM recording_chunks
WHERE id = ? AND seq >= ? ORDER BY seq LIMIT ?`, r.id, r.next, readChunks)
	if err != nil {
		return fmt.Errorf("audit: read recording %s: %w", r.id, err)
	}
	defer rows.Close()
	n := 0
	r.buf = r.buf[:0]
	for rows.Next() {
		var seq int
		var chunk []byte
		if err := rows.Scan(&seq, &chunk); err != nil {
			return fmt.Errorf("audit: read recording %s: %w", r.id, err)
		}
		if seq != r.next {
			return fmt.Errorf("audit: read recording %s: chunk %d is missing (chunk %d is stored)", r.id, r.next, seq)
		}
		r.buf = append(r.buf, chunk...)
		r.next++
		n++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit: read recording %s: %w", r.id, err)
	}
	r.done = n < readChunks
	return nil
}

// SessionRecordings lists the recordings of session's events, oldest
// first (see audit.Recordings). It reads the session's events (both
// tables, as List does), then the chunks table over their ID range, whose
// primary key starts with the ID; recordings of other sessions' events in
// that range are left out.
func (s *Store) SessionRecordings(ctx context.Context, session string) ([]audit.RecordingInfo, error) {
	ids := make(map[string]bool)
	var lo, hi string
	before := ""
	for {
		page, err := s.List(ctx, audit.Filter{Session: session, Limit: audit.MaxListLimit, Before: before})
		if err != nil {
			return nil, fmt.Errorf("audit: session recordings %s: %w", session, err)
		}
		for _, e := range page {
			ids[e.ID] = true
			if lo == "" || e.ID < lo {
				lo = e.ID
			}
			hi = max(hi, e.ID)
		}
		if len(page) < audit.MaxListLimit {
			break
		}
		before = page[len(page)-1].ID
	}
	out := []audit.RecordingInfo{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.readDB.QueryContext(ctx, `SELECT id, count(*), sum(size) FROM recording_chunks
WHERE id >= ? AND id <= ? GROUP BY id ORDER BY id`, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("audit: session recordings %s: %w", session, err)
	}
	defer rows.Close()
	for rows.Next() {
		var ri audit.RecordingInfo
		if err := rows.Scan(&ri.ID, &ri.Chunks, &ri.Size); err != nil {
			return nil, fmt.Errorf("audit: session recordings %s: %w", session, err)
		}
		if ids[ri.ID] {
			out = append(out, ri)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: session recordings %s: %w", session, err)
	}
	return out, nil
}

// errChunkGap: a chunk whose predecessor is not stored.
var errChunkGap = errors.New("chunks are appended in order")

// appendChunk runs an opChunk and adds the chunk's leaf.
func (w *writeStmts) appendChunk(ctx context.Context, o *op) error {
	id, seq := o.row.id, o.seq
	res, err := w.chunkStmt.(driver.StmtExecContext).ExecContext(ctx, []driver.NamedValue{
		{Ordinal: 1, Value: id}, {Ordinal: 2, Value: int64(seq)}, {Ordinal: 3, Value: o.chunk}})
	var serr *sqlite.Error
	if errors.As(err, &serr) && serr.Code()&0xff == sqlite3.SQLITE_CONSTRAINT {
		return fmt.Errorf("%w: recording %s chunk %d", audit.ErrChunkExists, id, seq)
	}
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("audit: append recording %s chunk %d: chunk %d is not stored (%w)", id, seq, seq-1, errChunkGap)
	}
	w.leaves = append(w.leaves, leaf{key: auditlog.ChunkKey(id, seq), hash: auditlog.LeafHash(auditlog.ChunkLeaf(id, seq, o.chunk))})
	return nil
}
