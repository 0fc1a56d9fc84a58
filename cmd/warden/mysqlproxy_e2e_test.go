package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/wardenhq/warden/internal/testenv"
)

// mysqlProxyEnv is `warden serve` with the MySQL proxy on, in front of a
// MariaDB database holding 1,000,000 rows, with a masking profile.
type mysqlProxyEnv struct {
	proxyEnv
	m  testenv.MySQLServer
	db string
}

func startMySQLProxyServe(t *testing.T) mysqlProxyEnv {
	t.Helper()
	m := testenv.MySQL(t)
	db := m.CreateDatabase(t,
		"CREATE TABLE people (id int PRIMARY KEY, name text, email text, card varchar(19))",
		"INSERT INTO people SELECT seq, CONCAT('person ', seq), CONCAT('p', seq, '@example.com'), '4111111111111111' FROM seq_1_to_50",
		"CREATE TABLE big (id int PRIMARY KEY, email varchar(64), note char(32))",
		"INSERT INTO big SELECT seq, CONCAT('user', seq, '@example.com'), md5(seq) FROM seq_1_to_1000000")
	dir := t.TempDir()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := fmt.Sprintf(`listen:
  mysql: 127.0.0.1:%d
store: sqlite://./audit.db
identity:
  local: agent
  allow_anonymous_loopback: true
  users:
    - {name: agent, groups: [agents]}
connections:
  - name: app
    kind: mysql
    address: %s
    database: %s
    sslmode: disable
    admin: {user: %s, password_file: %s}
    credentials: jit
masking:
  profiles:
    pii:
      columns:
        - {match: "*.people.card", strategy: partial, keep_last: 4}
      detectors: [email]
rules:
  - name: agents-read
    subjects: {groups: [agents]}
    tools: [run_query]
    effect: allow
    read_only: true
    masking: pii
`, port, m.Addr, db, m.User, m.PasswordFile)
	path := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	u, logs, cmd := serveWarden(t, "--config", path, "--listen", "127.0.0.1:0")
	return mysqlProxyEnv{proxyEnv: proxyEnv{config: path, server: u, pid: cmd.Process.Pid, logs: logs}, m: m, db: db}
}

// mysqlMinted lists the users Warden minted that exist on the server.
func mysqlMinted(t *testing.T, m testenv.MySQLServer) map[string]bool {
	t.Helper()
	rs, err := m.Connect(t, "").Query("SELECT DISTINCT User FROM mysql.user WHERE User LIKE 'warden\\_%'")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	out := map[string]bool{}
	for rs.Next() {
		var u string
		rs.Scan(&u)
		out[u] = true
	}
	return out
}

// TestMySQLProxyEndToEnd: warden connect prints mysql and mariadb commands
// that work; a 1,000,000-row result streams through the proxy with
// masking in bounded memory, in the text and the binary protocol; the
// session's user is gone after it; warden replay prints the session.
func TestMySQLProxyEndToEnd(t *testing.T) {
	e := startMySQLProxyServe(t)
	users0 := mysqlMinted(t, e.m)
	info := e.connectInfo(t)
	if info["kind"] != "mysql" || info["login"] != "app" || info["database"] != e.db {
		t.Fatalf("warden connect --json: %v", info)
	}
	human, err := exec.Command(wardenBin, "connect", "app", "--server", e.server).Output()
	if err != nil || !strings.Contains(string(human), "\nMYSQL_PWD=") || !strings.Contains(string(human), " mysql -h 127.0.0.1 -P ") || !strings.Contains(string(human), " mariadb -h ") {
		t.Fatalf("warden connect output: %v\n%s", err, human)
	}

	// The printed mariadb command, as a user runs it.
	if _, err := exec.LookPath("mariadb"); err == nil {
		line := info["mariadb_command"] + " --batch --skip-column-names -e 'SELECT name, email, card FROM people WHERE id = 7'"
		cmd := exec.Command("sh", "-c", line)
		cmd.Env = append(os.Environ(), "MYSQL_PWD="+info["password"])
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "person 7\t") || strings.Contains(string(out), "p7@example.com") || strings.Contains(string(out), "4111111111111111") {
			t.Fatalf("mariadb through the proxy: %v\n%s", err, out)
		}
	}

	c, err := mysql.ParseDSN(info["dsn"])
	if err != nil {
		t.Fatal(err)
	}
	conn, err := mysql.NewConnector(c)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(1)
	defer db.Close()
	ctx := context.Background()
	var current string
	if err := db.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&current); err != nil {
		t.Fatal(err)
	}
	minted, _, _ := strings.Cut(current, "@")
	if !strings.HasPrefix(minted, "warden_") || users0[minted] {
		t.Fatalf("the session runs as %s", current)
	}

	before := peakRSS(t, e.pid)
	for _, q := range []struct {
		name string
		args []any
	}{{"text", nil}, {"binary", []any{0}}} {
		sqlText := "SELECT id, email, note FROM big"
		if q.args != nil {
			sqlText += " WHERE id > ?"
		}
		start := time.Now()
		rs, err := db.QueryContext(ctx, sqlText, q.args...)
		if err != nil {
			t.Fatal(err)
		}
		rows, leaked := 0, 0
		var id int
		var email, note string
		for rs.Next() {
			if err := rs.Scan(&id, &email, &note); err != nil {
				t.Fatal(err)
			}
			rows++
			if strings.Contains(email, "@example.com") {
				leaked++
			}
		}
		if err := rs.Err(); err != nil {
			t.Fatal(err)
		}
		rs.Close()
		elapsed := time.Since(start)
		after := peakRSS(t, e.pid)
		t.Logf("%s protocol: 1,000,000 rows with masking through the proxy in %s (%.0f rows/s); Warden's peak RSS %d MiB before the first, %d MiB after",
			q.name, elapsed.Round(time.Millisecond), float64(rows)/elapsed.Seconds(), before/1024, after/1024)
		if rows != 1000000 || leaked != 0 {
			t.Fatalf("%s: rows %d, unmasked e-mails %d", q.name, rows, leaked)
		}
		if after > 200*1024 {
			t.Fatalf("Warden's peak RSS reached %d MiB streaming the result", after/1024)
		}
	}
	db.Close()

	// The session's user is revoked with it.
	deadline := time.Now().Add(15 * time.Second)
	for mysqlMinted(t, e.m)[minted] {
		if time.Now().After(deadline) {
			t.Fatalf("%s still exists after the client disconnected", minted)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The session in the audit trail, and replayed.
	time.Sleep(300 * time.Millisecond)
	out, err := exec.Command(wardenBin, "audit", "list", "--config", e.config, "--json", "--limit", "1000").Output()
	if err != nil {
		t.Fatal(err)
	}
	session := ""
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var ev struct {
			Session, Transport, Statement string
		}
		json.Unmarshal([]byte(line), &ev)
		if ev.Transport == "mysql-proxy" && strings.Contains(ev.Statement, "FROM big WHERE") {
			session = ev.Session
		}
	}
	if session == "" {
		t.Fatalf("no proxy event for the big query:\n%s", out)
	}
	replay, err := exec.Command(wardenBin, "replay", "--config", e.config, session).CombinedOutput()
	if err != nil {
		t.Fatalf("warden replay: %v\n%s", err, replay)
	}
	for _, want := range []string{"session " + session, "proxy.connect", "SELECT id, email, note FROM big", "allow (agents-read)", "1000000", "email=", "proxy.disconnect"} {
		if !strings.Contains(string(replay), want) {
			t.Errorf("replay lacks %q:\n%s", want, replay)
		}
	}
	t.Logf("warden replay:\n%s", replay)
	if strings.Contains(e.logs.String(), info["password"]) {
		t.Fatal("the token appears in Warden's logs")
	}
}
