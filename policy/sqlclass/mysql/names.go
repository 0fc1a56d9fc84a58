package mysql

import (
	"strings"

	"github.com/wardenhq/warden/policy/sqlclass"

	"vitess.io/vitess/go/vt/sqlparser"
)

// quoteIdent shows an identifier in the form the policy engine reads for
// every dialect: as is when it is a plain lower-case identifier,
// otherwise double-quoted (with " doubled). MySQL's backticks are not
// kept; case is: table and database names are case-sensitive on Linux
// (lower_case_table_names=0), so Users is shown as "Users". A quoted name
// containing a dot cannot pose as a database-qualified one.
func quoteIdent(s string) string { return sqlclass.QuoteIdent(s) }

// tableName is a table's name as written: database.table when qualified.
func tableName(t sqlparser.TableName) string {
	name := quoteIdent(t.Name.String())
	if q := t.Qualifier.String(); q != "" {
		name = quoteIdent(q) + "." + name
	}
	return name
}

// funcName is a function's name: lower-case (MySQL function names are
// not case-sensitive), qualified with its database as written.
func funcName(qualifier, name string) string {
	n := quoteIdent(strings.ToLower(name))
	if qualifier != "" {
		n = quoteIdent(qualifier) + "." + n
	}
	return n
}
