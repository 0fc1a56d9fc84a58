package postgres

import (
	"strings"
	"sync"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// txnKind is a transaction-control statement the proxy carries out itself.
type txnKind int

const (
	txnBegin txnKind = iota + 1
	txnCommit
	txnRollback
	txnSavepoint
	txnRelease
	txnRollbackTo
	txnSetTransaction
	txnUnsupported // PREPARE TRANSACTION, COMMIT PREPARED, SET SESSION CHARACTERISTICS...
)

// txnControl is what a transaction-control statement asks for.
type txnControl struct {
	kind txnKind
	tag  string
	// Options of BEGIN / SET TRANSACTION.
	iso        string // "" (default), "serializable", "repeatable read", "read committed"
	readOnly   int    // 0 unset, 1 READ ONLY, -1 READ WRITE
	deferrable int    // 0 unset, 1 DEFERRABLE, -1 NOT DEFERRABLE
	chain      bool
	savepoint  string
	why        string // for txnUnsupported
}

// txnCache keeps parsed transaction-control statements by text (BEGIN and
// COMMIT come back with every transaction). A Server has one, shared by
// its sessions; its zero value is ready.
type txnCache struct {
	mu sync.Mutex
	m  map[string]*txnControl
}

// parse parses a statement the classifier called transaction control. It
// returns nil for anything else (SET CONSTRAINTS, ...), which then goes to
// policy like any statement.
func (tc *txnCache) parse(sql string) *txnControl {
	tc.mu.Lock()
	c, ok := tc.m[sql]
	tc.mu.Unlock()
	if ok {
		return c
	}
	c = parseTxnUncached(sql)
	tc.mu.Lock()
	if tc.m == nil || len(tc.m) > 1024 {
		tc.m = map[string]*txnControl{}
	}
	tc.m[sql] = c
	tc.mu.Unlock()
	return c
}

func parseTxnUncached(sql string) *txnControl {
	tree, err := pg_query.Parse(sql)
	if err != nil || len(tree.GetStmts()) != 1 {
		return nil
	}
	node := tree.GetStmts()[0].GetStmt()
	if vs := node.GetVariableSetStmt(); vs != nil {
		switch {
		case vs.GetKind() == pg_query.VariableSetKind_VAR_SET_MULTI && vs.GetName() == "TRANSACTION":
			c := &txnControl{kind: txnSetTransaction, tag: "SET"}
			c.options(vs.GetArgs())
			return c
		case vs.GetKind() == pg_query.VariableSetKind_VAR_SET_MULTI && vs.GetName() == "SESSION CHARACTERISTICS":
			return &txnControl{kind: txnUnsupported, tag: "SET", why: "SET SESSION CHARACTERISTICS changes session state, which Warden does not allow"}
		}
		return nil
	}
	ts := node.GetTransactionStmt()
	if ts == nil {
		return nil
	}
	c := &txnControl{chain: ts.GetChain(), savepoint: ts.GetSavepointName()}
	switch ts.GetKind() {
	case pg_query.TransactionStmtKind_TRANS_STMT_BEGIN, pg_query.TransactionStmtKind_TRANS_STMT_START:
		c.kind, c.tag = txnBegin, "BEGIN"
		if ts.GetKind() == pg_query.TransactionStmtKind_TRANS_STMT_START {
			c.tag = "START TRANSACTION"
		}
		c.options(ts.GetOptions())
	case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT:
		c.kind, c.tag = txnCommit, "COMMIT"
	case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK:
		c.kind, c.tag = txnRollback, "ROLLBACK"
	case pg_query.TransactionStmtKind_TRANS_STMT_SAVEPOINT:
		c.kind, c.tag = txnSavepoint, "SAVEPOINT"
	case pg_query.TransactionStmtKind_TRANS_STMT_RELEASE:
		c.kind, c.tag = txnRelease, "RELEASE"
	case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:
		c.kind, c.tag = txnRollbackTo, "ROLLBACK"
	default:
		return &txnControl{kind: txnUnsupported, tag: "PREPARE TRANSACTION",
			why: "two-phase commit (PREPARE TRANSACTION, COMMIT PREPARED, ROLLBACK PREPARED) is not supported through Warden"}
	}
	return c
}

func (c *txnControl) options(opts []*pg_query.Node) {
	for _, o := range opts {
		d := o.GetDefElem()
		if d == nil {
			continue
		}
		ac := d.GetArg().GetAConst()
		switch d.GetDefname() {
		case "transaction_isolation":
			c.iso = strings.ToLower(ac.GetSval().GetSval())
		case "transaction_read_only":
			c.readOnly = boolOpt(ac)
		case "transaction_deferrable":
			c.deferrable = boolOpt(ac)
		}
	}
}

func boolOpt(ac *pg_query.A_Const) int {
	if ac.GetIval().GetIval() != 0 || ac.GetBoolval().GetBoolval() {
		return 1
	}
	return -1
}

// beginSQL is the BEGIN the proxy sends upstream for a transaction.
func beginSQL(iso string, readOnly bool, deferrable int) string {
	var b strings.Builder
	b.WriteString("BEGIN ISOLATION LEVEL ")
	switch iso {
	case "serializable", "repeatable read", "read uncommitted":
		b.WriteString(strings.ToUpper(iso))
	default:
		b.WriteString("READ COMMITTED")
	}
	if readOnly {
		b.WriteString(" READ ONLY")
	} else {
		b.WriteString(" READ WRITE")
	}
	switch deferrable {
	case 1:
		b.WriteString(" DEFERRABLE")
	case -1:
		b.WriteString(" NOT DEFERRABLE")
	}
	return b.String()
}

// quoteIdent quotes a savepoint name for the statement the proxy sends.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// copyFromStdin reports whether sql is COPY ... FROM STDIN.
func copyFromStdin(sql string) bool {
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return true // fail closed: the classifier parsed it, so this is odd
	}
	for _, s := range tree.GetStmts() {
		if cs := s.GetStmt().GetCopyStmt(); cs != nil && cs.GetIsFrom() && cs.GetFilename() == "" && !cs.GetIsProgram() {
			return true
		}
	}
	return false
}
