package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/audit/auditlog"
	"github.com/wardenhq/warden/internal/jsonenc"
)

// The audit log (migration 9, package auditlog). Every transaction that
// writes events or recording chunks (the writer's batches, a replay of a
// journal, the closing of interrupted events) appends their leaves to
// table log_batches, in that transaction, as one row with a head of the
// tree after it, signed with the store's key: so a leaf is in the log
// exactly when what it describes is committed, a crash loses neither, and
// nothing can be appended without the key. The writer keeps the tree's
// compact range (auditlog.Frontier) to extend it; another process sharing
// the file appends too, and a transaction first takes in the batches it
// has not seen (catchUp).
//
// The checkpointer (checkpoint.go) keeps a signed checkpoint now and
// then, after checking the heads appended since; verify.go recomputes
// the whole; export.go writes what a verifier without the store checks.

// leaf is one leaf of a batch being appended: what it is (an event ID, or
// auditlog.ChunkKey) and its hash.
type leaf struct {
	key  string
	hash tlog.Hash
}

// storedBatch is a row of log_batches.
type storedBatch struct {
	first  int64
	keys   string
	hashes []byte
	head   string
}

// count is the number of leaves in b.
func (b *storedBatch) count() int64 { return int64(len(b.hashes) / tlog.HashSize) }

// hash returns b's leaf k.
func (b *storedBatch) hash(k int64) (h tlog.Hash) {
	copy(h[:], b.hashes[k*tlog.HashSize:])
	return h
}

// check reports a batch whose columns do not agree.
func (b *storedBatch) check() error {
	if len(b.hashes)%tlog.HashSize != 0 || len(b.hashes) == 0 {
		return fmt.Errorf("audit log: batch at leaf %d: %d bytes of hashes", b.first, len(b.hashes))
	}
	if n := strings.Count(b.keys, "\n") + 1; int64(n) != b.count() {
		return fmt.Errorf("audit log: batch at leaf %d: %d keys for %d hashes", b.first, n, b.count())
	}
	return nil
}

// logDB is where a transaction appending leaves reads and writes the log:
// the writer's driver connection, or a database/sql transaction.
type logDB interface {
	// tail returns the number of leaves in the log.
	tail(ctx context.Context) (int64, error)
	// batchesFrom returns the batches whose first leaf is first or later,
	// in order.
	batchesFrom(ctx context.Context, first int64) ([]storedBatch, error)
	insertBatch(ctx context.Context, b *storedBatch) error
}

const (
	logTailSQL   = `SELECT first + length(hashes) / 32 FROM log_batches ORDER BY first DESC LIMIT 1`
	logFromSQL   = `SELECT first, keys, hashes, head FROM log_batches WHERE first >= ? ORDER BY first`
	logInsertSQL = `INSERT INTO log_batches (first, keys, hashes, head) VALUES (?, ?, ?, ?)`
)

// auditLog is a store's side of the log. The writer goroutine owns it
// once it runs; before, Open's replay and backfill use it.
type auditLog struct {
	origin string
	signer *auditlog.Signer // nil: heads and checkpoints unsigned
	logger *slog.Logger

	tree auditlog.Frontier  // the log as of the last batch committed that this process knows
	next *auditlog.Frontier // with the batch of the transaction under way

	keys, hashes []byte // a batch being encoded
}

// signerOrNil is the note.Signer heads are signed with, nil if none.
func (l *auditLog) signerOrNil() note.Signer {
	if l.signer == nil {
		return nil
	}
	return l.signer
}

// verifiers are what this store checks heads with: its own key, or
// nothing (unsigned).
func (l *auditLog) verifiers() note.Verifiers {
	if l.signer == nil {
		return nil
	}
	return note.VerifierList(l.signer.Verifier)
}

// appendBatch appends leaves to the log in the transaction of db, with a
// signed head. Call committed or rolledBack once the transaction ends.
func (l *auditLog) appendBatch(ctx context.Context, db logDB, leaves []leaf) error {
	end, err := db.tail(ctx)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	if end != l.tree.Size() {
		if err := l.catchUp(ctx, db, end); err != nil {
			return err
		}
	}
	next := l.tree.Clone()
	keys, hashes := l.keys[:0], l.hashes[:0]
	for i, lf := range leaves {
		if i > 0 {
			keys = append(keys, '\n')
		}
		keys = append(keys, lf.key...)
		hashes = append(hashes, lf.hash[:]...)
		next.Append(lf.hash)
	}
	l.keys, l.hashes = keys, hashes
	head, err := auditlog.Sign(auditlog.Head{Origin: l.origin, Size: next.Size(), Root: next.Root()}, l.signerOrNil())
	if err != nil {
		return err
	}
	if err := db.insertBatch(ctx, &storedBatch{first: l.tree.Size(), keys: string(keys), hashes: hashes, head: head}); err != nil {
		return fmt.Errorf("audit log: append %d leaves at %d: %w", len(leaves), l.tree.Size(), err)
	}
	l.next = &next
	return nil
}

// committed adopts the batch of the transaction that just committed.
func (l *auditLog) committed() {
	if l.next != nil {
		l.tree, l.next = *l.next, nil
	}
}

// rolledBack forgets the batch of a transaction that did not commit.
func (l *auditLog) rolledBack() { l.next = nil }

// catchUp takes in the batches other processes appended since this one's
// last (the log has end leaves). It does not check their heads: the
// checkpointer does, before it signs anything that covers them. A log
// shorter than this process knows it was cut behind its back: the tree
// is rebuilt from what is there, and verify will say what is missing.
func (l *auditLog) catchUp(ctx context.Context, db logDB, end int64) error {
	from := l.tree.Size()
	if end < from {
		l.logger.Error("audit log: leaves were removed from the log behind Warden's back; continuing from what is left (run warden audit verify)",
			"leaves_known", from, "leaves_now", end)
		l.tree, from = auditlog.Frontier{}, 0
	}
	batches, err := db.batchesFrom(ctx, from)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	for i := range batches {
		if err := l.fold(&batches[i]); err != nil {
			return err
		}
	}
	return nil
}

// fold appends a stored batch's leaves to the tree.
func (l *auditLog) fold(b *storedBatch) error {
	if err := b.check(); err != nil {
		return err
	}
	if b.first != l.tree.Size() {
		return fmt.Errorf("audit log: batch at leaf %d follows a log of %d leaves (run warden audit verify)", b.first, l.tree.Size())
	}
	for k := range b.count() {
		l.tree.Append(b.hash(k))
	}
	return nil
}

// loadLog reads the log's state: its origin, the latest checkpoint's
// compact range (if it matches its note), and the batches after it.
func loadLog(ctx context.Context, db *sql.DB, signer *auditlog.Signer, logger *slog.Logger) (*auditLog, bool, error) {
	l := &auditLog{signer: signer, logger: logger}
	var backfill bool
	if err := db.QueryRowContext(ctx, `SELECT origin, backfill FROM log_origin`).Scan(&l.origin, &backfill); err != nil {
		return nil, false, fmt.Errorf("audit log: origin: %w", err)
	}
	cp, err := latestCheckpoint(ctx, db)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, false, err
	default:
		h, herr := auditlog.OpenHead(cp.note, nil)
		if herr == nil && h.Size == cp.tree.Size() && h.Root == cp.tree.Root() {
			l.tree = cp.tree
		} else {
			logger.Error("audit log: the latest checkpoint does not match its tree; rebuilding the tree from the log (run warden audit verify)", "size", cp.size)
		}
	}
	end, err := sqlLogDB{db}.tail(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("audit log: %w", err)
	}
	if err := l.catchUp(ctx, sqlLogDB{db}, end); err != nil {
		return nil, false, err
	}
	return l, backfill, nil
}

// storedCheckpoint is a row of log_checkpoints.
type storedCheckpoint struct {
	size int64
	time time.Time
	note string
	tree auditlog.Frontier
}

const checkpointColumns = `size, time, note, frontier`

func scanCheckpoint(scan func(...any) error) (storedCheckpoint, error) {
	var (
		cp       storedCheckpoint
		t        string
		frontier []byte
	)
	if err := scan(&cp.size, &t, &cp.note, &frontier); err != nil {
		return storedCheckpoint{}, err
	}
	cp.time, _ = time.Parse(audit.TimeLayout, t)
	if err := cp.tree.UnmarshalBinary(frontier); err != nil {
		return storedCheckpoint{}, fmt.Errorf("audit log: checkpoint %d: %w", cp.size, err)
	}
	return cp, nil
}

func latestCheckpoint(ctx context.Context, db *sql.DB) (storedCheckpoint, error) {
	row := db.QueryRowContext(ctx, `SELECT `+checkpointColumns+` FROM log_checkpoints ORDER BY size DESC LIMIT 1`)
	return scanCheckpoint(row.Scan)
}

// sqlLogDB is logDB on a database/sql pool or transaction.
type sqlLogDB struct {
	q interface {
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	}
}

func (d sqlLogDB) tail(ctx context.Context) (int64, error) {
	rows, err := d.q.QueryContext(ctx, logTailSQL)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var n int64
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, err
		}
	}
	return n, rows.Err()
}

func (d sqlLogDB) batchesFrom(ctx context.Context, first int64) ([]storedBatch, error) {
	rows, err := d.q.QueryContext(ctx, logFromSQL, first)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var bs []storedBatch
	for rows.Next() {
		var b storedBatch
		if err := rows.Scan(&b.first, &b.keys, &b.hashes, &b.head); err != nil {
			return nil, err
		}
		bs = append(bs, b)
	}
	return bs, rows.Err()
}

func (d sqlLogDB) insertBatch(ctx context.Context, b *storedBatch) error {
	_, err := d.q.ExecContext(ctx, logInsertSQL, b.first, b.keys, b.hashes, b.head)
	return err
}

// driverLogDB is logDB on the writer's connection, inside its
// transaction.
type driverLogDB struct{ w *writeStmts }

func (d driverLogDB) tail(ctx context.Context) (int64, error) {
	rows, err := d.w.logTail.(driver.StmtQueryContext).QueryContext(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	dest := make([]driver.Value, 1)
	switch err := rows.Next(dest); {
	case err == io.EOF:
		return 0, nil
	case err != nil:
		return 0, err
	}
	n, _ := dest[0].(int64)
	return n, nil
}

func (d driverLogDB) batchesFrom(ctx context.Context, first int64) ([]storedBatch, error) {
	rows, err := d.w.logFrom.(driver.StmtQueryContext).QueryContext(ctx, []driver.NamedValue{{Ordinal: 1, Value: first}})
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var bs []storedBatch
	dest := make([]driver.Value, 4)
	for {
		if err := rows.Next(dest); err == io.EOF {
			return bs, nil
		} else if err != nil {
			return nil, err
		}
		var b storedBatch
		b.first, _ = dest[0].(int64)
		b.keys = driverString(dest[1])
		switch v := dest[2].(type) {
		case []byte:
			b.hashes = append([]byte(nil), v...)
		case string:
			b.hashes = []byte(v)
		}
		b.head = driverString(dest[3])
		bs = append(bs, b)
	}
}

func (d driverLogDB) insertBatch(ctx context.Context, b *storedBatch) error {
	_, err := d.w.logInsert.(driver.StmtExecContext).ExecContext(ctx, []driver.NamedValue{
		{Ordinal: 1, Value: b.first}, {Ordinal: 2, Value: b.keys}, {Ordinal: 3, Value: b.hashes}, {Ordinal: 4, Value: b.head}})
	return err
}

// driverString is a text column's value as the driver returns it.
func driverString(v driver.Value) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return ""
}

// rowEvent is the event a row stores, as Get reads it back.
func rowEvent(r *row) (audit.Event, error) {
	e := audit.Event{
		ID: r.id, Session: r.session, Transport: r.transport, Identity: r.identity, Issuer: r.issuer,
		TokenID: r.tokenID, Tool: r.tool, Connection: r.connection, Statement: r.statement,
		Decision: r.decision, Rule: r.rule, Reason: r.reason, Status: r.status,
		Duration: time.Duration(r.durationUS) * time.Microsecond, Rows: r.rows, Truncated: r.truncated,
		Credential: r.credential, Error: r.errorText, Approval: r.approval,
	}
	var err error
	if e.Time, err = time.Parse(time.RFC3339Nano, r.time); err != nil {
		return audit.Event{}, fmt.Errorf("event %s: time: %w", r.id, err)
	}
	if r.groups != "" && r.groups != "[]" {
		if err := json.Unmarshal([]byte(r.groups), &e.Groups); err != nil {
			return audit.Event{}, fmt.Errorf("event %s: groups: %w", r.id, err)
		}
	}
	if m, ok := r.masked.(string); ok && m != "" {
		if err := json.Unmarshal([]byte(m), &e.Masked); err != nil {
			return audit.Event{}, fmt.Errorf("event %s: masked: %w", r.id, err)
		}
	}
	if a, ok := r.arguments.(string); ok {
		e.Arguments = json.RawMessage(a)
	}
	return e, nil
}

// eventLeaf appends the leaf of e (auditlog.EventLeaf, encoded by hand)
// to b.
func eventLeaf(b []byte, e *audit.Event) ([]byte, error) {
	n := auditlog.Normalize(*e)
	return appendEvent(b, &n, nil)
}

// rowLeaf is the leaf of the event a row stores.
func (w *writeStmts) rowLeaf(r *row) (leaf, error) {
	var ok bool
	if w.leafBuf, ok = appendRowLeaf(w.leafBuf[:0], r); !ok {
		e, err := rowEvent(r)
		if err != nil {
			return leaf{}, err
		}
		if w.leafBuf, err = eventLeaf(w.leafBuf[:0], &e); err != nil {
			return leaf{}, fmt.Errorf("event %s: %w", r.id, err)
		}
	}
	return leaf{key: r.id, hash: auditlog.LeafHash(w.leafBuf)}, nil
}

// appendRowLeaf appends the leaf of the event r stores, as eventLeaf
// would append it for the event read back (TestRowLeaf), without decoding
// the row into an Event: the writer computes one for every event it
// commits. It reports false, and the caller decodes, where the row's
// columns are not in the one form a read gives back (a JSON escape in
// groups or masked counts, a time outside RFC 3339's years).
func appendRowLeaf(b []byte, r *row) ([]byte, bool) {
	t := r.time
	if len(t) != len(audit.TimeLayout) || t[len(t)-1] != 'Z' || t[19] != '.' ||
		strings.IndexByte(r.groups, '\\') >= 0 || r.groups == "" {
		return b, false
	}
	masked, _ := r.masked.(string)
	if strings.IndexByte(masked, '\\') >= 0 || masked == "{}" {
		return b, false
	}
	b = append(b, `{"id":`...)
	b = jsonenc.AppendString(b, validUTF8(r.id))
	// TimeLayout's fraction, trailing zeros trimmed, as RFC3339Nano has it.
	frac := strings.TrimRight(t[20:len(t)-1], "0")
	b = append(b, `,"time":"`...)
	b = append(b, t[:19]...)
	if frac != "" {
		b = append(append(b, '.'), frac...)
	}
	b = append(b, `Z"`...)
	b = appendStringField(b, `,"session":`, validUTF8(r.session))
	b = appendStringField(b, `,"transport":`, validUTF8(r.transport))
	b = appendStringField(b, `,"identity":`, validUTF8(r.identity))
	if r.groups != "[]" {
		b = append(append(b, `,"groups":`...), r.groups...)
	}
	b = appendStringField(b, `,"issuer":`, validUTF8(r.issuer))
	b = appendStringField(b, `,"token_id":`, validUTF8(r.tokenID))
	b = appendStringField(b, `,"tool":`, validUTF8(r.tool))
	b = appendStringField(b, `,"connection":`, validUTF8(r.connection))
	if a, ok := r.arguments.(string); ok && a != "" {
		b = append(b, `,"arguments":`...)
		var valid bool
		if b, valid = appendCompactJSON(b, []byte(validUTF8(a))); !valid {
			return b, false
		}
	}
	b = appendStringField(b, `,"statement":`, validUTF8(r.statement))
	b = appendStringField(b, `,"decision":`, validUTF8(r.decision))
	b = appendStringField(b, `,"rule":`, validUTF8(r.rule))
	b = appendStringField(b, `,"reason":`, validUTF8(r.reason))
	b = append(b, `,"status":`...)
	b = jsonenc.AppendString(b, validUTF8(r.status))
	if r.rows != 0 {
		b = append(b, `,"rows":`...)
		b = strconv.AppendInt(b, r.rows, 10)
	}
	if r.truncated {
		b = append(b, `,"truncated":true`...)
	}
	if masked != "" {
		b = append(append(b, `,"masked":`...), masked...)
	}
	b = appendStringField(b, `,"credential":`, validUTF8(r.credential))
	b = appendStringField(b, `,"error":`, validUTF8(r.errorText))
	b = appendStringField(b, `,"approval":`, validUTF8(r.approval))
	b = append(b, `,"duration_ms":`...)
	b = jsonenc.AppendFloat(b, float64(time.Duration(r.durationUS)*time.Microsecond)/float64(time.Millisecond))
	return append(b, '}'), true
}

// validUTF8 is s with invalid bytes as U+FFFD, as auditlog.Normalize has
// it.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// logRow adds the leaf of the event r stores now to the batch.
func (w *writeStmts) logRow(r *row) error {
	lf, err := w.rowLeaf(r)
	if err != nil {
		return err
	}
	w.leaves = append(w.leaves, lf)
	return nil
}
