package testenv

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The MySQL bypass corpus's fixture and fingerprint, shared by the tests
// that run it against MariaDB (connectors/mysql, proxy/mysql).

// MySQLBypassTables are the tables the MySQL bypass corpus names.
var MySQLBypassTables = []string{"a", "accounts", "archive", "audit_log", "b", "jobs", "orders", "secrets", "t", "t2", "users", "vault", "x"}

// MySQLBypassFixture creates every table, sequence, function and procedure the
// corpus names, with rows, so that its statements reach execution instead
// of failing on a missing object. The routines write, as an attacker's
// would.
func MySQLBypassFixture() []string {
	var s []string
	for _, t := range MySQLBypassTables {
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

// MySQLBypassCorpus reads the MySQL classifier's bypass corpus.
func MySQLBypassCorpus(t testing.TB) []CorpusCase {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	return LoadCorpus(t, filepath.Join(filepath.Dir(here), "..", "..", "policy", "sqlclass", "mysql", "testdata", "bypass.txt"))
}

// mysqlExternalEffects name what corpus cases reach outside the database's
// data with: server files, server-wide settings, other connections,
// locks, time. A read-only transaction does not stop them (the
// classifier does, and a minted user without those privileges).
var mysqlExternalEffects = []string{"outfile", "dumpfile", "global", "kill", "flush", "purge", "shutdown", "install",
	"sleep", "benchmark", "get_lock", "load_file", "persist"}

// MySQLExternalEffect reports whether a MySQL corpus case reaches outside
// the database's data.
func MySQLExternalEffect(sql string) bool {
	low := strings.ToLower(sql)
	for _, x := range mysqlExternalEffects {
		if strings.Contains(low, x) {
			return true
		}
	}
	return false
}

// MySQLFingerprint summarises everything a write could change: every table's
// rows (CHECKSUM TABLE), the sequence, the database's objects, the
// server's databases, users and global settings.
func MySQLFingerprint(t testing.TB, side *sql.DB) string {
	t.Helper()
	var b strings.Builder
	for _, tb := range MySQLBypassTables {
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

// MySQLOutfiles are the server files the corpus's INTO OUTFILE cases name.
var MySQLOutfiles = []string{"/tmp/t.txt", "/tmp/h", "/tmp/u"}
