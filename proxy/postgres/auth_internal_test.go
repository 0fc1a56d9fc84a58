package postgres

import (
	"testing"
)

// TestStartupParams: what a client may set at startup.
func TestStartupParams(t *testing.T) {
	cases := []struct {
		in   map[string]string
		code string
	}{
		{map[string]string{"user": "u", "database": "d", "application_name": "psql", "client_encoding": "UTF8", "DateStyle": "ISO, MDY"}, ""},
		{map[string]string{"client_encoding": "SQL_ASCII"}, ""},
		{map[string]string{"client_encoding": "LATIN1"}, "22023"},
		{map[string]string{"options": "-c search_path=x"}, "0A000"},
		{map[string]string{"options": "  "}, ""},
		{map[string]string{"replication": "true"}, "0A000"},
		{map[string]string{"replication": "false"}, ""},
		{map[string]string{"search_path": "evil"}, "0A000"},
		{map[string]string{"standard_conforming_strings": "off"}, "0A000"},
		{map[string]string{"_pq_.command_compression": "x"}, ""},
		{map[string]string{"session_replication_role": "replica"}, "0A000"},
	}
	for _, c := range cases {
		_, code, msg := startupParams(c.in)
		if code != c.code {
			t.Errorf("%v: got %q (%s), want %q", c.in, code, msg, c.code)
		}
	}
}

// TestParseTxn: the transaction control the proxy carries out.
func TestParseTxn(t *testing.T) {
	cases := map[string]string{
		"BEGIN": "begin",
		"begin isolation level serializable read only": "begin serializable ro",
		"START TRANSACTION READ WRITE":                 "begin rw",
		"COMMIT AND CHAIN":                             "commit chain",
		"END":                                          "commit",
		"ABORT":                                        "rollback",
		"SAVEPOINT a":                                  "savepoint a",
		"ROLLBACK TO SAVEPOINT a":                      "rollbackto a",
		"RELEASE a":                                    "release a",
		"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ":       "set repeatable read",
		"PREPARE TRANSACTION 'x'":                               "unsupported",
		"SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE": "unsupported",
		"SET search_path = x":                                   "none",
		"SELECT 1":                                              "none",
	}
	for sql, want := range cases {
		c := parseTxnUncached(sql)
		got := "none"
		if c != nil {
			got = map[txnKind]string{txnBegin: "begin", txnCommit: "commit", txnRollback: "rollback", txnSavepoint: "savepoint",
				txnRelease: "release", txnRollbackTo: "rollbackto", txnSetTransaction: "set", txnUnsupported: "unsupported"}[c.kind]
			if c.iso != "" {
				got += " " + c.iso
			}
			if c.readOnly == 1 {
				got += " ro"
			} else if c.readOnly == -1 {
				got += " rw"
			}
			if c.chain {
				got += " chain"
			}
			if c.savepoint != "" {
				got += " " + c.savepoint
			}
		}
		if got != want {
			t.Errorf("%s: got %q, want %q", sql, got, want)
		}
	}
}
