package mysql_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/internal/testenv"
)

// bypassTables are the tables the MySQL bypass corpus names.
var bypassTables = []string{"a", "accounts", "archive", "audit_log", "b", "jobs", "orders", "secrets", "t", "t2", "users", "vault", "x"}

// bypassFixture creates every table, sequence, function and procedure the
// corpus names, with rows, so that its statements reach execution instead
// of failing on a missing object. The routines write, as an attacker's
// would.
func bypassFixture() []string {
	var s []string
	for _, t := range bypassTables {
		s = append(s,
			"CREATE TABLE "+t+" (id int PRIMARY KEY, a int, name text, balance decimal(10,2) DEFAULT 0, email text, password text, status text, v int, data text, user text, authentication_string text)",
			"INSERT INTO "+t+" (id, a, name, balance, email, password, status, v, data) SELECT seq, seq, CONCAT('n', seq), seq * 10, CONCAT('e', seq, '@example.com'), CONCAT('pw', seq), 'active', seq, 'd' FROM seq_1_to_3")
	}
	return append(s,
		"CREATE SEQUENCE seq",
		"CREATE FUNCTION do_evil(x int) RETURNS int MODIFIES SQL DATA BEGIN DELETE FROM users; RETURN 1; END",
		"CREATE FUNCTION purge_users(x int) RETURNS int READS SQL DATA BEGIN DELETE FROM users; RETURN 1; END",
		"CREATE PROCEDURE cleanup() BEGIN DELETE FROM users; END",
	)
}

// bypassCorpus reads the MySQL classifier's bypass corpus.
func bypassCorpus(t testing.TB) []testenv.CorpusCase {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	return testenv.LoadCorpus(t, filepath.Join(filepath.Dir(here), "..", "..", "policy", "sqlclass", "mysql", "testdata", "bypass.txt"))
}

// externalEffects name what corpus cases reach outside the database's
// data with: server files, server-wide settings, other connections,
// locks, time. A read-only transaction does not stop them (the
// classifier does, and a minted user without those privileges).
var externalEffects = []string{"outfile", "dumpfile", "global", "kill", "flush", "purge", "shutdown", "install",
	"sleep", "benchmark", "get_lock", "load_file", "persist"}

func externalEffect(sql string) bool {
	low := strings.ToLower(sql)
	for _, x := range externalEffects {
		if strings.Contains(low, x) {
			return true
		}
	}
	return false
}

// fingerprint summarises everything a write could change: every table's
// rows (CHECKSUM TABLE), the sequence, the database's objects, the
// server's databases, users and global settings.
func fingerprint(t testing.TB, side *sql.DB) string {
	t.Helper()
	var b strings.Builder
	for _, tb := range bypassTables {
		var name string
		var sum sql.NullInt64
		if err := side.QueryRow("CHECKSUM TABLE "+tb).Scan(&name, &sum); err != nil {
			t.Fatalf("fingerprint: %v", err)
		}
		fmt.Fprintf(&b, "%s=%v ", tb, sum)
	}
	var rest string
	err := side.QueryRow(`SELECT CONCAT_WS(' | ',
  (SELECT CONCAT('seq=', next_not_cached_value) FROM seq),
  (SELECT CONCAT('tables=', count(*)) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()),
  (SELECT CONCAT('routines=', count(*)) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()),
  (SELECT CONCAT('triggers=', count(*)) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()),
  (SELECT CONCAT('events=', count(*)) FROM information_schema.EVENTS),
  (SELECT CONCAT('schemata=', count(*)) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT LIKE 'warden\_test\_%'),
  (SELECT CONCAT('users=', count(*)) FROM mysql.user WHERE User NOT LIKE 'warden\_%'),
  CONCAT_WS(',', @@global.read_only, @@global.general_log, @@global.general_log_file, @@global.local_infile,
    @@global.sql_mode, @@global.max_connections, @@global.slow_query_log, @@global.event_scheduler))`).Scan(&rest)
	if err != nil {
		t.Fatalf("fingerprint: %v", err)
	}
	return b.String() + rest
}

// outfiles are the server files the corpus's INTO OUTFILE cases name.
var outfiles = []string{"/tmp/t.txt", "/tmp/h", "/tmp/u"}

func runCase(c connectors.SQL, req connectors.QueryRequest) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := c.Query(ctx, req)
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	return rows.Close()
}

// TestReadOnlyWallAlone runs the classifier's bypass corpus straight at
// MariaDB, with the classifier out of the way, as read-only requests of
// the admin user, and proves that the read-only session on its own
// changes no data.
func TestReadOnlyWallAlone(t *testing.T) {
	e := fixture(t, nil, bypassFixture()...)
	before := fingerprint(t, e.side)
	ran, refused, skipped := 0, 0, 0
	for _, c := range bypassCorpus(t) {
		if externalEffect(c.SQL) {
			skipped++
			continue
		}
		if err := runCase(e.conn, connectors.QueryRequest{SQL: c.SQL, ReadOnly: true, Timeout: 2 * time.Second}); err == nil {
			ran++
		} else {
			refused++
		}
		if after := fingerprint(t, e.side); after != before {
			t.Fatalf("case %s changed the database with only the read-only wall:\n%s\nbefore: %s\nafter:  %s", c.Name, c.SQL, before, after)
		}
	}
	t.Logf("read-only wall alone: %d cases ran to completion without changing data, %d were refused by MariaDB, %d with external effects left to the classifier and the minted user", ran, refused, skipped)
	if ran+refused < 90 {
		t.Errorf("only %d corpus cases were exercised", ran+refused)
	}
}

// TestGrantsWallAlone runs the whole corpus, external effects included,
// as a read-only minted user in READ WRITE transactions, with the
// classifier out of the way: the user's grants on their own change no
// data, no server setting and write no server file.
func TestGrantsWallAlone(t *testing.T) {
	for _, f := range outfiles {
		if _, err := os.Stat(f); err == nil {
			t.Skipf("%s exists already; remove it to run this test", f)
		}
	}
	f := newJIT(t)
	for _, s := range append([]string{"DROP TABLE secrets"}, bypassFixture()...) {
		if _, err := f.side.Exec(s); err != nil {
			t.Fatalf("setup %q: %v", s, err)
		}
	}
	resp := f.mint(t, uniqueLease(t), connectors.SQLGrants{ReadOnly: true})
	before := fingerprint(t, f.side)
	ran, refused := 0, 0
	for _, c := range bypassCorpus(t) {
		if err := runCase(f.conn, connectors.QueryRequest{SQL: c.SQL, Timeout: 500 * time.Millisecond, Credential: resp.Credential}); err == nil {
			ran++
		} else {
			refused++
		}
		if after := fingerprint(t, f.side); after != before {
			t.Fatalf("case %s changed the database with only the minted user's grants:\n%s\nbefore: %s\nafter:  %s", c.Name, c.SQL, before, after)
		}
	}
	for _, path := range outfiles {
		if _, err := os.Stat(path); err == nil {
			os.Remove(path)
			t.Errorf("a corpus case wrote the server file %s as a minted user", path)
		}
	}
	t.Logf("grants wall alone: %d cases ran without changing anything, %d were refused by MariaDB", ran, refused)
}
