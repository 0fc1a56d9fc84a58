package mysql_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/testenv"
)

// TestBypassCorpusThroughProxy sends every case of the MySQL bypass
// corpus through the proxy, as a query and as a prepared statement, as
// an agent allowed to read: nothing in the database (rows, objects,
// server settings, users) changes, no server file is written, and the
// connection keeps working.
func TestBypassCorpusThroughProxy(t *testing.T) {
	for _, f := range testenv.MySQLOutfiles {
		if _, err := os.Stat(f); err == nil {
			t.Skipf("%s exists already; remove it to run this test", f)
		}
	}
	h := newHarness(t, harnessOptions{setup: testenv.MySQLBypassFixture()})
	side := h.admin()
	before := testenv.MySQLFingerprint(t, side)
	db := h.open("alice")
	ran, refused := 0, 0
	reasons := map[string]int{}
	for _, c := range testenv.MySQLBypassCorpus(t) {
		for _, prepared := range []bool{false, true} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			var err error
			if prepared {
				var st interface{ Close() error }
				s, perr := db.PrepareContext(ctx, c.SQL)
				err = perr
				if perr == nil {
					st = s
					rs, qerr := s.QueryContext(ctx)
					if err = qerr; qerr == nil {
						for rs.Next() {
						}
						err = rs.Close()
					}
					st.Close()
				}
			} else {
				rs, qerr := db.QueryContext(ctx, c.SQL)
				if err = qerr; qerr == nil {
					for rs.Next() {
					}
					err = rs.Close()
				}
			}
			cancel()
			if err == nil {
				ran++
			} else {
				refused++
				reasons[firstWords(err.Error())]++
			}
			if after := testenv.MySQLFingerprint(t, side); after != before {
				t.Fatalf("case %s (prepared %v) changed the database through the proxy:\n%s\nbefore: %s\nafter:  %s", c.Name, prepared, c.SQL, before, after)
			}
		}
	}
	for _, path := range testenv.MySQLOutfiles {
		if _, err := os.Stat(path); err == nil {
			os.Remove(path)
			t.Errorf("a corpus case wrote the server file %s through the proxy", path)
		}
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM users").Scan(&n); err != nil || n != 3 {
		t.Fatalf("the proxy no longer answers: %d, %v", n, err)
	}
	t.Logf("bypass corpus through the proxy: %d executions ran as reads, %d were refused: %v", ran, refused, reasons)
	if refused < 100 {
		t.Errorf("only %d executions refused", refused)
	}
}

const maskRules = `
  - name: agents-read
    subjects: {groups: [agents]}
    tools: [run_query]
    effect: allow
    read_only: true
    masking: pii
`

const maskProfile = `
  profiles:
    pii:
      columns:
        - {match: "*.customers.ssn", strategy: redact}
        - {match: "*.customers.card", strategy: partial, keep_last: 4}
      detectors: [email]
`

// TestMaskingThroughProxy: column rules hold through an alias, in both
// protocols; an output computed from a masked column is refused, naming
// it; detectors mask the rest.
func TestMaskingThroughProxy(t *testing.T) {
	h := newHarness(t, harnessOptions{rules: maskRules, masking: maskProfile, setup: []string{
		"CREATE TABLE customers (id int PRIMARY KEY, name text, email text, ssn varchar(11), card varchar(19))",
		"INSERT INTO customers VALUES (1, 'Ann', 'ann@example.com', '219-09-9999', '4111111111111111'), (2, 'Bob', NULL, '078-05-1120', '5500000000000004')",
	}})
	db := h.open("alice")
	ctx := context.Background()
	for _, q := range []struct {
		sql  string
		args []any
	}{{"SELECT name, ssn AS s, card AS c, email FROM customers WHERE id = 1", nil}, {"SELECT name, ssn AS s, card AS c, email FROM customers WHERE id = ?", []any{1}}} {
		var name, ssn, card, email string
		if err := db.QueryRowContext(ctx, q.sql, q.args...).Scan(&name, &ssn, &card, &email); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
		if name != "Ann" || strings.Contains(ssn, "9999") || !strings.HasSuffix(card, "1111") || strings.Contains(card, "41111111") || strings.Contains(email, "ann@") {
			t.Errorf("%s (args %v): not masked: %q %q %q %q", q.sql, q.args, name, ssn, card, email)
		}
	}
	for _, q := range []string{"SELECT reverse(ssn) FROM customers", "SELECT hex(card) AS h FROM customers", "SELECT concat(name, ssn) FROM customers",
		"SELECT group_concat(ssn) FROM customers", "SELECT JSON_OBJECT('s', ssn) FROM customers", "SELECT CAST(ssn AS CHAR(20)) FROM customers"} {
		rs, err := db.QueryContext(ctx, q)
		if err == nil {
			var got []string
			for rs.Next() {
				var v string
				rs.Scan(&v)
				got = append(got, v)
			}
			rs.Close()
			err = rs.Err()
			if err == nil {
				t.Errorf("%s: returned %q", q, got)
				continue
			}
		}
		me := mysqlErr(t, err)
		if me.Number != 1142 || !strings.Contains(me.Message, "masking") {
			t.Errorf("%s: error %d %q", q, me.Number, me.Message)
		}
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM customers").Scan(&n); err != nil || n != 2 {
		t.Fatalf("after the refusals: %d, %v", n, err)
	}
}

// firstWords is the start of an error, to count refusals by kind.
func firstWords(s string) string {
	if len(s) > 48 {
		s = s[:48]
	}
	return s
}
