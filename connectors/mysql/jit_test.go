package mysql_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/connectortest"
	"github.com/wardenhq/warden/connectors/mysql"
	"github.com/wardenhq/warden/internal/testenv"
)

type jitFixture struct {
	env
	logs *bytes.Buffer
}

func newJIT(t *testing.T) jitFixture {
	t.Helper()
	m := testenv.MySQL(t)
	db := m.CreateDatabase(t, append(connectortest.SetupSQL("double"),
		"CREATE TABLE secrets (id int PRIMARY KEY, value text)",
		"INSERT INTO secrets VALUES (1, 'the crown jewels')",
		"CREATE VIEW item_names AS SELECT name FROM items")...)
	logs := &bytes.Buffer{}
	cfg := connection(m, db)
	c := open(t, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	return jitFixture{env: env{srv: m, db: db, side: m.Connect(t, db), conn: c, cfg: cfg}, logs: logs}
}

// uniqueLease is a lease id no other test run uses: users are server-wide.
func uniqueLease(t *testing.T) string {
	var b [6]byte
	rand.Read(b[:])
	return "t" + hex.EncodeToString(b[:])
}

func (f jitFixture) mint(t *testing.T, lease string, g connectors.Grants) connectors.MintResponse {
	t.Helper()
	resp, err := f.conn.Mint(t.Context(), connectors.MintRequest{Lease: lease, Grants: g, TTL: 10 * time.Minute, ConnectionLimit: 3})
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	t.Cleanup(func() { f.conn.Revoke(context.Background(), connectors.RevokeRequest{Lease: lease}) })
	return resp
}

func (f jitFixture) runAs(t *testing.T, cred connectors.Credential, sql string, readOnly bool) (connectortest.Result, error) {
	t.Helper()
	return connectortest.Run(t.Context(), f.conn, connectors.QueryRequest{SQL: sql, ReadOnly: readOnly, Timeout: 5 * time.Second, Credential: cred})
}

// accounts lists the hosts the server has accounts of user at.
func (f jitFixture) accounts(t *testing.T, user string) []string {
	t.Helper()
	rs, err := f.side.Query("SELECT Host FROM mysql.user WHERE User = ?", user)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var hosts []string
	for rs.Next() {
		var h string
		rs.Scan(&h)
		hosts = append(hosts, h)
	}
	return hosts
}

// grants is SHOW GRANTS of an account, without the password hash.
func (f jitFixture) grants(t *testing.T, account string) []string {
	t.Helper()
	rs, err := f.side.Query("SHOW GRANTS FOR " + account)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var g string
		rs.Scan(&g)
		if i := strings.Index(g, " IDENTIFIED BY PASSWORD"); i >= 0 {
			g = g[:i]
		}
		out = append(out, strings.ReplaceAll(g, f.db, "DB"))
	}
	slices.Sort(out)
	return out
}

// login connects as a minted user from outside Warden, as a client that
// stole the credential would.
func (f jitFixture) login(t *testing.T, cred connectors.Credential) (*sql.DB, error) {
	t.Helper()
	c := gomysql.NewConfig()
	c.Net, c.Addr, c.DBName = "tcp", f.srv.Addr, f.db
	c.User, c.Passwd = cred.Password.User, cred.Password.Secret.Reveal()
	c.Timeout = 5 * time.Second
	conn, err := gomysql.NewConnector(c)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	return db, db.PingContext(t.Context())
}

// TestJITGrantsAreExactlyTheDecisions: a read-only lease on items can
// read items and nothing else, write nothing, create nothing; it is bound
// to Warden's host and limited in connections.
func TestJITGrantsAreExactlyTheDecisions(t *testing.T) {
	f := newJIT(t)
	lease := uniqueLease(t)
	resp := f.mint(t, lease, connectors.SQLGrants{ReadOnly: true, Read: []string{"items"}})
	user := resp.Credential.Password.User
	if user != "warden_"+lease || len(user) > 32 || resp.Credential.Mode != "jit" || resp.Credential.Password.Secret.IsZero() {
		t.Fatalf("credential = %+v", resp.Credential)
	}
	if hosts := f.accounts(t, user); !slices.Equal(hosts, []string{"127.0.0.1"}) {
		t.Fatalf("accounts of %s at %v, want only Warden's host 127.0.0.1", user, hosts)
	}
	account := "'" + user + "'@'127.0.0.1'"
	want := []string{
		"GRANT SELECT ON `DB`.`items` TO `" + user + "`@`127.0.0.1`",
		"GRANT USAGE ON *.* TO `" + user + "`@`127.0.0.1`",
	}
	got := f.grants(t, account)
	for i := range got {
		got[i] = strings.TrimSuffix(got[i], " WITH MAX_USER_CONNECTIONS 3")
	}
	if !slices.Equal(got, want) {
		t.Errorf("grants = %q\nwant %q", got, want)
	}
	var maxConns int
	f.side.QueryRow("SELECT max_user_connections FROM mysql.user WHERE User = ?", user).Scan(&maxConns)
	if maxConns != 3 {
		t.Errorf("MAX_USER_CONNECTIONS = %d, want 3", maxConns)
	}

	// The credential wall on its own: no classifier, and a READ WRITE
	// transaction, yet it reads only what it was granted and writes nothing.
	if res, err := f.runAs(t, resp.Credential, "SELECT count(*) FROM items", false); err != nil || fmt.Sprint(res.Rows[0][0]) != "3" {
		t.Fatalf("granted read: %v %v", res.Rows, err)
	}
	for _, sql := range []string{
		"SELECT * FROM secrets",
		"SELECT * FROM item_names",
		"SELECT * FROM mysql.user",
		"INSERT INTO items (id, name) VALUES (9, 'x')",
		"UPDATE items SET name = 'x'",
		"DELETE FROM items",
		"CREATE TABLE mine (id int)",
		"CREATE DATABASE warden_mine",
		"DROP TABLE items",
		"SELECT 1 INTO OUTFILE '/tmp/warden-jit-outfile'",
		"CREATE USER warden_mine",
		"GRANT SELECT ON secrets TO " + account,
		"SET GLOBAL read_only = 0",
		"KILL 1",
	} {
		if _, err := f.runAs(t, resp.Credential, sql, false); err == nil {
			t.Errorf("%q succeeded as a read-only minted user", sql)
		}
	}
	var n int
	f.side.QueryRow("SELECT count(*) FROM items").Scan(&n)
	if n != 3 {
		t.Errorf("items = %d rows after the attempts", n)
	}
	// Without the FILE privilege the server reads no file: LOAD_FILE is NULL.
	if res, err := f.runAs(t, resp.Credential, "SELECT LOAD_FILE('/etc/passwd')", true); err != nil || res.Rows[0][0] != nil {
		t.Errorf("LOAD_FILE as a minted user: %v %v", res.Rows, err)
	}
}

// TestJITWriteGrants: a read-write lease writes only its write scope, and
// views are only ever read.
func TestJITWriteGrants(t *testing.T) {
	f := newJIT(t)
	resp := f.mint(t, uniqueLease(t), connectors.SQLGrants{Read: []string{f.db + ".*"}, Write: []string{"items"}})
	if _, err := f.runAs(t, resp.Credential, "INSERT INTO items (id, name) VALUES (9, 'fig')", false); err != nil {
		t.Fatalf("granted write: %v", err)
	}
	if _, err := f.runAs(t, resp.Credential, "DELETE FROM secrets", false); err == nil {
		t.Error("wrote outside the write scope")
	}
	if res, err := f.runAs(t, resp.Credential, "SELECT count(*) FROM secrets", true); err != nil || fmt.Sprint(res.Rows[0][0]) != "1" {
		t.Errorf("read in scope: %v %v", res.Rows, err)
	}
	if res, err := f.runAs(t, resp.Credential, "SELECT count(*) FROM item_names", true); err != nil || fmt.Sprint(res.Rows[0][0]) != "4" {
		t.Errorf("read a view in scope: %v %v", res.Rows, err)
	}
}

// TestJITNoScopeIsTheDatabase: a rule without table scope grants every
// table of the connection's database, and nothing of another.
func TestJITNoScopeIsTheDatabase(t *testing.T) {
	f := newJIT(t)
	other := f.srv.CreateDatabase(t, "CREATE TABLE elsewhere (x int)", "INSERT INTO elsewhere VALUES (1)")
	resp := f.mint(t, uniqueLease(t), connectors.SQLGrants{ReadOnly: true})
	if res, err := f.runAs(t, resp.Credential, "SELECT value FROM secrets", true); err != nil || res.Rows[0][0] != "the crown jewels" {
		t.Errorf("read in the connection's database: %v %v", res.Rows, err)
	}
	if _, err := f.runAs(t, resp.Credential, "SELECT * FROM "+other+".elsewhere", true); err == nil {
		t.Error("read a table of another database")
	}
}

// TestJITRoleMembership: grants.role makes the user a member of an
// existing role (its default role) and nothing else.
func TestJITRoleMembership(t *testing.T) {
	f := newJIT(t)
	role := "warden_test_reporting_" + uniqueLease(t)
	if _, err := f.side.Exec("CREATE ROLE " + role); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.side.Exec("DROP ROLE IF EXISTS " + role) })
	if _, err := f.side.Exec("GRANT SELECT ON secrets TO " + role); err != nil {
		t.Fatal(err)
	}
	resp := f.mint(t, uniqueLease(t), connectors.SQLGrants{ReadOnly: true, Role: role})
	if res, err := f.runAs(t, resp.Credential, "SELECT value FROM secrets", true); err != nil || res.Rows[0][0] != "the crown jewels" {
		t.Errorf("member read: %v %v", res.Rows, err)
	}
	if _, err := f.runAs(t, resp.Credential, "SELECT * FROM items", true); err == nil {
		t.Error("a member read a table its role was not granted")
	}
}

// TestJITRevoke: revocation ends live sessions (Warden's and a client's
// outside it), removes the user, and is idempotent.
func TestJITRevoke(t *testing.T) {
	f := newJIT(t)
	lease := uniqueLease(t)
	resp := f.mint(t, lease, connectors.SQLGrants{ReadOnly: true})
	user := resp.Credential.Password.User
	own, err := f.login(t, resp.Credential)
	if err != nil {
		t.Fatalf("connect as the minted user: %v", err)
	}
	if _, err := f.runAs(t, resp.Credential, "SELECT 1", true); err != nil {
		t.Fatal(err)
	}
	// A statement running while the user is revoked.
	running := make(chan error, 1)
	go func() {
		_, err := own.ExecContext(context.Background(), "SELECT SLEEP(30)")
		running <- err
	}()
	for range 100 {
		var n int
		f.side.QueryRow("SELECT count(*) FROM information_schema.PROCESSLIST WHERE USER = ? AND INFO LIKE 'SELECT SLEEP%'", user).Scan(&n)
		if n > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := range 2 {
		if err := f.conn.Revoke(t.Context(), connectors.RevokeRequest{Lease: lease, Principal: user}); err != nil {
			t.Fatalf("revoke %d: %v", i+1, err)
		}
	}
	if err := <-running; err == nil {
		t.Error("a statement of the revoked user ran on")
	}
	if hosts := f.accounts(t, user); len(hosts) != 0 {
		t.Fatalf("accounts of %s remain at %v", user, hosts)
	}
	var n int
	f.side.QueryRow("SELECT count(*) FROM information_schema.PROCESSLIST WHERE USER = ?", user).Scan(&n)
	if n != 0 {
		t.Errorf("%d connections of the revoked user remain", n)
	}
	if _, err := f.login(t, resp.Credential); err == nil {
		t.Error("the revoked credential still logs in")
	}
	if _, err := f.runAs(t, resp.Credential, "SELECT 1", true); err == nil {
		t.Error("the revoked credential still works through the connector")
	}
	for _, p := range []string{"root", f.srv.User, "warden_x'@'%"} {
		if err := f.conn.Revoke(t.Context(), connectors.RevokeRequest{Principal: p}); err == nil {
			t.Errorf("revoke accepted %q, a user Warden did not mint", p)
		}
	}
}

// TestJITNoSecretInErrorsOrLogs: the password (and its hash) never appear
// in an error or a log line, even when minting fails.
func TestJITNoSecretInErrorsOrLogs(t *testing.T) {
	f := newJIT(t)
	resp := f.mint(t, uniqueLease(t), connectors.SQLGrants{ReadOnly: true})
	_, err := f.conn.Mint(t.Context(), connectors.MintRequest{Lease: uniqueLease(t), TTL: time.Minute,
		Grants: connectors.SQLGrants{Role: "no_such_role_anywhere"}})
	if err == nil {
		t.Fatal("mint with a missing role succeeded")
	}
	for _, s := range []string{err.Error(), f.logs.String()} {
		if strings.Contains(s, resp.Credential.Password.Secret.Reveal()) || strings.Contains(s, "*") && strings.Contains(s, "IDENTIFIED") {
			t.Errorf("a secret leaked: %s", s)
		}
	}
	if !strings.Contains(err.Error(), "no_such_role_anywhere") {
		t.Errorf("error does not say what failed: %v", err)
	}
	// The failed mint left no user behind.
	var n int
	f.side.QueryRow("SELECT count(*) FROM mysql.user WHERE User LIKE 'warden\\_%' AND max_user_connections = 0").Scan(&n)
	if n != 0 {
		t.Errorf("%d users left behind", n)
	}
}

// TestJITConcurrentMintsAndRevokes: concurrent sessions get distinct
// users, and grants and revokes that race do not fail.
func TestJITConcurrentMintsAndRevokes(t *testing.T) {
	f := newJIT(t)
	var wg sync.WaitGroup
	users := make(chan string, 8)
	for i := range 8 {
		wg.Go(func() {
			lease := fmt.Sprintf("%sc%d", uniqueLease(t), i)
			resp, err := f.conn.Mint(t.Context(), connectors.MintRequest{Lease: lease, TTL: time.Minute, ConnectionLimit: 2,
				Grants: connectors.SQLGrants{ReadOnly: true, Read: []string{"items", "secrets"}}})
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := f.runAs(t, resp.Credential, "SELECT count(*) FROM items", true); err != nil {
				t.Error(err)
			}
			if err := f.conn.Revoke(t.Context(), connectors.RevokeRequest{Lease: lease}); err != nil {
				t.Error(err)
			}
			users <- resp.Credential.Password.User
		})
	}
	wg.Wait()
	close(users)
	seen := map[string]bool{}
	for u := range users {
		if seen[u] {
			t.Fatalf("user %s minted twice", u)
		}
		seen[u] = true
		if hosts := f.accounts(t, u); len(hosts) != 0 {
			t.Errorf("user %s survived its revoke", u)
		}
	}
	if len(seen) != 8 {
		t.Errorf("%d users", len(seen))
	}
}

var _ = mysql.UserPrefix
