package mysql

import (
	"fmt"
	"strings"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/wardenhq/warden/gateway"
)

// Statements the proxy carries out itself: a change of database
// (COM_INIT_DB and USE), KILL, SET NAMES.

// use decides a change of database. A connection is one database, whose
// name unqualified table names are classified in; the proxy stays in it.
// Naming it again (mysql -D, a driver's DSN, USE) is accepted; naming
// another is refused: qualify names instead (other.table), which policy
// decides by their database.
func (s *session) use(op gateway.Operation, sql string, cb func(*sqltypes.Result) error) error {
	st, err := s.e.env.Parser().Parse(sql)
	u, ok := st.(*sqlparser.Use)
	if err != nil || !ok {
		return s.refuse(op, sqlerror.ERParseError, "Warden cannot read this USE statement")
	}
	db := u.DBName.String()
	if db == s.conn.Database {
		return s.local(op, "USE of the connection's own database "+db, cb)
	}
	return s.refuse(op, sqlerror.ERDBAccessDenied, fmt.Sprintf(
		"Warden's connection %q is database %q, in which unqualified names are decided: it does not change to %q; qualify table names instead (%s.table)",
		s.conn.Name, s.conn.Database, db, db))
}

// kill carries out KILL [QUERY|CONNECTION] n, where n is a connection id
// of this proxy (what the client was told, what the mysql client sends on
// Ctrl-C from a second connection). Only a connection of the same
// identity can be killed; another's is as unknown (1094) as one that does
// not exist. KILL QUERY ends the statement the connection's upstream
// runs (KILL QUERY of its upstream thread) or its wait for approval.
func (s *session) kill(op gateway.Operation, sql string, cb func(*sqltypes.Result) error) error {
	st, err := s.e.env.Parser().Parse(sql)
	k, ok := st.(*sqlparser.Kill)
	if err != nil || !ok {
		return s.refuse(op, sqlerror.ERParseError, "Warden cannot read this KILL statement")
	}
	target := s.e.client(k.ProcesslistID)
	if target == nil {
		// SELECT CONNECTION_ID() through the proxy says the upstream
		// thread's id: that names the connection too.
		target = s.e.clientByUpstream(k.ProcesslistID, s.principal.Subject)
	}
	if target == nil || target.principal.Subject != s.principal.Subject || target.conn.Name != s.conn.Name {
		err := s.gs.Refuse(s.ctx, op, gateway.CodeDenied, fmt.Sprintf("Unknown thread id: %d", k.ProcesslistID))
		te := gateway.AsError(err)
		return sqlerror.NewSQLError(sqlerror.ERNoSuchThread, "HY000", withAudit(te.Message, te.AuditID))
	}
	if k.Type == sqlparser.QueryType {
		err := s.local(op, fmt.Sprintf("KILL QUERY of the caller's own connection %d", k.ProcesslistID), cb)
		target.cancel()
		return err
	}
	err = s.local(op, fmt.Sprintf("KILL CONNECTION of the caller's own connection %d", k.ProcesslistID), cb)
	target.cancel()
	target.c.Close()
	return err
}

// isSetNames reports whether sql is SET NAMES (or CHARACTER SET) of
// utf8mb4 or utf8, which the upstream session has already.
func isSetNames(parser *sqlparser.Parser, sql string) bool {
	p, err := parser.Parse(sql)
	if err != nil {
		return false
	}
	set, ok := p.(*sqlparser.Set)
	if !ok || len(set.Exprs) != 1 {
		return false
	}
	e := set.Exprs[0]
	name := e.Var.Name.Lowered()
	if name != "names" && name != "charset" {
		return false
	}
	v := strings.Trim(strings.ToLower(sqlparser.String(e.Expr)), "'\"`")
	return v == "utf8mb4" || v == "utf8" || v == "utf8mb3"
}
