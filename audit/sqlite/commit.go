package sqlite

import (
	"cmp"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/wardenhq/warden/audit"
)

// run is the writer goroutine. It takes whatever is queued, up to maxBatch
// operations, commits it as one transaction, and repeats until Close closes
// the queue and it is empty.
func (s *Store) run() {
	defer close(s.done)
	batch := make([]*op, 0, maxBatch)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for o := range s.ops {
		batch = s.drain(append(batch[:0], o))
		if onlyAsync(batch) && len(batch) < maxBatch {
			batch = s.linger(batch, linger)
		}
		s.commit(batch)
		clear(batch)
	}
}

// asyncLinger is how long writes nobody waits for (intents already in the
// journal, outcomes) may wait for company while more keep coming.
// Whatever the number of rows, a commit writes to the WAL the pages it
// changed, the last partly filled page of each b-tree among them, two
// system calls a page; and a statement that ends quickly has its outcome
// folded into its intent's row (foldOutcomes) when both wait in the same
// batch. Under the proxy's load, 25 ms gathers a few hundred operations.
const asyncLinger = 25 * time.Millisecond

// lingerQuiet ends the linger early when no write arrived for that long:
// a lone call's event is in the store a few milliseconds after it ends.
const lingerQuiet = 2 * time.Millisecond

// linger lets batch gather more writes before it is committed, up to
// asyncLinger, and as long as some arrived within the last lingerQuiet.
// It takes queued writes every lingerQuiet, not one by one (each would
// wake the writer). A write someone waits for (Begin, Record, Finish,
// Sync) or a filling queue ends the wait at once through s.urge, and so
// does Close.
func (s *Store) linger(batch []*op, t *time.Timer) []*op {
	deadline := time.Now().Add(asyncLinger)
	for len(batch) < maxBatch {
		t.Reset(lingerQuiet)
		select {
		case <-t.C:
		case <-s.urge:
			t.Stop()
			return s.drain(batch)
		case <-s.closing:
			t.Stop()
			return s.drain(batch)
		}
		n := len(batch)
		batch = s.drain(batch)
		if len(batch) == n || !time.Now().Before(deadline) {
			return batch
		}
	}
	return batch
}

// urgeWriter ends the writer's linger, if it lingers.
func (s *Store) urgeWriter() {
	select {
	case s.urge <- struct{}{}:
	default:
	}
}

// drain appends whatever is queued, up to maxBatch operations.
func (s *Store) drain(batch []*op) []*op {
	for len(batch) < maxBatch {
		select {
		case o, ok := <-s.ops:
			if !ok {
				return batch
			}
			batch = append(batch, o)
		default:
			return batch
		}
	}
	return batch
}

func onlyAsync(batch []*op) bool {
	for _, o := range batch {
		if !o.async {
			return false
		}
	}
	return true
}

// commit writes batch in one transaction and tells every op how it went.
// An op that fails on its own (a duplicate ID, a Finish of an unknown event)
// gets its own error and the rest still commit. Any other failure (disk full,
// read-only file, database gone) fails the whole batch.
func (s *Store) commit(batch []*op) {
	errs := make([]error, len(batch))
	err := s.writeBatch(batch, errs)
	if err == nil {
		segs := s.settledSegs[:0]
		for i, o := range batch {
			if errs[i] != nil {
				continue
			}
			if o.seg != nil {
				segs = append(segs, o.seg)
			}
			if o.folded && o.outSeg != nil {
				segs = append(segs, o.outSeg)
			}
		}
		if len(segs) > 0 {
			s.journal.settled(segs)
		}
		clear(segs)
		s.settledSegs = segs[:0]
	}
	if err != nil {
		s.logger.Error("audit write failed", "path", s.path, "ops", len(batch), "err", err)
		err = fmt.Errorf("audit: write event: %s: %w", s.path, err)
	}
	for i, o := range batch {
		if o.async && (err != nil || errs[i] != nil) {
			s.logger.Error("audit outcome not written", "event", o.row.id, "err", errors.Join(err, errs[i]))
		}
		if o.done == nil {
			continue // nobody waits
		}
		switch {
		case err != nil:
			o.done <- err
		case o.kind == opChunk && errs[i] != nil:
			o.done <- errs[i]
		case errors.Is(errs[i], audit.ErrNotFound):
			o.done <- fmt.Errorf("%w: finish %s", audit.ErrNotFound, o.row.id)
		case errs[i] != nil:
			o.done <- fmt.Errorf("audit: write event %s: %w", o.row.id, errs[i])
		default:
			o.done <- nil
		}
	}
}

// writeBatch runs batch in one transaction on the writer's connection,
// through the driver directly: database/sql's work per statement (locks,
// argument conversion, a statement handle per transaction) cost as much as
// SQLite's insert.
func (s *Store) writeBatch(batch []*op, errs []error) error {
	if err := s.checkFile(); err != nil {
		return err
	}
	// Not the callers' contexts: one caller giving up must not abort the
	// others' writes. busy_timeout bounds the wait for a lock.
	ctx := context.Background()
	// taken: folded into another op's row, or stored in a run.
	taken := foldOutcomes(batch)
	runs := groupRuns(batch, taken)
	defer s.log.rolledBack() // unless committed first
	return withDriverConn(ctx, s.writeDB, func(dc any) error {
		if err := s.stmts.prepare(ctx, dc); err != nil {
			return err
		}
		s.stmts.leaves = s.stmts.leaves[:0]
		tx, err := dc.(driver.ConnBeginTx).BeginTx(ctx, driver.TxOptions{})
		if err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
		execOp := func(i int) error {
			err := s.stmts.exec(ctx, batch[i])
			if isOpError(err) {
				errs[i], err = err, nil
			}
			return err
		}
		for _, run := range runs {
			// An event of the run may be in events already, replayed
			// from this process's journal by a Warden that took it for
			// dead: then the events go one by one, as an intent does
			// (execOp completes a replayed one).
			alone, err := s.stmts.anyInEvents(ctx, batch, run)
			if err == nil && !alone {
				err = s.stmts.insertRun(ctx, batch, run)
				alone = isOpError(err)
				if err == nil {
					err = s.stmts.logRun(batch, run)
				}
			}
			if alone {
				for _, i := range run {
					if err = execOp(i); err != nil {
						break
					}
				}
			}
			if err != nil {
				_ = tx.Rollback()
				return err
			}
		}
		for i := range batch {
			if taken[i] {
				continue
			}
			if err := execOp(i); err != nil {
				_ = tx.Rollback()
				return err
			}
		}
		if len(s.stmts.leaves) > 0 {
			if err := s.log.appendBatch(ctx, driverLogDB{&s.stmts}, s.stmts.leaves); err != nil {
				_ = tx.Rollback()
				return err
			}
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		s.log.committed()
		s.commits.Add(1)
		return nil
	})
}

// foldOutcomes merges an outcome into its own event's intent when both are
// in the batch (a fast call), so the event is inserted once, complete,
// instead of inserted and then updated. It reports which ops were folded.
func foldOutcomes(batch []*op) []bool {
	folded := make([]bool, len(batch))
	var intents map[string]*row
	for i, o := range batch {
		if o.kind == opInsert && o.journaled && !o.state.CompareAndSwap(intentQueued, intentTaken) {
			// Intent.Complete came first: the outcome is the op's.
			applyOutcome(&o.row, &o.outcome)
			o.folded = true
		}
		switch {
		case o.kind == opInsert && o.journaled:
			if intents == nil {
				intents = make(map[string]*row, len(batch))
			}
			intents[o.row.id] = &batch[i].row
		case o.kind == opFinish && o.async:
			if in, ok := intents[o.row.id]; ok {
				// The first outcome stands, as finishAsyncSQL has it.
				if in.status == audit.StatusRunning {
					applyOutcome(in, &o.row)
				}
				folded[i] = true
			}
		}
	}
	return folded
}

// applyOutcome does to an intent's row what finishSQL does to its record.
func applyOutcome(in, out *row) {
	in.status = out.status
	for _, f := range []struct{ dst, src *string }{
		{&in.decision, &out.decision}, {&in.rule, &out.rule}, {&in.reason, &out.reason},
		{&in.credential, &out.credential}, {&in.approval, &out.approval},
	} {
		if *f.src != "" {
			*f.dst = *f.src
		}
	}
	in.durationUS, in.rows, in.truncated = out.durationUS, out.rows, out.truncated
	in.masked, in.errorText = out.masked, out.errorText
}

// checkFile fails if the database file was removed or replaced since Open.
// SQLite would go on writing to the unlinked file, and the events would be
// lost with it.
func (s *Store) checkFile() error {
	info, err := os.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return errors.New("database file was removed since the store was opened")
	}
	if err != nil {
		return fmt.Errorf("check database file: %w", err)
	}
	if !os.SameFile(info, s.file) {
		return errors.New("database file was replaced since the store was opened")
	}
	return nil
}

// isOpError reports whether err belongs to one op only and leaves the
// transaction usable: SQLite aborts just the failing statement on a
// constraint violation.
func isOpError(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, audit.ErrNotFound) || errors.Is(err, audit.ErrChunkExists) || errors.Is(err, errChunkGap) {
		return true
	}
	var serr *sqlite.Error
	return errors.As(err, &serr) && serr.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}

// insertColumns is the number of columns insertSQL writes.
const insertColumns = 24

const insertSQL = `INSERT INTO events (
	id, time, session, transport, identity, groups_json, issuer, tool, connection,
	arguments, statement, decision, rule, reason, status, duration_us, row_count,
	truncated, masked_json, credential, error, approval, token_id, instance
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// upsertSQL writes a journaled intent (perhaps with its outcome folded in).
// The event may already be there, replayed from the journal by a Warden
// that started meanwhile (and perhaps closed as interrupted, taking this
// process for gone): then its outcome, if any, completes the record.
const upsertSQL = insertSQL + `
ON CONFLICT (id) DO UPDATE SET
	status = excluded.status, decision = excluded.decision, rule = excluded.rule,
	reason = excluded.reason, duration_us = excluded.duration_us, row_count = excluded.row_count,
	truncated = excluded.truncated, masked_json = excluded.masked_json, error = excluded.error,
	credential = excluded.credential, approval = excluded.approval
WHERE events.status IN ('running', 'interrupted')` + returningEvent

const finishSQL = `UPDATE events SET
	status      = ?,
	decision    = coalesce(nullif(?, ''), decision),
	rule        = coalesce(nullif(?, ''), rule),
	reason      = coalesce(nullif(?, ''), reason),
	duration_us = ?,
	row_count   = ?,
	truncated   = ?,
	masked_json = ?,
	error       = ?,
	credential  = coalesce(nullif(?, ''), credential),
	approval    = coalesce(nullif(?, ''), approval)
WHERE id = ?`

// returningEvent makes a statement that changes events return the events
// it changed, as they are now, for their leaves in the audit log.
const returningEvent = `
RETURNING id, time, session, transport, identity, groups_json, issuer, tool,
	connection, arguments, statement, decision, rule, reason, status, duration_us, row_count,
	truncated, masked_json, credential, error, approval, token_id`

// finishAsyncSQL records the first outcome of a journaled intent
// (FinishAsync): it never replaces an outcome already there, recorded by a
// Warden that replayed the intent meanwhile, as upsertSQL does not; but
// for interrupted, which says the outcome is unknown. (A later Finish
// may: an approval changes a decision.)
const finishAsyncSQL = finishSQL + ` AND status IN ('running', 'interrupted')` + returningEvent

// finishedSQL tells an outcome that changed nothing whether its event is
// there (already finished, or in a run: complete), or unknown. ?2 is
// runFloor(?1).
const finishedSQL = `SELECT (SELECT count(*) FROM events WHERE id = ?1) + (` + runHoldsSQL + `)`

// writeStmts are the writer's statements, prepared once on the writer's
// driver connection (parsing the SQL costs more than running it), and the
// argument buffer they are run with. Only the writer goroutine uses them,
// and only inside sql.Conn.Raw.
type writeStmts struct {
	conn                        any // the driver connection they belong to
	insert, upsert, finish      driver.Stmt
	finishAsync, exists         driver.Stmt
	run, idsBetween             driver.Stmt
	interruptStmt, chunkStmt    driver.Stmt
	logTail, logFrom, logInsert driver.Stmt
	detach                      [3]driver.Stmt // detachCopySQL, detachDropSQL, detachEmptySQL
	args                        []driver.NamedValue
	body                        []byte // a run's body, being encoded
	dest                        []driver.Value
	leaves                      []leaf // of the transaction under way, for the audit log
	leafBuf                     []byte
}

// prepare makes the statements on dc, unless they were made on it already.
// The writer's pool keeps its one connection for the store's life, so
// they are made once; should database/sql ever replace the connection,
// they are made again on the new one (the old ones went with their
// connection).
func (w *writeStmts) prepare(ctx context.Context, dc any) error {
	if w.conn == dc {
		return nil
	}
	pc, ok := dc.(driver.ConnPrepareContext)
	if !ok {
		return fmt.Errorf("sqlite driver connection %T cannot prepare statements", dc)
	}
	*w = writeStmts{args: w.args, body: w.body, leaves: w.leaves, leafBuf: w.leafBuf}
	for _, st := range []struct {
		stmt *driver.Stmt
		sql  string
	}{
		{&w.insert, insertSQL}, {&w.upsert, upsertSQL}, {&w.finish, finishSQL + returningEvent}, {&w.finishAsync, finishAsyncSQL},
		{&w.exists, finishedSQL}, {&w.run, insertRunSQL}, {&w.idsBetween, idsBetweenSQL},
		{&w.detach[0], detachCopySQL}, {&w.detach[1], detachDropSQL}, {&w.detach[2], detachEmptySQL},
		{&w.interruptStmt, interruptSQL}, {&w.chunkStmt, appendChunkSQL},
		{&w.logTail, logTailSQL}, {&w.logFrom, logFromSQL}, {&w.logInsert, logInsertSQL},
	} {
		var err error
		if *st.stmt, err = pc.PrepareContext(ctx, st.sql); err != nil {
			w.closeStmts()
			return fmt.Errorf("prepare %.20q: %w", st.sql, err)
		}
	}
	w.conn = dc
	return nil
}

// closeStmts closes the statements; call it inside Raw on their connection.
func (w *writeStmts) closeStmts() error {
	var errs []error
	for _, st := range []*driver.Stmt{&w.insert, &w.upsert, &w.finish, &w.finishAsync, &w.exists, &w.run,
		&w.idsBetween, &w.detach[0], &w.detach[1], &w.detach[2], &w.interruptStmt, &w.chunkStmt,
		&w.logTail, &w.logFrom, &w.logInsert} {
		if *st != nil {
			errs = append(errs, (*st).Close())
			*st = nil
		}
	}
	w.conn = nil
	return errors.Join(errs...)
}

// exec runs o's statement, and adds the leaves of what it wrote to
// w.leaves.
func (w *writeStmts) exec(ctx context.Context, o *op) error {
	r := &o.row
	a := w.args[:0]
	switch o.kind {
	case opInsert:
		a = r.appendArgs(a)
		w.args = a
		_, err := w.insert.(driver.StmtExecContext).ExecContext(ctx, a)
		if err == nil {
			return w.logRow(r)
		}
		if o.journaled && isOpError(err) {
			// The intent is there already, replayed by another Warden: its
			// outcome, if the batch folded one in, completes the record.
			// (Trying the plain insert first is cheaper than an upsert.)
			_, err = w.returning(ctx, w.upsert, a)
		}
		return err
	case opFinish:
		stmt := w.finish
		if o.async {
			stmt = w.finishAsync
		}
		a = appendValues(a, r.status, r.decision, r.rule, r.reason, r.durationUS, r.rows,
			r.truncated, r.masked, r.errorText, r.credential, r.approval, r.id)
		w.args = a
		n, err := w.returning(ctx, stmt, a)
		if err != nil || n > 0 {
			return err
		}
		if o.async {
			return w.finished(ctx, r.id)
		}
		// In a run, its outcome there: move it out to change it.
		moved, err := w.detachEvent(ctx, r.id)
		if err != nil || !moved {
			return cmp.Or(err, audit.ErrNotFound)
		}
		if n, err = w.returning(ctx, stmt, a); err == nil && n == 0 {
			err = audit.ErrNotFound
		}
		return err
	case opSync:
		return nil
	case opInterrupt:
		return w.interrupt(ctx, o)
	case opChunk:
		return w.appendChunk(ctx, o)
	}
	return fmt.Errorf("unknown op kind %d", o.kind)
}

// returning runs stmt, which changes events and returns them
// (returningEvent), logs each, and returns how many.
func (w *writeStmts) returning(ctx context.Context, stmt driver.Stmt, a []driver.NamedValue) (int, error) {
	rows, err := stmt.(driver.StmtQueryContext).QueryContext(ctx, a)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	if len(w.dest) != eventColumns {
		w.dest = make([]driver.Value, eventColumns)
	}
	n := 0
	for {
		if err := rows.Next(w.dest); err == io.EOF {
			return n, nil
		} else if err != nil {
			return n, err
		}
		r := rowOfValues(w.dest)
		if err := w.logRow(&r); err != nil {
			return n, err
		}
		n++
	}
}

// logRun adds the leaves of the events of a run just stored.
func (w *writeStmts) logRun(batch []*op, idx []int) error {
	for _, i := range idx {
		if err := w.logRow(&batch[i].row); err != nil {
			return err
		}
	}
	return nil
}

// insertRun stores the ops of batch at idx as one run.
func (w *writeStmts) insertRun(ctx context.Context, batch []*op, idx []int) error {
	var a []driver.NamedValue
	a, w.body = runArgs(w.args[:0], w.body, batch, idx)
	w.args = a
	_, err := w.run.(driver.StmtExecContext).ExecContext(ctx, a)
	return err
}

// idsBetweenSQL lists the IDs of events from ?1 to ?2.
const idsBetweenSQL = `SELECT id FROM events WHERE id >= ? AND id <= ?`

// anyInEvents reports whether an event of the run at idx (in ID order)
// is in table events already. It reads the IDs in the run's range:
// usually none, a few where denied calls (recorded one by one) fall among
// them.
func (w *writeStmts) anyInEvents(ctx context.Context, batch []*op, idx []int) (bool, error) {
	lo, hi := batch[idx[0]].row.id, batch[idx[len(idx)-1]].row.id
	rows, err := w.idsBetween.(driver.StmtQueryContext).QueryContext(ctx, []driver.NamedValue{{Ordinal: 1, Value: lo}, {Ordinal: 2, Value: hi}})
	if err != nil {
		return false, err
	}
	defer rows.Close()
	dest := make([]driver.Value, 1)
	for {
		if err := rows.Next(dest); err == io.EOF {
			return false, nil
		} else if err != nil {
			return false, err
		}
		var id string
		switch v := dest[0].(type) {
		case string:
			id = v
		case []byte:
			id = string(v)
		}
		for _, i := range idx {
			if batch[i].row.id == id {
				return true, nil
			}
		}
	}
}

// detachEvent moves event id from its run, if one holds it, into events,
// and reports whether it did.
func (w *writeStmts) detachEvent(ctx context.Context, id string) (bool, error) {
	a := []driver.NamedValue{{Ordinal: 1, Value: id}, {Ordinal: 2, Value: runFloor(id)}}
	res, err := w.detach[0].(driver.StmtExecContext).ExecContext(ctx, a)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	for _, st := range w.detach[1:] {
		if _, err := st.(driver.StmtExecContext).ExecContext(ctx, a); err != nil {
			return false, err
		}
	}
	return true, nil
}

// finished returns nil if event id is recorded (with an outcome: an
// outcome never replaces another), else ErrNotFound.
func (w *writeStmts) finished(ctx context.Context, id string) error {
	rows, err := w.exists.(driver.StmtQueryContext).QueryContext(ctx, []driver.NamedValue{{Ordinal: 1, Value: id}, {Ordinal: 2, Value: runFloor(id)}})
	if err != nil {
		return err
	}
	defer rows.Close()
	dest := make([]driver.Value, 1)
	if err := rows.Next(dest); err != nil {
		return err
	}
	if n, ok := dest[0].(int64); ok && n > 0 {
		return nil
	}
	return audit.ErrNotFound
}

// appendValues appends vs as the numbered arguments of a statement.
func appendValues(a []driver.NamedValue, vs ...any) []driver.NamedValue {
	for _, v := range vs {
		a = append(a, driver.NamedValue{Ordinal: len(a) + 1, Value: v})
	}
	return a
}
