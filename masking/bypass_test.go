package masking_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/builtin"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/internal/testenv"
	"github.com/wardenhq/warden/masking"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/tools"
	toolsbuiltin "github.com/wardenhq/warden/tools/builtin"
	sqltools "github.com/wardenhq/warden/tools/sql"
)

// The secrets of the bypass corpus's customers table. Some are written so
// that no content detector would find them (a bare nine-digit SSN, a card
// number with dots, a salary): only column rules keep them in.
var corpusSecrets = []string{
	"219-09-9999", "078051120", "457-55-5462", // ssn
	"4111111111111111", "5555.5555.5555.4444", "378282246310005", // card_number
	"91234.56", "87000.00", "123456.78", // salary
}

const corpusSchema = `
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text, ssn text, card_number text, salary numeric, notes text);
INSERT INTO customers VALUES
  (1, 'Ada Lovelace', 'ada@example.com', '219-09-9999', '4111111111111111', 91234.56, 'prefers e-mail'),
  (2, 'Grace Hopper', 'grace@example.org', '078051120', '5555.5555.5555.4444', 87000.00, NULL),
  (3, 'Alan Turing', NULL, '457-55-5462', '378282246310005', 123456.78, 'call after 5');
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, total numeric);
INSERT INTO orders VALUES (10, 1, 19.90), (11, 2, 5.00), (12, 1, 7.25);
CREATE VIEW customer_contacts AS SELECT id, name, ssn, card_number FROM customers;
CREATE VIEW ssn_tails AS SELECT id, right(ssn, 4) AS tail FROM customers;
CREATE VIEW contacts_again AS SELECT c.ssn AS social FROM customer_contacts c;
CREATE MATERIALIZED VIEW customer_ssns AS SELECT id, ssn FROM customers;
CREATE FUNCTION get_ssn(int) RETURNS text LANGUAGE sql STABLE AS 'SELECT ssn FROM customers WHERE id = $1';
CREATE TABLE people (id int, ssn text) PARTITION BY RANGE (id);
CREATE TABLE people_a PARTITION OF people FOR VALUES FROM (0) TO (100);
INSERT INTO people VALUES (1, '219-09-9999');
ANALYZE customers;
`

const corpusConfig = `
connections:
  - {name: pg, kind: postgres, address: %q, database: %s, sslmode: disable, admin: {user: %s, password_file: %s}}
masking:
  profiles:
    pii:
      columns:
        - {match: "public.customers.ssn", strategy: redact, except: {groups: [dba]}}
        - {match: "*.customers.card_number", strategy: partial, keep_last: 4}
        - {match: "*.*.salary", strategy: "null"}
        - {match: "public.people.ssn", strategy: redact}
      detectors: [email]
rules:
  - name: read
    subjects: {groups: [agents, dba]}
    effect: allow
    masking: pii
`

type corpusEnv struct {
	p     *tools.Catalogue
	store *auditsqlite.Store
}

func newCorpusEnv(t *testing.T) *corpusEnv {
	t.Helper()
	pg := testenv.PG(t)
	db := pg.CreateDatabase(t, strings.Split(strings.TrimSpace(corpusSchema), ";\n")...)
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "w.yaml"), []byte(fmt.Sprintf(corpusConfig, pg.Addr, db, pg.User, pg.PasswordFile)))
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
	conns, err := builtin.Registry().Open(context.Background(), cfg.Connections, connectors.OpenOptions{Logger: slog.New(slog.DiscardHandler), SSHCA: cfg.SSHCA})
	if err != nil {
		t.Fatal(err)
	}
	p, err := toolsbuiltin.Open(gateway.Options{Connections: conns, Decider: engine, Masker: masker, Recorder: store, Limits: cfg.Limits})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Gateway().Close() })
	return &corpusEnv{p: p, store: store}
}

func (e *corpusEnv) query(group, sql string) (*sqltools.QueryResult, error) {
	caller := gateway.Caller{Principal: identity.Principal{Subject: group + "-user", Groups: []string{group}, Issuer: "local"},
		Transport: gateway.TransportStdio, Session: "s"}
	args, _ := json.Marshal(map[string]any{"connection": "pg", "sql": sql})
	res, err := e.p.Call(context.Background(), caller, tools.ToolRunQuery, args)
	if err != nil {
		return nil, err
	}
	return res.Structured.(*sqltools.QueryResult), nil
}

// Outcomes of a bypass attempt.
const (
	masked   = "masked"   // runs; no secret comes back
	refused  = "refused"  // refused by masking, with a reason naming the masked column
	byPolicy = "policy"   // refused earlier, by policy (the SQL classifier), with its reason
	withheld = "withheld" // fails at the target; the error's text, which would quote the value, is withheld
)

// TestBypassCorpus tries to get masked columns out through run_query
// against a real PostgreSQL. Each attempt states its expected outcome:
// masked (the result holds no secret, and the masked form where said),
// refused (no masking of the derived value can be sound, so the call is
// refused with a reason naming the column), or policy (the statement never
// runs: the classifier refuses it first).
func TestBypassCorpus(t *testing.T) {
	env := newCorpusEnv(t)
	tests := []struct {
		name, sql string
		want      string
		contains  string // in the result (masked) or the refusal (refused)
	}{
		{"plain column", "SELECT id, ssn FROM customers ORDER BY id", masked, "[REDACTED:ssn]"},
		{"alias", "SELECT ssn AS x FROM customers", masked, "[REDACTED:ssn]"},
		{"select star", "SELECT * FROM customers", masked, "[REDACTED:ssn]"},
		{"qualified star", "SELECT c.* FROM customers c", masked, "***********0005"},
		{"cast to text", "SELECT ssn::text FROM customers", masked, "[REDACTED:ssn]"},
		{"cast to varchar", "SELECT CAST(ssn AS varchar) FROM customers", masked, "[REDACTED:ssn]"},
		{"cast to char(n)", "SELECT ssn::char(3) FROM customers", refused, "public.customers.ssn"},
		{"cast to numeric", "SELECT card_number::numeric FROM customers WHERE id = 1", refused, "public.customers.card_number"},
		{"concatenation", "SELECT 'ssn: ' || ssn FROM customers", refused, "public.customers.ssn"},
		{"concat()", "SELECT concat(ssn, '') FROM customers", refused, "public.customers.ssn"},
		{"substring", "SELECT substring(ssn FROM 1 FOR 5) FROM customers", refused, "public.customers.ssn"},
		{"left", "SELECT left(card_number, 6) FROM customers", refused, "public.customers.card_number"},
		{"right", "SELECT right(ssn, 4) FROM customers", refused, "public.customers.ssn"},
		{"split_part", "SELECT split_part(ssn, '-', 3) FROM customers", refused, "public.customers.ssn"},
		{"upper", "SELECT upper(ssn) FROM customers", refused, "public.customers.ssn"},
		{"lower", "SELECT lower(card_number) FROM customers", refused, "public.customers.card_number"},
		{"reverse", "SELECT reverse(card_number) FROM customers", refused, "public.customers.card_number"},
		{"format", "SELECT format('%s', ssn) FROM customers", refused, "public.customers.ssn"},
		{"translate", "SELECT translate(ssn, '0123456789', 'abcdefghij') FROM customers", refused, "public.customers.ssn"},
		{"regexp_replace", "SELECT regexp_replace(ssn, '-', '', 'g') FROM customers", refused, "public.customers.ssn"},
		{"encode hex", "SELECT encode(ssn::bytea, 'hex') FROM customers", refused, "public.customers.ssn"},
		{"encode base64", "SELECT encode(convert_to(card_number, 'UTF8'), 'base64') FROM customers", refused, "public.customers.card_number"},
		{"md5", "SELECT md5(ssn) FROM customers", refused, "public.customers.ssn"},
		{"arithmetic", "SELECT salary * 1 FROM customers", refused, "public.customers.salary"},
		{"to_json", "SELECT to_json(ssn) FROM customers", refused, "public.customers.ssn"},
		{"row_to_json", "SELECT row_to_json(c) FROM customers c", refused, "public.customers."},
		{"json_build_object", "SELECT json_build_object('card', card_number) FROM customers", refused, "public.customers.card_number"},
		{"json_agg", "SELECT json_agg(ssn) FROM customers", refused, "public.customers.ssn"},
		{"json_agg of rows", "SELECT json_agg(c) FROM customers c", refused, "public.customers."},
		{"json_each_text of a row", "SELECT value FROM customers c, json_each_text(row_to_json(c))", refused, "public.customers."},
		{"xmlelement", "SELECT xmlelement(name s, ssn) FROM customers", refused, "public.customers.ssn"},
		{"array_agg", "SELECT array_agg(card_number) FROM customers", refused, "public.customers.card_number"},
		{"array constructor", "SELECT (ARRAY[ssn])[1] FROM customers", refused, "public.customers.ssn"},
		{"string_agg", "SELECT string_agg(ssn, ',') FROM customers", refused, "public.customers.ssn"},
		{"ordered-set aggregate", "SELECT mode() WITHIN GROUP (ORDER BY ssn) FROM customers", refused, "public.customers.ssn"},
		{"whole-row reference", "SELECT c FROM customers c", refused, "public.customers."},
		{"functional column notation", "SELECT ssn(c) FROM customers c", byPolicy, "function ssn is volatile or unknown"},
		{"field of a row", "SELECT (c).card_number FROM customers c", refused, "public.customers."},
		{"unnest in FROM", "SELECT x FROM customers, unnest(ARRAY[ssn]) AS x", refused, "public.customers.ssn"},
		{"CTE re-projection", "WITH t AS (SELECT ssn FROM customers) SELECT ssn FROM t", masked, "[REDACTED:ssn]"},
		{"CTE computing", "WITH t(s) AS (SELECT lower(ssn) FROM customers) SELECT s FROM t", refused, "public.customers.ssn"},
		{"subquery re-projection", "SELECT x FROM (SELECT ssn AS x FROM customers) s", masked, "[REDACTED:ssn]"},
		{"scalar subquery", "SELECT (SELECT ssn FROM customers WHERE id = 1) AS s", masked, "[REDACTED:ssn]"},
		{"correlated scalar subquery computing", "SELECT (SELECT upper(c2.ssn) FROM customers c2 WHERE c2.id = c.id) FROM customers c", refused, "public.customers.ssn"},
		{"recursive CTE", "WITH RECURSIVE r(n, s) AS (SELECT 1, ssn FROM customers UNION ALL SELECT n + 1, s FROM r WHERE n < 2) SELECT s FROM r", masked, "[REDACTED:ssn]"},
		{"UNION with a literal row", "SELECT ssn FROM customers UNION SELECT '123-45-6789'", masked, "[REDACTED:ssn]"},
		{"UNION of two masked columns", "SELECT ssn FROM customers UNION ALL SELECT card_number FROM customers", masked, "[REDACTED:ssn]"},
		{"EXCEPT", "SELECT ssn FROM customers EXCEPT SELECT ''", masked, "[REDACTED:ssn]"},
		{"view over the table", "SELECT ssn, card_number FROM customer_contacts", masked, "[REDACTED:ssn]"},
		{"view over a view", "SELECT social FROM contacts_again", masked, "[REDACTED:ssn]"},
		{"view computing", "SELECT tail FROM ssn_tails", refused, "public.customers.ssn"},
		{"materialized view", "SELECT ssn FROM customer_ssns", masked, "[REDACTED:ssn]"},
		{"partition of a masked table", "SELECT ssn FROM people_a", masked, "[REDACTED:ssn]"},
		{"DISTINCT", "SELECT DISTINCT ssn FROM customers", masked, "[REDACTED:ssn]"},
		{"GROUP BY", "SELECT ssn, count(*) FROM customers GROUP BY ssn", masked, "[REDACTED:ssn]"},
		{"CASE", "SELECT CASE WHEN id > 1 THEN ssn ELSE 'n/a' END FROM customers", masked, "[REDACTED:ssn]"},
		{"COALESCE", "SELECT COALESCE(ssn, card_number, 'none') FROM customers", masked, "[REDACTED:ssn]"},
		{"NULLIF", "SELECT NULLIF(ssn, '') FROM customers", masked, "[REDACTED:ssn]"},
		{"GREATEST", "SELECT GREATEST(ssn, name) FROM customers", masked, "[REDACTED:ssn]"},
		{"min/max", "SELECT min(ssn), max(card_number) FROM customers", masked, "[REDACTED:ssn]"},
		{"window lag", "SELECT lag(ssn) OVER (ORDER BY id) FROM customers", masked, "[REDACTED:ssn]"},
		{"join USING", "SELECT ssn FROM customers JOIN customer_contacts USING (id, ssn)", masked, "[REDACTED:ssn]"},
		{"null strategy", "SELECT salary, salary AS pay FROM customers", masked, ""},
		{"user-defined function", "SELECT get_ssn(1)", refused, "user-defined function"},
		{"statistics catalog", "SELECT most_common_vals::text FROM pg_stats WHERE tablename = 'customers'", refused, "samples of the values"},
		{"cast error message", "SELECT ssn::int FROM customers", refused, "public.customers.ssn"},
		{"e-mail by detector", "SELECT upper(email) FROM customers", masked, "[REDACTED:email]"},
		{"cast error in WHERE", "SELECT id FROM customers WHERE ssn::int > 0", withheld, "SQLSTATE 22P02"},
		{"cast error in ORDER BY", "SELECT id FROM customers ORDER BY card_number::numeric", withheld, "SQLSTATE 22P02"},
		{"cast error in a join condition", "SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id AND c.ssn::date IS NOT NULL", withheld, "SQLSTATE 22"},
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
			case withheld:
				if err == nil || !strings.Contains(err.Error(), "withheld") || !strings.Contains(err.Error(), tt.contains) {
					t.Errorf("%s: error = %v, want the message withheld", tt.sql, err)
				}
				for _, s := range corpusSecrets {
					if err != nil && strings.Contains(err.Error(), s) {
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
	if len(tests) < 30 {
		t.Errorf("corpus has %d attempts, want at least 30", len(tests))
	}
	t.Logf("bypass corpus: %d attempts: %d masked, %d refused by masking, %d refused by policy, %d failed with the error withheld",
		len(tests), n[masked], n[refused], n[byPolicy], n[withheld])
}

// TestCorpusDetails checks what the corpus only counts: strategies, the
// DBA exception, the audit record, and that inference is (documentedly)
// not stopped.
func TestCorpusDetails(t *testing.T) {
	env := newCorpusEnv(t)
	res, err := env.query("agents", "SELECT id, ssn, card_number, salary, email FROM customers ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{
		{float64(1), "[REDACTED:ssn]", "************1111", nil, "[REDACTED:email]"},
		{float64(2), "[REDACTED:ssn]", "****.****.****.4444", nil, "[REDACTED:email]"},
		{float64(3), "[REDACTED:ssn]", "***********0005", nil, nil},
	}
	got, _ := json.Marshal(res.Rows)
	wantJSON, _ := json.Marshal(want)
	if string(got) != string(wantJSON) {
		t.Errorf("rows = %s\nwant   %s", got, wantJSON)
	}
	wantSummary := map[string]int64{"column:public.customers.ssn": 3, "column:public.customers.card_number": 3,
		"column:public.customers.salary": 3, "detector:email": 2}
	if fmt.Sprint(res.Masked) != fmt.Sprint(wantSummary) {
		t.Errorf("masked = %v, want %v", res.Masked, wantSummary)
	}
	if err := env.store.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	ev, err := env.store.Get(context.Background(), res.AuditID)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ev.Masked) != fmt.Sprint(wantSummary) {
		t.Errorf("audit masked = %v", ev.Masked)
	}

	// A DBA is excepted from the ssn rule (not from the others).
	res, err = env.query("dba", "SELECT ssn, card_number FROM customers WHERE id = 1")
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows[0][0] != "219-09-9999" || res.Rows[0][1] != "************1111" {
		t.Errorf("dba row = %v", res.Rows[0])
	}
	// ... and may compute on it, but not on the card number.
	if _, err := env.query("dba", "SELECT upper(ssn) FROM customers"); err != nil {
		t.Errorf("dba computing on ssn: %v", err)
	}
	if _, err := env.query("dba", "SELECT upper(card_number) FROM customers"); !errors.Is(err, masking.ErrRefused) {
		t.Errorf("dba computing on card_number: %v", err)
	}

	// A refused call is recorded as refused, naming the column, never a value.
	_, err = env.query("agents", "SELECT reverse(ssn) FROM customers")
	var te *gateway.Error
	if !errors.As(err, &te) || te.AuditID == "" {
		t.Fatalf("refusal = %v", err)
	}
	env.store.Sync(context.Background())
	ev, err = env.store.Get(context.Background(), te.AuditID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ev.Error, "public.customers.ssn") || ev.Rows != 0 {
		t.Errorf("refused event = %+v", ev)
	}

	// Out of scope, and documented so: a filter on a masked column infers
	// facts about its values.
	res, err = env.query("agents", "SELECT id FROM customers WHERE ssn LIKE '219%'")
	if err != nil || res.RowCount != 1 {
		t.Errorf("inference through WHERE: %v %v", res, err)
	}
}
