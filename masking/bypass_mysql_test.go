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

// mysqlCorpusSchema is the bypass corpus's database in MariaDB, with the
// same secrets as PostgreSQL's.
var mysqlCorpusSchema = []string{
	"CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text, ssn varchar(11), card_number varchar(20), salary decimal(10,2), notes text)",
	`INSERT INTO customers VALUES
  (1, 'Ada Lovelace', 'ada@example.com', '219-09-9999', '4111111111111111', 91234.56, 'prefers e-mail'),
  (2, 'Grace Hopper', 'grace@example.org', '078051120', '5555.5555.5555.4444', 87000.00, NULL),
  (3, 'Alan Turing', NULL, '457-55-5462', '378282246310005', 123456.78, 'call after 5')`,
	"CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total decimal(10,2))",
	"INSERT INTO orders VALUES (10, 1, 19.90), (11, 2, 5.00), (12, 1, 7.25)",
	"CREATE VIEW customer_contacts AS SELECT id, name, ssn, card_number FROM customers",
	"CREATE VIEW ssn_tails AS SELECT id, RIGHT(ssn, 4) AS tail FROM customers",
	"CREATE VIEW contacts_again AS SELECT c.ssn AS social FROM customer_contacts c",
	"CREATE FUNCTION get_ssn(x int) RETURNS text READS SQL DATA RETURN (SELECT ssn FROM customers WHERE id = x)",
	"ANALYZE TABLE customers PERSISTENT FOR ALL",
}

const mysqlCorpusConfig = `
connections:
  - {name: shop, kind: mysql, address: %q, database: %s, sslmode: disable, admin: {user: %s, password_file: %s}}
masking:
  profiles:
    pii:
      columns:
        - {match: "*.customers.ssn", strategy: redact, except: {groups: [dba]}}
        - {match: "*.customers.card_number", strategy: partial, keep_last: 4}
        - {match: "*.*.salary", strategy: "null"}
      detectors: [email]
rules:
  - name: read
    subjects: {groups: [agents, dba]}
    effect: allow
    masking: pii
  - name: write
    subjects: {groups: [writers]}
    effect: allow
    read_only: false
    masking: pii
`

func newMySQLCorpusEnv(t *testing.T) (*corpusEnv, string) {
	t.Helper()
	m := testenv.MySQL(t)
	db := m.CreateDatabase(t, mysqlCorpusSchema...)
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "w.yaml"), []byte(fmt.Sprintf(mysqlCorpusConfig, m.Addr, db, m.User, m.PasswordFile)))
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
	return &corpusEnv{p: p, store: store}, db
}

func (e *corpusEnv) mysqlQuery(group, sql string) (*sqltools.QueryResult, error) {
	caller := gateway.Caller{Principal: identity.Principal{Subject: group + "-user", Groups: []string{group}, Issuer: "local"},
		Transport: gateway.TransportStdio, Session: "s"}
	args, _ := json.Marshal(map[string]any{"connection": "shop", "sql": sql})
	res, err := e.p.Call(context.Background(), caller, tools.ToolRunQuery, args)
	if err != nil {
		return nil, err
	}
	return res.Structured.(*sqltools.QueryResult), nil
}

// TestMySQLBypassCorpus tries to get masked columns out through run_query
// against a real MariaDB, as TestBypassCorpus does against PostgreSQL:
// the lineage of MySQL statements (vitess's parser, the catalog from
// information_schema) masks re-projections and refuses computations,
// naming the column.
func TestMySQLBypassCorpus(t *testing.T) {
	env, db := newMySQLCorpusEnv(t)
	ssn, card, salary := db+".customers.ssn", db+".customers.card_number", db+".customers.salary"
	tests := []struct {
		name, sql string
		want      string
		contains  string
	}{
		{"plain column", "SELECT id, ssn FROM customers ORDER BY id", masked, "[REDACTED:ssn]"},
		{"alias", "SELECT ssn AS x FROM customers", masked, "[REDACTED:ssn]"},
		{"upper-case column", "SELECT SSN FROM customers", masked, "[REDACTED:ssn]"},
		{"backticks", "SELECT `ssn` AS `x` FROM `customers`", masked, "[REDACTED:ssn]"},
		{"qualified", "SELECT " + db + ".customers.ssn FROM " + db + ".customers", masked, "[REDACTED:ssn]"},
		{"select star", "SELECT * FROM customers", masked, "[REDACTED:ssn]"},
		{"qualified star", "SELECT c.* FROM customers c", masked, "***********0005"},
		{"cast to char", "SELECT CAST(ssn AS CHAR) FROM customers", masked, "[REDACTED:ssn]"},
		{"cast to char(n)", "SELECT CAST(ssn AS CHAR(3)) FROM customers", refused, ssn},
		{"cast to binary", "SELECT CAST(ssn AS BINARY) FROM customers", refused, ssn},
		{"convert to signed", "SELECT CONVERT(card_number, SIGNED) FROM customers", refused, card},
		{"convert using", "SELECT CONVERT(ssn USING latin1) FROM customers", refused, ssn},
		{"collate", "SELECT ssn COLLATE utf8mb4_bin FROM customers", masked, "[REDACTED:ssn]"},
		{"concat()", "SELECT CONCAT(ssn, '') FROM customers", refused, ssn},
		{"concat_ws()", "SELECT CONCAT_WS('-', name, ssn) FROM customers", refused, ssn},
		{"reverse", "SELECT REVERSE(card_number) FROM customers", refused, card},
		{"hex", "SELECT HEX(ssn) FROM customers", refused, ssn},
		{"to_base64", "SELECT TO_BASE64(card_number) FROM customers", refused, card},
		{"substring", "SELECT SUBSTRING(ssn, 1, 5) FROM customers", refused, ssn},
		{"substr", "SELECT SUBSTR(ssn, 2) FROM customers", refused, ssn},
		{"left", "SELECT LEFT(card_number, 6) FROM customers", refused, card},
		{"right", "SELECT RIGHT(ssn, 4) FROM customers", refused, ssn},
		{"substring_index", "SELECT SUBSTRING_INDEX(ssn, '-', -1) FROM customers", refused, ssn},
		{"lpad", "SELECT LPAD(ssn, 20, '*') FROM customers", refused, ssn},
		{"replace", "SELECT REPLACE(ssn, '-', '') FROM customers", refused, ssn},
		{"upper", "SELECT UPPER(ssn) FROM customers", refused, ssn},
		{"insert()", "SELECT INSERT(ssn, 1, 0, 'x') FROM customers", refused, ssn},
		{"trim", "SELECT TRIM(ssn) FROM customers", refused, ssn},
		{"md5", "SELECT MD5(ssn) FROM customers", refused, ssn},
		{"aes_encrypt", "SELECT AES_ENCRYPT(ssn, 'k') FROM customers", refused, ssn},
		{"arithmetic", "SELECT salary * 1 FROM customers", refused, salary},
		{"string as number", "SELECT card_number + 0 FROM customers", refused, card},
		{"group_concat", "SELECT GROUP_CONCAT(ssn) FROM customers", refused, ssn},
		{"group_concat ordered", "SELECT GROUP_CONCAT(ssn ORDER BY id SEPARATOR ';') FROM customers", refused, ssn},
		{"json_object", "SELECT JSON_OBJECT('card', card_number) FROM customers", refused, card},
		{"json_array", "SELECT JSON_ARRAY(ssn) FROM customers", refused, ssn},
		{"json_arrayagg", "SELECT JSON_ARRAYAGG(ssn) FROM customers", refused, ssn},
		{"json_quote", "SELECT JSON_QUOTE(ssn) FROM customers", refused, ssn},
		{"json_table", "SELECT j.v FROM customers c, JSON_TABLE(JSON_ARRAY(c.ssn), '$[*]' COLUMNS (v varchar(20) PATH '$')) j", refused, ssn},
		{"user variable", "SELECT @s := ssn FROM customers", byPolicy, "user variable"},
		{"user variable read", "SELECT @s", refused, "variable"},
		{"CTE re-projection", "WITH t AS (SELECT ssn FROM customers) SELECT ssn FROM t", masked, "[REDACTED:ssn]"},
		{"CTE computing", "WITH t (s) AS (SELECT LOWER(ssn) FROM customers) SELECT s FROM t", refused, ssn},
		{"derived table", "SELECT x FROM (SELECT ssn AS x FROM customers) s", masked, "[REDACTED:ssn]"},
		{"derived table computing", "SELECT x FROM (SELECT HEX(ssn) AS x FROM customers) s", refused, ssn},
		{"scalar subquery", "SELECT (SELECT ssn FROM customers WHERE id = 1) AS s", masked, "[REDACTED:ssn]"},
		{"correlated subquery computing", "SELECT (SELECT UPPER(c2.ssn) FROM customers c2 WHERE c2.id = c.id) FROM customers c", refused, ssn},
		{"recursive CTE", "WITH RECURSIVE r (n, s) AS (SELECT 1, ssn FROM customers UNION ALL SELECT n + 1, s FROM r WHERE n < 2) SELECT s FROM r", masked, "[REDACTED:ssn]"},
		{"UNION with a literal row", "SELECT ssn FROM customers UNION SELECT '123-45-6789'", masked, "[REDACTED:ssn]"},
		{"UNION of two masked columns", "SELECT ssn FROM customers UNION ALL SELECT card_number FROM customers", masked, "[REDACTED:ssn]"},
		{"view over the table", "SELECT ssn, card_number FROM customer_contacts", masked, "[REDACTED:ssn]"},
		{"view over a view", "SELECT social FROM contacts_again", masked, "[REDACTED:ssn]"},
		{"view computing", "SELECT tail FROM ssn_tails", refused, ssn},
		{"DISTINCT", "SELECT DISTINCT ssn FROM customers", masked, "[REDACTED:ssn]"},
		{"GROUP BY", "SELECT ssn, count(*) FROM customers GROUP BY ssn", masked, "[REDACTED:ssn]"},
		{"CASE", "SELECT CASE WHEN id > 1 THEN ssn ELSE 'n/a' END FROM customers", masked, "[REDACTED:ssn]"},
		{"IF", "SELECT IF(id > 1, ssn, name) FROM customers", masked, "[REDACTED:ssn]"},
		{"COALESCE", "SELECT COALESCE(ssn, card_number, 'none') FROM customers", masked, "[REDACTED:ssn]"},
		{"IFNULL", "SELECT IFNULL(ssn, 'x') FROM customers", masked, "[REDACTED:ssn]"},
		{"NULLIF", "SELECT NULLIF(ssn, '') FROM customers", masked, "[REDACTED:ssn]"},
		{"GREATEST", "SELECT GREATEST(ssn, name) FROM customers", masked, "[REDACTED:ssn]"},
		{"min/max", "SELECT MIN(ssn), MAX(card_number) FROM customers", masked, "[REDACTED:ssn]"},
		{"window lag", "SELECT LAG(ssn) OVER (ORDER BY id) FROM customers", masked, "[REDACTED:ssn]"},
		{"join USING", "SELECT * FROM customers JOIN customer_contacts USING (id, ssn)", masked, "[REDACTED:ssn]"},
		{"natural join", "SELECT * FROM customers NATURAL JOIN customer_contacts", masked, "[REDACTED:ssn]"},
		{"null strategy", "SELECT salary, salary AS pay FROM customers", masked, ""},
		{"count of a masked column", "SELECT count(ssn) FROM customers", masked, "3"},
		{"stored function", "SELECT get_ssn(1)", refused, "stored function get_ssn"},
		{"stored function qualified", "SELECT " + db + ".get_ssn(1)", refused, "stored function " + db + ".get_ssn"},
		{"column statistics", "SELECT min_value FROM mysql.column_stats WHERE table_name = 'customers'", refused, "values of every analysed column"},
		{"executable comment", "SELECT /*!50000 ssn AS */ name FROM customers", refused, "executable comment"},
		{"e-mail by detector", "SELECT UPPER(email) FROM customers", masked, "[REDACTED:email]"},
		{"strict mode error quoting a value", "INSERT INTO orders (id, customer_id, total) SELECT 100 + id, id, ssn FROM customers", withheld, "SQLSTATE"},
		{"describe", "SHOW COLUMNS FROM customers", refused, "cannot be traced"},
	}
	n := map[string]int{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n[tt.want]++
			group := "agents"
			if strings.HasPrefix(tt.sql, "INSERT") {
				group = "writers"
			}
			res, err := env.mysqlQuery(group, tt.sql)
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
				var te *gateway.Error
				if !errors.As(err, &te) || te.Code != gateway.CodeDenied || !errors.Is(err, masking.ErrRefused) || !strings.Contains(te.Message, tt.contains) {
					b := ""
					if res != nil {
						j, _ := json.Marshal(res.Rows)
						b = string(j)
					}
					t.Errorf("%s: error = %v (rows %s), want a masking refusal naming %q", tt.sql, err, b, tt.contains)
				}
			case withheld:
				if err == nil || !strings.Contains(err.Error(), "withheld") || !strings.Contains(err.Error(), tt.contains) {
					t.Errorf("%s: error = %v, want the message withheld", tt.sql, err)
				}
			case byPolicy:
				var te *gateway.Error
				if !errors.As(err, &te) || te.Code != gateway.CodeDenied || errors.Is(err, masking.ErrRefused) || !strings.Contains(te.Message, tt.contains) {
					t.Errorf("%s: error = %v, want a policy refusal naming %q", tt.sql, err, tt.contains)
				}
			}
			if err != nil {
				for _, s := range corpusSecrets {
					if strings.Contains(err.Error(), s) {
						t.Errorf("%s: the error holds secret %q", tt.sql, s)
					}
				}
			}
		})
	}
	t.Logf("MySQL bypass corpus: %d attempts: %d masked, %d refused by masking, %d refused by policy, %d failed with the error withheld",
		len(tests), n[masked], n[refused], n[byPolicy], n[withheld])

	// A DBA, whom the ssn rule excepts, sees it; the other rules still apply.
	res, err := env.mysqlQuery("dba", "SELECT ssn, card_number FROM customers WHERE id = 1")
	if err != nil || len(res.Rows) != 1 || res.Rows[0][0] != "219-09-9999" || res.Rows[0][1] == "4111111111111111" {
		t.Errorf("dba: %v %v", res, err)
	}
}
