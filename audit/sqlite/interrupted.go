package sqlite

import (
	"context"
	"database/sql/driver"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wardenhq/warden/audit"
)

// Every event is written with the instance that wrote it (column
// instance): the Warden process, named as its journal is,
// <host>.<pid>.<start>. An event still running when its process is gone
// (killed, crashed, its machine lost) will never get its outcome from
// it; a store that opens closes such events as interrupted, so that no
// event says a call runs in a process that no longer exists.

// processInstance names this process as its events and journal do.
func processInstance() string {
	host, _ := os.Hostname()
	pid := os.Getpid()
	return fmt.Sprintf("%s.%d.%s", safeHost(host), pid, audit.ProcessStart(pid))
}

// runningInstancesSQL lists the instances with running events (index
// events_running).
const runningInstancesSQL = `SELECT DISTINCT instance FROM events WHERE status = 'running'`

// interruptSQL closes the running events of instance ?2, with error ?1.
const interruptSQL = `UPDATE events SET status = 'interrupted', error = ?1
WHERE status = 'running' AND instance = ?2` + returningEvent

// closeInterrupted records as interrupted every running event of an
// instance that is gone, through the writer, and returns how many it
// closed.
func (s *Store) closeInterrupted(ctx context.Context) (int64, error) {
	gone, err := s.goneInstances(ctx)
	if err != nil || len(gone) == 0 {
		return 0, err
	}
	o := &op{kind: opInterrupt, gone: gone}
	if err := s.send(ctx, o); err != nil {
		return 0, err
	}
	if err := s.wait(ctx, o); err != nil {
		return 0, err
	}
	return o.closed, nil
}

// goneInstances returns the instances with running events whose process
// is gone. A process of this host is gone if it no longer runs (or its PID
// is another process's now); one of another host, which cannot be asked,
// once neither its journal nor its heartbeat (table instances, kept by the
// credential reaper) changed for staleAfter. Events of Wardens before
// instances were recorded (instance ”) are closed only when no other
// process has a journal of this store open: any such process could be
// running them.
func (s *Store) goneInstances(ctx context.Context) ([]string, error) {
	rows, err := s.readDB.QueryContext(ctx, runningInstancesSQL)
	if err != nil {
		return nil, fmt.Errorf("audit: running events: %w", err)
	}
	var running []string
	for rows.Next() {
		var in string
		if err := rows.Scan(&in); err != nil {
			rows.Close()
			return nil, fmt.Errorf("audit: running events: %w", err)
		}
		if in != s.instance {
			running = append(running, in)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: running events: %w", err)
	}
	if len(running) == 0 {
		return nil, nil
	}
	beats, err := s.heartbeats(ctx)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	host = safeHost(host)
	alive := func(in string) bool {
		files, _ := filepath.Glob(s.path + "-intentlog." + in + ".*")
		if strings.HasPrefix(in, host+".") {
			return !journalAbandoned("."+in, host, files) // the process is asked
		}
		if beat, ok := beats[in]; ok && time.Since(beat) < staleAfter {
			return true
		}
		return !journalAbandoned("."+in, host, files)
	}
	var gone []string
	for _, in := range running {
		if in != "" && !alive(in) {
			gone = append(gone, in)
		}
	}
	if slices.Contains(running, "") && !s.othersAlive(alive) {
		gone = append(gone, "")
	}
	return gone, nil
}

// othersAlive reports whether a process other than this one has a journal
// of the store that alive says is in use.
func (s *Store) othersAlive(alive func(string) bool) bool {
	files, _ := filepath.Glob(s.path + "-intentlog.*")
	seen := map[string]bool{s.instance: true}
	for _, f := range files {
		in := strings.TrimPrefix(f, s.path+"-intentlog.")
		i := strings.LastIndexByte(in, '.')
		if i <= 0 {
			continue
		}
		in = in[:i]
		if seen[in] {
			continue
		}
		seen[in] = true
		if alive(in) {
			return true
		}
	}
	return false
}

// heartbeats returns the last heartbeat of each instance in table
// instances, by the instance name events carry.
func (s *Store) heartbeats(ctx context.Context) (map[string]time.Time, error) {
	ins, err := s.Instances(ctx)
	if err != nil {
		return nil, err
	}
	beats := make(map[string]time.Time, len(ins))
	for _, in := range ins {
		name := safeHost(in.Host) + "." + strconv.Itoa(in.PID) + "." + in.Boot
		if in.Heartbeat.After(beats[name]) {
			beats[name] = in.Heartbeat
		}
	}
	return beats, nil
}

// interruptedError is the error text of an event closed as interrupted.
func interruptedError(instance string) string {
	if instance == "" {
		return "interrupted: the Warden process that ran this call stopped before its outcome was recorded; whether the call reached its target is unknown"
	}
	return "interrupted: Warden process " + instance + " stopped before the outcome of this call was recorded; whether the call reached its target is unknown"
}

// interrupt runs an opInterrupt: the running events of o.gone become
// interrupted, each a leaf of the audit log.
func (w *writeStmts) interrupt(ctx context.Context, o *op) error {
	for _, in := range o.gone {
		n, err := w.returning(ctx, w.interruptStmt, []driver.NamedValue{
			{Ordinal: 1, Value: interruptedError(in)}, {Ordinal: 2, Value: in}})
		if err != nil {
			return err
		}
		o.closed += int64(n)
	}
	return nil
}
