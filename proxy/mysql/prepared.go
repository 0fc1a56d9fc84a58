package mysql

import (
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"

	vmysql "vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"
)

// Prepared statements. vitess keeps a connection's prepared statements
// (COM_STMT_PREPARE, COM_STMT_SEND_LONG_DATA, COM_STMT_RESET and
// COM_STMT_CLOSE are its own) and decodes COM_STMT_EXECUTE's binary
// parameters; it writes the rows in the binary protocol from the field
// types. Nothing is prepared upstream: each execution writes its
// parameters into the statement as SQL literals (as vtgate does) and that
// text is what is classified, decided, recorded and run, so the target
// runs exactly what policy saw.

// prepare answers COM_STMT_PREPARE: the statement is classified (SQL
// Warden cannot read, or several statements, are refused now) and its
// placeholders counted. Its result columns are not described at prepare
// time; each execution's result carries them.
func (s *session) prepare(query string) ([]*querypb.Field, uint16, error) {
	op := s.operation(query, []string{})
	if isBlank(query) {
		return nil, 0, sqlerror.NewSQLError(sqlerror.EREmptyQuery, "42000", "Query was empty")
	}
	facts, err := s.gs.Classify(s.ctx, op)
	if err != nil {
		return nil, 0, s.clientError(err)
	}
	if len(facts.Parts) != 1 {
		return nil, 0, s.refuse(op, sqlerror.ERNotSupportedYet, errMultiStatements.Message)
	}
	marks, err := placeholders(s.e.env.Parser(), query)
	if err != nil {
		return nil, 0, s.refuse(op, sqlerror.ERParseError, err.Error())
	}
	if len(marks) > 65535 {
		return nil, 0, s.refuse(op, sqlerror.ErrorCode(1390), "too many placeholders in a prepared statement")
	}
	return nil, uint16(len(marks)), nil
}

// execute answers COM_STMT_EXECUTE: the statement with its parameters
// written in, through the pipeline as a query whose rows go out in the
// binary protocol.
func (s *session) execute(prep *vmysql.PrepareData, cb func(*sqltypes.Result) error) error {
	sql, params, err := bindText(s.e.env.Parser(), prep)
	if err != nil {
		return s.refuse(s.operation(prep.PrepareStmt, []string{}), sqlerror.ERWrongArguments, err.Error())
	}
	return s.query(sql, params, cb)
}

// placeholders returns the byte offsets of the statement's ? markers, as
// the MySQL lexer reads them (not in strings, quoted names or comments).
func placeholders(parser *sqlparser.Parser, sql string) ([]int, error) {
	tkn := parser.NewStringTokenizer(sql)
	var marks []int
	for {
		typ, _ := tkn.Scan()
		switch typ {
		case 0:
			return marks, nil
		case sqlparser.LEX_ERROR:
			return nil, fmt.Errorf("Warden cannot read the statement to find its placeholders (near byte %d)", tkn.Pos)
		case sqlparser.VALUE_ARG:
			if p := tkn.Pos - 1; p >= 0 && p < len(sql) && sql[p] == '?' {
				marks = append(marks, p)
			}
		}
	}
}

// literal writes v as SQL that every sql_mode reads alike: numbers as
// they are, text of printable characters between single quotes (a quote
// doubled), anything else (a backslash, a control character, bytes that
// are not UTF-8, binary data) in hexadecimal: _utf8mb4 X'...' for text,
// X'...' for binary values.
func literal(v sqltypes.Value) string {
	t := v.Type()
	raw := v.Raw()
	switch {
	case v.IsNull():
		return "NULL"
	case sqltypes.IsIntegral(t) || sqltypes.IsFloat(t) || sqltypes.IsDecimal(t):
		// vitess decoded them from the binary parameters: digits, sign,
		// point and exponent only.
		if plainNumber(raw) {
			return string(raw)
		}
	case sqltypes.IsBinary(t) || t == sqltypes.Bit:
		return "X'" + hex.EncodeToString(raw) + "'"
	}
	if plainText(raw) {
		return "'" + strings.ReplaceAll(string(raw), "'", "''") + "'"
	}
	if utf8.Valid(raw) {
		return "_utf8mb4 X'" + hex.EncodeToString(raw) + "'"
	}
	return "X'" + hex.EncodeToString(raw) + "'"
}

func plainNumber(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			return false
		}
	}
	return true
}

// plainText reports whether b is UTF-8 text without a backslash or a
// control character.
func plainText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r == '\\' || r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// bindText writes an execution's parameters into the prepared text as
// literals (literal) and returns the text and the
// parameters as written, for the record.
func bindText(parser *sqlparser.Parser, prep *vmysql.PrepareData) (string, []string, error) {
	marks, err := placeholders(parser, prep.PrepareStmt)
	if err != nil {
		return "", nil, err
	}
	if len(marks) != int(prep.ParamsCount) {
		return "", nil, fmt.Errorf("the statement has %d placeholders, %d parameters were prepared", len(marks), prep.ParamsCount)
	}
	var b strings.Builder
	params := make([]string, 0, len(marks))
	last := 0
	for i, at := range marks {
		bv, ok := prep.BindVars[fmt.Sprintf("v%d", i+1)]
		if !ok || bv == nil {
			return "", nil, fmt.Errorf("parameter %d has no value", i+1)
		}
		v, err := sqltypes.BindVariableToValue(bv)
		if err != nil {
			return "", nil, fmt.Errorf("parameter %d: %v", i+1, err)
		}
		lit := literal(v)
		b.WriteString(prep.PrepareStmt[last:at])
		b.WriteString(lit)
		params = append(params, lit)
		last = at + 1
	}
	b.WriteString(prep.PrepareStmt[last:])
	return b.String(), params, nil
}
