package masking_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/builtin"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/masking"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/tools"
	toolsbuiltin "github.com/wardenhq/warden/tools/builtin"
	sqltools "github.com/wardenhq/warden/tools/sql"
)

// failed: the statement fails at the target (SQLite reads $a$ as a
// parameter the call does not give), before any row.
const failed = "failed"

// The SQLite corpus's customers are the PostgreSQL corpus's (corpusSecrets).
var sqliteCorpusSchema = []string{
	`CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, ssn TEXT, card_number TEXT, salary NUMERIC, notes TEXT)`,
	`INSERT INTO customers VALUES
	  (1, 'Ada Lovelace', 'ada@example.com', '219-09-9999', '4111111111111111', 91234.56, 'prefers e-mail'),
	  (2, 'Grace Hopper', 'grace@example.org', '078051120', '5555.5555.5555.4444', 87000.00, NULL),
	  (3, 'Alan Turing', NULL, '457-55-5462', '378282246310005', 123456.78, 'call after 5')`,
	`CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers, total NUMERIC)`,
	`INSERT INTO orders VALUES (10, 1, 19.90), (11, 2, 5.00), (12, 1, 7.25)`,
	`CREATE VIEW customer_contacts AS SELECT id, name, ssn, card_number FROM customers`,
	`CREATE VIEW ssn_tails AS SELECT id, substr(ssn, -4) AS tail FROM customers`,
	`CREATE VIEW contacts_again AS SELECT c.ssn AS social FROM customer_contacts c`,
	`CREATE VIEW renamed(key, social) AS SELECT id, ssn FROM customers`,
	`CREATE VIEW bracketed AS SELECT [ssn] FROM customers`,
	`CREATE INDEX customers_ssn ON customers (ssn)`,
	`ANALYZE`,
}

const sqliteCorpusConfig = `
connections:
  - {name: lite, kind: sqlite, path: %q}
masking:
  profiles:
    pii:
      columns:
        - {match: "main.customers.ssn", strategy: redact, except: {groups: [dba]}}
        - {match: "*.customers.card_number", strategy: partial, keep_last: 4}
        - {match: "*.*.salary", strategy: "null"}
      detectors: [email]
rules:
  - name: read
    subjects: {groups: [agents, dba]}
    effect: allow
    masking: pii
`

type sqliteCorpusEnv struct {
	p     *tools.Catalogue
	store *auditsqlite.Store
}

func newSQLiteCorpusEnv(t testing.TB) *sqliteCorpusEnv {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "target.db")
	db, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sqliteCorpusSchema {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	db.Close()
	cfg, err := config.Parse(filepath.Join(dir, "w.yaml"), []byte(fmt.Sprintf(sqliteCorpusConfig, file)))
	if err != nil {
		t.Fatal(err)
	}
	engine, err := policy.Compile(cfg, tools.Names(toolsbuiltin.Tools()))
	if err != nil {
		t.Fatal(err)
	}
	masker, err := masking.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	store, err := auditsqlite.Open(context.Background(), filepath.Join(dir, "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	conns, err := builtin.Registry().Open(context.Background(), cfg.Connections, connectors.OpenOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	p, err := toolsbuiltin.Open(gateway.Options{Connections: conns, Decider: engine, Masker: masker, Recorder: store, Limits: cfg.Limits})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Gateway().Close() })
	return &sqliteCorpusEnv{p: p, store: store}
}

func (e *sqliteCorpusEnv) query(group, sql string) (*sqltools.QueryResult, error) {
	caller := gateway.Caller{Principal: identity.Principal{Subject: group + "-user", Groups: []string{group}, Issuer: "local"},
		Transport: gateway.TransportStdio, Session: "s"}
	args, _ := json.Marshal(map[string]any{"connection": "lite", "sql": sql})
	res, err := e.p.Call(context.Background(), caller, tools.ToolRunQuery, args)
	if err != nil {
		return nil, err
	}
	return res.Structured.(*sqltools.QueryResult), nil
}

// TestSQLiteBypassCorpus is TestBypassCorpus on SQLite: attempts to get
// masked columns out through run_query, each with its expected outcome,
// run for real against a SQLite file through the whole pipeline.
func TestSQLiteBypassCorpus(t *testing.T) {
	env := newSQLiteCorpusEnv(t)
	const ssn, card, salary = "main.customers.ssn", "main.customers.card_number", "main.customers.salary"
	tests := []struct {
		name, sql string
		want      string
		contains  string // in the result (masked) or the refusal (refused)
	}{
		{"plain column", "SELECT id, ssn FROM customers ORDER BY id", masked, "[REDACTED:ssn]"},
		{"alias", "SELECT ssn AS x FROM customers", masked, "[REDACTED:ssn]"},
		{"alias without AS", "SELECT ssn x FROM customers", masked, "[REDACTED:ssn]"},
		{"double-quoted column", `SELECT "ssn" FROM customers`, masked, "[REDACTED:ssn]"},
		{"upper-case names", "SELECT SSN FROM CUSTOMERS", masked, "[REDACTED:ssn]"},
		{"qualified", "SELECT main.customers.ssn FROM main.customers", masked, "[REDACTED:ssn]"},
		{"select star", "SELECT * FROM customers", masked, "[REDACTED:ssn]"},
		{"qualified star", "SELECT c.* FROM customers c", masked, "***********0005"},
		{"cast to text", "SELECT CAST(ssn AS TEXT) FROM customers", refused, ssn},
		{"cast to varchar", "SELECT CAST(ssn AS varchar) FROM customers", refused, ssn},
		{"cast to integer", "SELECT CAST(ssn AS INTEGER) FROM customers", refused, ssn},
		{"cast to blob", "SELECT CAST(card_number AS BLOB) FROM customers", refused, card},
		{"hex", "SELECT hex(ssn), hex(email) FROM customers", refused, ssn},
		{"hex of a card", "SELECT hex(card_number) FROM customers", refused, card},
		{"replace", "SELECT replace(ssn, '-', '') FROM customers", refused, ssn},
		{"concatenation", "SELECT 'ssn: ' || ssn FROM customers", refused, ssn},
		{"concat()", "SELECT concat(ssn, '') FROM customers", refused, ssn},
		{"concat_ws", "SELECT concat_ws('-', card_number, 'x') FROM customers", refused, card},
		{"substr", "SELECT substr(ssn, 1, 5) FROM customers", refused, ssn},
		{"substring", "SELECT substring(card_number, 1, 6) FROM customers", refused, card},
		{"negative substr", "SELECT substr(ssn, -4) FROM customers", refused, ssn},
		{"upper", "SELECT upper(ssn) FROM customers", refused, ssn},
		{"lower", "SELECT lower(card_number) FROM customers", refused, card},
		{"trim", "SELECT trim(ssn) FROM customers", refused, ssn},
		{"ltrim of digits", "SELECT ltrim(card_number, '0123') FROM customers", refused, card},
		{"printf", "SELECT printf('%s', ssn) FROM customers", refused, ssn},
		{"format", "SELECT format('%s', ssn) FROM customers", refused, ssn},
		{"quote", "SELECT quote(ssn) FROM customers", refused, ssn},
		{"unicode", "SELECT unicode(ssn) FROM customers", refused, ssn},
		{"char of unicode", "SELECT char(unicode(substr(ssn, 1, 1))) FROM customers", refused, ssn},
		{"instr", "SELECT instr(ssn, '9') FROM customers", refused, ssn},
		{"length", "SELECT length(card_number) FROM customers", refused, card},
		{"arithmetic", "SELECT salary * 1 FROM customers", refused, salary},
		{"unary plus", "SELECT +ssn FROM customers", refused, ssn},
		{"typeof", "SELECT typeof(ssn) FROM customers", refused, ssn},
		{"json_object", "SELECT json_object('card', card_number) FROM customers", refused, card},
		{"json_array", "SELECT json_array(ssn) FROM customers", refused, ssn},
		{"json_quote", "SELECT json_quote(ssn) FROM customers", refused, ssn},
		{"json operator", "SELECT json_array(ssn) ->> 0 FROM customers", refused, ssn},
		{"json_group_array", "SELECT json_group_array(ssn) FROM customers", refused, ssn},
		{"group_concat", "SELECT group_concat(ssn, ',') FROM customers", refused, ssn},
		{"string_agg", "SELECT string_agg(card_number, ',') FROM customers", refused, card},
		{"json_each of an array", "SELECT value FROM customers, json_each(json_array(ssn))", refused, ssn},
		{"zeroblob concatenation", "SELECT ssn || zeroblob(0) FROM customers", refused, ssn},
		{"like pattern output", "SELECT ssn LIKE '219%' FROM customers", refused, ssn},
		{"comparison output", "SELECT ssn > '3' FROM customers", refused, ssn},
		{"CTE re-projection", "WITH t AS (SELECT ssn FROM customers) SELECT ssn FROM t", masked, "[REDACTED:ssn]"},
		{"CTE computing", "WITH t(s) AS (SELECT lower(ssn) FROM customers) SELECT s FROM t", refused, ssn},
		{"subquery re-projection", "SELECT x FROM (SELECT ssn AS x FROM customers) s", masked, "[REDACTED:ssn]"},
		{"subquery computing", "SELECT x FROM (SELECT hex(ssn) AS x FROM customers)", refused, ssn},
		{"scalar subquery", "SELECT (SELECT ssn FROM customers WHERE id = 1) AS s", masked, "[REDACTED:ssn]"},
		{"correlated scalar subquery computing", "SELECT (SELECT upper(c2.ssn) FROM customers c2 WHERE c2.id = c.id) FROM customers c", refused, ssn},
		{"recursive CTE", "WITH RECURSIVE r(n, s) AS (SELECT 1, ssn FROM customers UNION ALL SELECT n + 1, s FROM r WHERE n < 2) SELECT s FROM r", masked, "[REDACTED:ssn]"},
		{"recursive CTE computing", "WITH RECURSIVE r(n, s) AS (SELECT 1, ssn FROM customers UNION ALL SELECT n + 1, substr(s, 2) FROM r WHERE n < 3) SELECT s FROM r", refused, ssn},
		{"UNION with a literal row", "SELECT ssn FROM customers UNION SELECT '123-45-6789'", masked, "[REDACTED:ssn]"},
		{"UNION hiding behind a plain column", "SELECT name FROM customers UNION ALL SELECT ssn FROM customers", masked, "[REDACTED:ssn]"},
		{"UNION hiding a computed arm", "SELECT name FROM customers UNION ALL SELECT hex(ssn) FROM customers", refused, ssn},
		{"UNION of two masked columns", "SELECT ssn FROM customers UNION ALL SELECT card_number FROM customers", masked, "[REDACTED:ssn]"},
		{"EXCEPT", "SELECT ssn FROM customers EXCEPT SELECT ''", masked, "[REDACTED:ssn]"},
		{"INTERSECT", "SELECT ssn FROM customers INTERSECT SELECT ssn FROM customers", masked, "[REDACTED:ssn]"},
		{"VALUES in a CTE", "WITH v(x) AS (VALUES ('a')) SELECT ssn FROM customers, v", masked, "[REDACTED:ssn]"},
		{"view over the table", "SELECT ssn, card_number FROM customer_contacts", masked, "[REDACTED:ssn]"},
		{"view over a view", "SELECT social FROM contacts_again", masked, "[REDACTED:ssn]"},
		{"view with column names", "SELECT social FROM renamed", masked, "[REDACTED:ssn]"},
		{"view computing", "SELECT tail FROM ssn_tails", refused, ssn},
		{"view PostgreSQL's grammar cannot read", "SELECT * FROM bracketed", refused, "main.bracketed has a definition masking cannot parse"},
		{"DISTINCT", "SELECT DISTINCT ssn FROM customers", masked, "[REDACTED:ssn]"},
		{"GROUP BY", "SELECT ssn, count(*) FROM customers GROUP BY ssn", masked, "[REDACTED:ssn]"},
		{"CASE", "SELECT CASE WHEN id > 1 THEN ssn ELSE 'n/a' END FROM customers", masked, "[REDACTED:ssn]"},
		{"CASE computing", "SELECT CASE WHEN id > 1 THEN hex(ssn) END FROM customers", refused, ssn},
		{"COALESCE", "SELECT COALESCE(ssn, card_number, 'none') FROM customers", masked, "[REDACTED:ssn]"},
		{"NULLIF", "SELECT NULLIF(ssn, '') FROM customers", masked, "[REDACTED:ssn]"},
		{"ifnull", "SELECT ifnull(ssn, '') FROM customers", refused, ssn},
		{"iif", "SELECT iif(id > 1, ssn, '') FROM customers", refused, ssn},
		{"min/max", "SELECT min(ssn), max(card_number) FROM customers", masked, "[REDACTED:ssn]"},
		{"window lag", "SELECT lag(ssn) OVER (ORDER BY id) FROM customers", masked, "[REDACTED:ssn]"},
		{"window first_value", "SELECT first_value(card_number) OVER (ORDER BY id) FROM customers", masked, "************1111"},
		{"join USING", "SELECT ssn FROM customers JOIN customer_contacts USING (id, ssn)", masked, "[REDACTED:ssn]"},
		{"natural join", "SELECT ssn FROM customers NATURAL JOIN customer_contacts", masked, "[REDACTED:ssn]"},
		{"null strategy", "SELECT salary, salary AS pay FROM customers", masked, ""},
		{"RETURNING-free read of raw pages", "SELECT hex(data) FROM sqlite_dbpage", byPolicy, "raw pages"},
		{"statistics samples", "SELECT hex(sample) FROM sqlite_stat4", refused, "samples of indexed columns' values"},
		{"backtick identifier", "SELECT `ssn` FROM customers", refused, ssn},
		{"bracket identifier", "SELECT [ssn] FROM customers", refused, ssn},
		{"LIMIT with a comma", "SELECT ssn FROM customers LIMIT 0, 2", refused, ssn},
		{"nested comment PostgreSQL reads otherwise", "SELECT /* /* */ hex(ssn) AS a -- */ ssn AS a\n FROM customers", refused, ssn},
		{"dollar quotes PostgreSQL reads otherwise", "SELECT $a$, hex(ssn) AS y FROM customers -- $a$", failed, ""},
		{"GLOB in the output", "SELECT ssn GLOB '2*' FROM customers", refused, ssn},
		{"two statements", "SELECT 1; SELECT ssn FROM customers", byPolicy, "2 statements"},
		{"e-mail by detector", "SELECT upper(email) FROM customers", masked, "[REDACTED:email]"},
		{"no masked column read: detectors only", "SELECT hex(name), replace(email, '@', ' at ') FROM customers", masked, "416461"},
		{"masked column only in WHERE", "SELECT id FROM customers WHERE ssn LIKE '219%'", masked, "1"},
		{"masked column only in ORDER BY", "SELECT name FROM customers ORDER BY card_number", masked, "Ada"},
		{"count of a masked column", "SELECT count(ssn) FROM customers", masked, "3"},
		{"pragma table_info", "PRAGMA table_info(customers)", masked, "card_number"},
	}
	n := map[string]int{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n[tt.want]++
			res, err := env.query("agents", tt.sql)
			switch tt.want {
			case masked:
				if err != nil {
					t.Fatalf("%s: %v", tt.sql, err)
				}
				b, _ := json.Marshal(res.Rows)
				for _, s := range corpusSecrets {
					if strings.Contains(string(b), s) {
						t.Errorf("%s: secret %q came back: %s", tt.sql, s, b)
					}
				}
				if !strings.Contains(string(b), tt.contains) {
					t.Errorf("%s: result lacks %q: %s", tt.sql, tt.contains, b)
				}
			case refused:
				if err == nil {
					b, _ := json.Marshal(res.Rows)
					t.Fatalf("%s: not refused: %s", tt.sql, b)
				}
				var te *gateway.Error
				if !errors.As(err, &te) || te.Code != gateway.CodeDenied || !errors.Is(err, masking.ErrRefused) || !strings.Contains(te.Message, tt.contains) {
					t.Errorf("%s: error = %v, want a masking refusal naming %q", tt.sql, err, tt.contains)
				}
				for _, s := range corpusSecrets {
					if strings.Contains(err.Error(), s) {
						t.Errorf("%s: the refusal holds secret %q", tt.sql, s)
					}
				}
			case failed:
				if err == nil || errors.Is(err, masking.ErrRefused) {
					t.Fatalf("%s: error = %v, want the call to fail", tt.sql, err)
				}
				for _, s := range corpusSecrets {
					if strings.Contains(err.Error(), s) {
						t.Errorf("%s: the error holds secret %q", tt.sql, s)
					}
				}
			case byPolicy:
				var te *gateway.Error
				if !errors.As(err, &te) || te.Code != gateway.CodeDenied || errors.Is(err, masking.ErrRefused) || !strings.Contains(te.Message, tt.contains) {
					t.Errorf("%s: error = %v, want a policy refusal naming %q", tt.sql, err, tt.contains)
				}
			}
		})
	}
	if len(tests) < 60 {
		t.Errorf("corpus has %d attempts, want at least 60", len(tests))
	}
	t.Logf("SQLite bypass corpus: %d attempts: %d masked, %d refused by masking, %d refused by policy, %d failed at the target",
		len(tests), n[masked], n[refused], n[byPolicy], n[failed])
}
