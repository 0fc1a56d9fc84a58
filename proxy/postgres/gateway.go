package postgres

import (
	"context"
	hexenc "encoding/hex"
	"strconv"
	"unicode/utf8"

	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/internal/jsonenc"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/tools"
)

// How the proxy uses the gateway: a client connection is one
// gateway.Session (Open at login, End at disconnection); each statement
// it sends is classified once (at Parse, or per simple Query) and each
// execution costs two gateway calls, Authorize and the Grant's Finish.
// A statement is an operation of the run_query tool, which it is, arriving
// on the postgres-proxy transport.

// statement is one SQL statement a client sent, classified.
type statement struct {
	// SQL is the statement's own text.
	SQL   string
	Facts policy.Facts
}

// Tag is the statement's command tag as the classifier names it.
func (st *statement) Tag() string {
	if len(st.Facts.Parts) == 0 {
		return ""
	}
	return st.Facts.Parts[0].Tag
}

// Has reports whether the statement shows kind k.
func (st *statement) Has(k string) bool {
	for _, x := range st.Facts.Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// operation is the gateway operation of sql with params.
func (s *session) operation(sql string, params []param) gateway.Operation {
	return gateway.Operation{Tool: tools.ToolRunQuery, Arguments: proxyArgs(s.gs.Connection(), sql, params), Statement: sql}
}

// classify splits sql into its statements and classifies each. SQL that
// cannot be classified is refused — recorded, and returned as a
// *gateway.Error whose cause is the classifier's. Empty SQL (nothing but
// spaces and comments) has no statements.
func (s *session) classify(ctx context.Context, sql string) ([]statement, error) {
	if len(sql) <= s.gs.Limits().MaxSQLBytes && utf8.ValidString(sql) && isBlankSQL(sql) {
		return nil, nil
	}
	facts, err := s.gs.Classify(ctx, gateway.Operation{Tool: tools.ToolRunQuery, Statement: sql})
	if err != nil {
		return nil, err
	}
	if len(facts.Parts) == 1 {
		return []statement{{SQL: sql, Facts: facts}}, nil
	}
	out := make([]statement, 0, len(facts.Parts))
	for _, pt := range facts.Parts {
		text := sql[pt.Offset : pt.Offset+pt.Length]
		f, err := s.gs.Classify(ctx, gateway.Operation{Tool: tools.ToolRunQuery, Statement: text})
		if err != nil {
			return nil, err
		}
		out = append(out, statement{SQL: text, Facts: f})
	}
	return out, nil
}

// refuse records a statement the proxy refuses itself (a protocol feature
// Warden does not carry) and returns the error.
func (s *session) refuse(ctx context.Context, sql string, message string) error {
	return s.gs.Refuse(ctx, s.operation(sql, nil), gateway.CodeDenied, message)
}

// isBlankSQL reports whether sql holds only white space, comments and
// semicolons: PostgreSQL answers it with EmptyQueryResponse.
func isBlankSQL(sql string) bool {
	for i := 0; i < len(sql); i++ {
		switch c := sql[i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == ';':
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			depth := 0
			for ; i+1 < len(sql); i++ {
				if sql[i] == '/' && sql[i+1] == '*' {
					depth++
					i++
				} else if sql[i] == '*' && sql[i+1] == '/' {
					depth--
					i++
					if depth == 0 {
						break
					}
				}
			}
			if depth != 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// param is one bound parameter of a statement, for the audit record and
// the approval digest: text as sent, binary as hex; nil Value for NULL.
type param struct {
	Value  []byte
	Binary bool
}

// proxyArgs are the recorded arguments of a proxy statement: the exact
// call, for the audit trail and the approval digest (parameters included:
// an approval releases one statement with one set of values).
func proxyArgs(connection, sql string, params []param) []byte {
	b := make([]byte, 0, len(sql)+len(connection)+32+16*len(params))
	b = append(b, `{"connection":`...)
	b = jsonenc.AppendString(b, connection)
	b = append(b, `,"sql":`...)
	b = jsonenc.AppendString(b, sql)
	if len(params) > 0 {
		b = append(b, `,"params":[`...)
		for i, p := range params {
			if i > 0 {
				b = append(b, ',')
			}
			switch {
			case p.Value == nil:
				b = append(b, "null"...)
			case p.Binary:
				b = append(b, `{"binary":"`...)
				b = hexenc.AppendEncode(b, p.Value)
				b = append(b, `"}`...)
			case utf8.Valid(p.Value):
				b = jsonenc.AppendString(b, string(p.Value))
			default:
				b = append(b, `{"bytes":`...)
				b = strconv.AppendQuote(b, hexenc.EncodeToString(p.Value))
				b = append(b, '}')
			}
		}
		b = append(b, ']')
	}
	return append(b, '}')
}
