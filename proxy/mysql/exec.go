package mysql

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	vmysql "vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/wardenhq/warden/connectors"
	myconnector "github.com/wardenhq/warden/connectors/mysql"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/internal/jsonenc"
	"github.com/wardenhq/warden/masking"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/policy/sqlclass"
	"github.com/wardenhq/warden/tools"
)

// How the proxy uses the gateway: a client connection is one
// gateway.Session (Open at login, End at disconnection); each COM_QUERY,
// and each COM_STMT_EXECUTE with its parameters written into the text, is
// one run_query operation arriving on the mysql-proxy transport:
// Classify, Authorize (decide, hold, record the intent, mint), the
// upstream statement after the Grant's gate, masking of its rows, and the
// Grant's Finish. Every statement runs in autocommit on the session's
// upstream connection for its credential, with the session's default
// access mode set to the decision's (tx_read_only), so a read-only
// decision holds even for a statement that commits implicitly.

// operation is the gateway operation of sql (params: a prepared
// statement's values as bound, for the record).
func (s *session) operation(sql string, params []string) gateway.Operation {
	return gateway.Operation{Tool: tools.ToolRunQuery, Arguments: proxyArgs(s.gs.Connection(), sql, params), Statement: sql}
}

// proxyArgs are the recorded arguments of a statement: the exact call,
// for the audit trail and the approval digest.
func proxyArgs(connection, sql string, params []string) []byte {
	b := make([]byte, 0, len(sql)+len(connection)+32)
	b = append(b, `{"connection":`...)
	b = jsonenc.AppendString(b, connection)
	b = append(b, `,"sql":`...)
	b = jsonenc.AppendString(b, sql)
	if params != nil {
		b = append(b, `,"prepared":true`...)
	}
	return append(b, '}')
}

// query runs one COM_QUERY (or an executed prepared statement, with its
// text as it runs): classified, then carried out by kind.
func (s *session) query(sql string, params []string, cb func(*sqltypes.Result) error) error {
	ctx := s.ctx
	op := s.operation(sql, params)
	if s.c.Capabilities&vmysql.CapabilityClientMultiStatements != 0 {
		// COM_SET_OPTION turned multi-statements on again.
		return s.refuse(op, sqlerror.ERNotSupportedYet, errMultiStatements.Message)
	}
	if isBlank(sql) {
		return sqlerror.NewSQLError(sqlerror.EREmptyQuery, "42000", "Query was empty")
	}
	facts, err := s.gs.Classify(ctx, op)
	if err != nil {
		return s.clientError(err)
	}
	if len(facts.Parts) != 1 {
		return s.refuse(op, sqlerror.ERNotSupportedYet, errMultiStatements.Message)
	}
	switch tag := facts.Parts[0].Tag; tag {
	case "USE":
		return s.use(op, sql, cb)
	case "KILL":
		return s.kill(op, sql, cb)
	case "COMMIT", "ROLLBACK":
		// Every statement commits on its own: there is nothing to end.
		return s.local(op, "autocommit: each statement is its own transaction; "+tag+" has nothing to end", cb)
	case "START TRANSACTION", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT", "LOCK TABLES", "UNLOCK TABLES":
		return s.refuse(op, sqlerror.ERNotSupportedYet, tag+" is not carried by Warden's MySQL proxy: every statement runs on its own, in autocommit, under its own decision")
	case "CALL":
		return s.refuse(op, sqlerror.ERNotSupportedYet, "CALL is not carried by Warden's MySQL proxy: a procedure's several results cannot be masked one by one; use run_query")
	case "PREPARE", "EXECUTE", "DEALLOCATE PREPARE":
		return s.refuse(op, sqlerror.ERNotSupportedYet, "SQL-level "+tag+" is not carried by Warden's MySQL proxy: use the protocol's prepared statements (a driver's Prepare), which Warden decides at each execution")
	}
	if hasKind(facts, string(sqlclass.KindTransaction)) {
		// SET TRANSACTION READ WRITE would make the next statement's
		// transaction writable past the session's read-only default.
		return s.refuse(op, sqlerror.ERNotSupportedYet, "transaction control is not carried by Warden's MySQL proxy: every statement runs on its own, in autocommit, under its own decision; "+
			strings.Join(facts.Parts[0].Reasons, "; "))
	}
	if hasKind(facts, string(sqlclass.KindSession)) {
		if isSetNames(s.e.env.Parser(), sql) {
			return s.local(op, "SET NAMES utf8mb4: the upstream session is utf8mb4 already", cb)
		}
		// The upstream session outlives each statement's decision: a user
		// variable or a setting would carry one statement's data or
		// state into the next, past its decision and its masking.
		return s.refuse(op, sqlerror.ERSpecifiedAccessDenied, "session state (SET, user variables, SELECT ... INTO @var) is refused through Warden's MySQL proxy: "+
			"a session outlives each statement's decision; "+strings.Join(facts.Parts[0].Reasons, "; "))
	}
	return s.run(op, &facts, cb, params != nil)
}

// refuse records a statement the proxy refuses itself and returns the
// error the client is told, with number num.
func (s *session) refuse(op gateway.Operation, num sqlerror.ErrorCode, msg string) error {
	err := s.gs.Refuse(s.ctx, op, gateway.CodeDenied, msg)
	te := gateway.AsError(err)
	return sqlerror.NewSQLError(num, "42000", withAudit(te.Message, te.AuditID))
}

// local answers a statement the proxy carries out itself (nothing
// reaches the target), recorded as allowed for reason.
func (s *session) local(op gateway.Operation, reason string, cb func(*sqltypes.Result) error) error {
	gr := s.gs.Control(s.ctx, op, reason)
	if err := gr.Gate(s.ctx); err != nil {
		gr.Finish(s.ctx, gateway.Outcome{Err: err})
		return s.clientError(err)
	}
	if e := gr.Finish(s.ctx, gateway.Outcome{}); e != nil {
		return s.clientError(e)
	}
	return cb(&sqltypes.Result{})
}

// run takes one statement through the pipeline to the target.
func (s *session) run(op gateway.Operation, facts *policy.Facts, cb func(*sqltypes.Result) error, binary bool) error {
	ctx := s.ctx
	op.Facts, op.Credential = facts, true
	op.HoldContext = s.holdContext
	gr, err := s.gs.Authorize(ctx, op)
	if err != nil {
		return s.clientError(err)
	}
	up, err := s.upstream(ctx, gr.Credential)
	if err != nil {
		return s.clientError(gr.Finish(ctx, gateway.Outcome{Err: err}))
	}
	if err := up.Settings(gr.Timeout, gr.Decision.ReadOnly); err != nil {
		s.discard(up)
		return s.clientError(gr.Finish(ctx, gateway.Outcome{Err: err}))
	}
	if err := gr.Gate(ctx); err != nil {
		gr.Finish(ctx, gateway.Outcome{Err: err})
		return s.clientError(err)
	}
	r := &result{s: s, gr: gr, up: up, cb: cb, binary: binary}
	return r.stream(ctx, op.Statement)
}

// result is one statement's run on the target.
type result struct {
	s      *session
	gr     *gateway.Grant
	up     *myconnector.Upstream
	cb     func(*sqltypes.Result) error
	binary bool // rows go out in the binary protocol (an executed prepared statement)

	fields  []*querypb.Field
	masker  masking.RowMasker
	vals    []any
	orig    []any
	rows    int64
	expired bool
}

// batchRows and batchBytes bound the rows handed to vitess at once: the
// proxy holds at most one batch of a result.
const (
	batchRows  = 256
	batchBytes = 256 << 10
)

// stream runs sql on the upstream and streams its result to the client,
// masked, then records the outcome.
func (r *result) stream(ctx context.Context, sql string) error {
	s, gr, up := r.s, r.gr, r.up
	s.setActive(up)
	defer s.setActive(nil)
	var watchdog *time.Timer
	if gr.Timeout > 0 {
		watchdog = time.AfterFunc(gr.Timeout+time.Second, func() {
			r.expired = true
			up.KillQuery()
		})
		defer watchdog.Stop()
	}
	if err := up.Conn.ExecuteStreamFetch(sql); err != nil {
		return r.fail(ctx, err)
	}
	fields, err := up.Conn.Fields()
	if err != nil {
		return r.fail(ctx, err)
	}
	if fields == nil {
		res := up.Conn.StreamOKResult()
		if res == nil {
			res = &sqltypes.Result{}
		}
		out := &sqltypes.Result{RowsAffected: res.RowsAffected, InsertID: res.InsertID}
		if e := gr.Finish(ctx, gateway.Outcome{Rows: int64(res.RowsAffected)}); e != nil {
			return s.clientError(e)
		}
		return r.cb(out)
	}
	r.fields = fields
	if err := r.startMasking(ctx); err != nil {
		up.KillQuery()
		s.discard(up)
		return s.clientError(gr.Finish(ctx, gateway.Outcome{Err: err}))
	}
	if err := r.cb(&sqltypes.Result{Fields: fields}); err != nil {
		up.KillQuery()
		s.discard(up)
		gr.Finish(ctx, gateway.Outcome{Rows: r.rows, Err: fmt.Errorf("the client went away: %w", err)})
		return err
	}
	batch := make([][]sqltypes.Value, 0, batchRows)
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		// Fields go with every batch: vitess writes them once, and sizes
		// each binary row's NULL bitmap from them.
		err := r.cb(&sqltypes.Result{Fields: r.fields, Rows: batch})
		batch, size = batch[:0], 0
		return err
	}
	for {
		row, err := up.Conn.FetchNext(nil)
		if err != nil {
			if ferr := flush(); ferr != nil {
				err = ferr
			}
			return r.fail(ctx, err)
		}
		if row == nil {
			break
		}
		if limit := gr.MaxRows; limit > 0 && r.rows >= int64(limit) {
			flush()
			up.KillQuery()
			s.discard(up)
			return s.clientError(gr.Finish(ctx, gateway.Outcome{Rows: r.rows, Truncated: true, Masked: r.summary(),
				Err: &gateway.Error{Code: gateway.CodeDenied, Rule: gr.Decision.Rule,
					Message: fmt.Sprintf("the result has more than the %d rows rule %q allows; narrow the query (WHERE, LIMIT)", limit, gr.Decision.Rule)}}))
		}
		if r.masker != nil {
			if err := r.mask(row); err != nil {
				flush()
				up.KillQuery()
				s.discard(up)
				return s.clientError(gr.Finish(ctx, gateway.Outcome{Rows: r.rows, Masked: r.summary(), Err: err}))
			}
		}
		r.rows++
		batch = append(batch, row)
		for _, v := range row {
			size += v.Len() + 1
		}
		if len(batch) == batchRows || size >= batchBytes {
			if err := flush(); err != nil {
				up.KillQuery()
				s.discard(up)
				gr.Finish(ctx, gateway.Outcome{Rows: r.rows, Masked: r.summary(), Err: fmt.Errorf("the client went away: %w", err)})
				return err
			}
		}
	}
	if err := flush(); err != nil {
		gr.Finish(ctx, gateway.Outcome{Rows: r.rows, Masked: r.summary(), Err: fmt.Errorf("the client went away: %w", err)})
		return err
	}
	if e := gr.Finish(ctx, gateway.Outcome{Rows: r.rows, Masked: r.summary()}); e != nil {
		return s.clientError(e)
	}
	return nil
}

func (r *result) summary() map[string]int64 {
	if r.masker == nil {
		return nil
	}
	return r.masker.Summary()
}

// fail records a statement the target refused (or a lost upstream) and
// returns the client's error: the server's number and SQLSTATE, its
// message with masked values withheld.
func (r *result) fail(ctx context.Context, err error) error {
	s, gr := r.s, r.gr
	var se *sqlerror.SQLError
	if !errors.As(err, &se) || se.Num >= 2000 && se.Num < 3000 {
		// The upstream connection is lost or out of step.
		s.discard(r.up)
		cerr := fmt.Errorf("%w: %v", connectors.ErrUnavailable, err)
		gerr := gr.Finish(ctx, gateway.Outcome{Rows: r.rows, Masked: r.summary(), Err: cerr})
		return sqlerror.NewSQLError(sqlerror.ERUnknownError, "HY000", withAudit("Warden lost its connection to the target: "+gerr.Message, gerr.AuditID))
	}
	if r.expired {
		// A watchdog's KILL that came late could reach the next
		// statement: the connection goes.
		s.discard(r.up)
		terr := fmt.Errorf("%w: the statement ran past its time limit and was killed", connectors.ErrTimeout)
		gerr := gr.Finish(ctx, gateway.Outcome{Rows: r.rows, Masked: r.summary(), Err: terr})
		return sqlerror.NewSQLError(sqlerror.ERQueryTimeout, "HY000", withAudit(gerr.Message, gerr.AuditID))
	}
	te := myconnector.UpstreamError(se)
	masked := gr.MaskError(ctx, te)
	gerr := gr.Finish(ctx, gateway.Outcome{Rows: r.rows, Masked: r.summary(), Err: masked})
	var tge *connectors.TargetError
	if errors.As(masked, &tge) {
		out := targetSQLError(tge, se.Num)
		if gerr != nil && gerr.Code == gateway.CodeUnavailable {
			return s.clientError(gerr)
		}
		if gerr != nil && gerr.AuditID != "" {
			out.Message = withAudit(out.Message, gerr.AuditID)
		}
		return out
	}
	return s.clientError(gerr)
}

// targetSQLError is a target's error as the client sees it: num (or the
// number in the message, "... (error N)") and the SQLSTATE.
func targetSQLError(tge *connectors.TargetError, num sqlerror.ErrorCode) *sqlerror.SQLError {
	msg := tge.Message
	if i := strings.LastIndex(msg, " (error "); i >= 0 && strings.HasSuffix(msg, ")") {
		if n, err := strconv.Atoi(msg[i+len(" (error ") : len(msg)-1]); err == nil {
			if num == 0 {
				num = sqlerror.ErrorCode(n)
			}
			msg = msg[:i]
		}
	}
	if num == 0 {
		num = sqlerror.ERUnknownError
	}
	return sqlerror.NewSQLError(num, tge.Code, msg)
}

// isUnparseable reports whether err is the classifier's: SQL it cannot
// read.
func isUnparseable(err error) bool {
	return errors.Is(err, sqlclass.ErrUnparseable)
}

// isBlank reports whether sql holds only white space, comments and
// semicolons.
func isBlank(sql string) bool {
	for i := 0; i < len(sql); i++ {
		switch c := sql[i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == ';':
		case c == '#' || (c == '-' && i+2 < len(sql) && sql[i+1] == '-' && (sql[i+2] == ' ' || sql[i+2] == '\t')):
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*' && !(i+2 < len(sql) && sql[i+2] == '!'):
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				return false
			}
			i += 2 + end + 1
		default:
			return false
		}
	}
	return true
}

// hasKind reports whether the statement shows kind k.
func hasKind(f policy.Facts, k string) bool {
	for _, x := range f.Kinds {
		if x == k {
			return true
		}
	}
	return false
}
