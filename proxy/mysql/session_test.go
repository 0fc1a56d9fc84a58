package mysql_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	vmysql "vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/vt/tlstest"

	"github.com/wardenhq/warden/proxy"
)

// warden users of the server that exist now.
func wardenUsers(t *testing.T, h *harness) []string {
	t.Helper()
	rs, err := h.m.Connect(t, "").Query("SELECT DISTINCT User FROM mysql.user WHERE User LIKE 'warden\\_%'")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var u string
		rs.Scan(&u)
		out = append(out, u)
	}
	return out
}

// TestJITUserGoneAfterDisconnect: a client's session runs as a user
// minted for it, which is gone (with its connections) once the client
// disconnects.
func TestJITUserGoneAfterDisconnect(t *testing.T) {
	h := newHarness(t, harnessOptions{setup: itemsSetup})
	before := map[string]bool{}
	for _, u := range wardenUsers(t, h) {
		before[u] = true
	}
	db := h.open("alice")
	var user string
	if err := db.QueryRow("SELECT CURRENT_USER()").Scan(&user); err != nil {
		t.Fatal(err)
	}
	name, _, _ := strings.Cut(user, "@")
	if !strings.HasPrefix(name, "warden_") || before[name] {
		t.Fatalf("the session runs as %q, not a user minted for it", user)
	}
	db.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := false
		for _, u := range wardenUsers(t, h) {
			if u == name {
				left = true
			}
		}
		if !left {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("user %s still exists after the client disconnected", name)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var n int
	h.m.Connect(t, "").QueryRow("SELECT count(*) FROM information_schema.PROCESSLIST WHERE USER = ?", name).Scan(&n)
	if n != 0 {
		t.Errorf("%d connections of %s are left", n, name)
	}
	evs := h.events()
	if last := evs[len(evs)-1]; last.Tool != "proxy.disconnect" && last.Tool != "credential.revoke" {
		t.Logf("last event: %s", last.Tool)
	}
}

// vitessClient logs in through the proxy with vitess's client, which
// tells the handshake's connection id (what the mysql client's Ctrl-C
// names in KILL QUERY).
func vitessClient(t *testing.T, h *harness, who string) *vmysql.Conn {
	t.Helper()
	i := h.login(who)
	port, _ := strconv.Atoi(i.Port)
	c, err := vmysql.Connect(context.Background(), &vmysql.ConnParams{Host: i.Host, Port: port, Uname: i.Login, Pass: i.Password, DbName: h.db})
	if err != nil {
		t.Fatalf("vitess client: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestKillQuery: KILL QUERY from a second client of the same identity
// ends the statement the first runs on its upstream thread; another
// identity cannot name it.
func TestKillQuery(t *testing.T) {
	h := newHarness(t, harnessOptions{setup: []string{
		"CREATE TABLE big (id int PRIMARY KEY)", "INSERT INTO big SELECT seq FROM seq_1_to_2000"}})
	c1 := vitessClient(t, h, "alice")
	id := c1.ID()
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := c1.ExecuteFetch("SELECT count(*) FROM big a, big b, big c", 10, false)
		done <- err
	}()
	time.Sleep(500 * time.Millisecond)
	// Another identity: as if the connection did not exist.
	carol := h.open("carol")
	_, err := carol.Exec(fmt.Sprintf("KILL QUERY %d", id))
	if me := mysqlErr(t, err); me.Number != 1094 {
		t.Fatalf("carol's KILL: %v", err)
	}
	select {
	case err := <-done:
		t.Fatalf("the statement ended on its own: %v", err)
	default:
	}
	alice := h.open("alice")
	if _, err := alice.Exec(fmt.Sprintf("KILL QUERY %d", id)); err != nil {
		t.Fatalf("KILL QUERY: %v", err)
	}
	select {
	case err := <-done:
		var se *sqlerror.SQLError
		if !errors.As(err, &se) || se.Num != sqlerror.ERQueryInterrupted {
			t.Fatalf("the killed statement ended with %v", err)
		}
		t.Logf("killed after %s", time.Since(start))
	case <-time.After(20 * time.Second):
		t.Fatal("KILL QUERY did not reach the upstream thread")
	}
	// The first connection goes on.
	if r, err := c1.ExecuteFetch("SELECT count(*) FROM big", 1, false); err != nil || r.Rows[0][0].ToString() != "2000" {
		t.Fatalf("after the kill: %v %v", r, err)
	}
	// The upstream thread id (SELECT CONNECTION_ID()) names it too.
	r, err := c1.ExecuteFetch("SELECT CONNECTION_ID()", 1, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Exec("KILL QUERY " + r.Rows[0][0].ToString()); err != nil {
		t.Errorf("KILL QUERY by upstream thread id: %v", err)
	}
}

// TestTLSAndPlaintext: with a certificate the proxy speaks TLS; a client
// from another host (a loopback connection presented as 192.0.2.7's) is
// refused in plaintext and served over TLS.
func TestTLSAndPlaintext(t *testing.T) {
	dir := t.TempDir()
	tlstest.CreateCA(dir)
	tlstest.CreateSignedCert(dir, tlstest.CA, "01", "server", "localhost")
	cfg, err := proxy.LoadTLS(dir+"/server-cert.pem", dir+"/server-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOptions{setup: itemsSetup, tls: cfg, remote: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}})
	c := h.driverConfig("alice")
	c.TLS = &tls.Config{InsecureSkipVerify: true}
	db := h.openConfig(c)
	var n int
	if err := db.QueryRow("SELECT count(*) FROM items").Scan(&n); err != nil || n != 2 {
		t.Fatalf("over TLS: %d, %v", n, err)
	}
	// (go-sql-driver refuses a server that does not offer TLS when told
	// to use it: the query above went over TLS.)
	db = h.openConfig(h.driverConfig("alice"))
	err = db.Ping()
	if err == nil || !strings.Contains(err.Error(), "requires TLS") {
		t.Fatalf("plaintext from another host: %v", err)
	}
	// Over TLS a password that is no token's is asked for in clear
	// (caching_sha2_password's full authentication), and refused: this
	// Warden has no OIDC issuer.
	c = h.driverConfig("alice")
	c.TLS = &tls.Config{InsecureSkipVerify: true}
	c.Passwd = "not-a-token"
	err = h.openConfig(c).Ping()
	if me := mysqlErr(t, err); me.Number != 1045 || !strings.Contains(me.Message, "warden connect") {
		t.Fatalf("a password that is no token: %v", err)
	}
}

// TestLimitsThroughProxy: a rule's time limit stops a statement on the
// server, and its row limit ends a result; the connection goes on.
func TestLimitsThroughProxy(t *testing.T) {
	h := newHarness(t, harnessOptions{rules: `
  - name: agents-read
    subjects: {groups: [agents]}
    tools: [run_query]
    effect: allow
    read_only: true
    timeout: 1s
    max_rows: 100
`, setup: []string{"CREATE TABLE big (id int PRIMARY KEY)", "INSERT INTO big SELECT seq FROM seq_1_to_2000"}})
	db := h.open("alice")
	start := time.Now()
	_, err := db.Exec("SELECT count(*) FROM big a, big b, big c")
	me := mysqlErr(t, err)
	if me.Number != 1969 && me.Number != 3024 {
		t.Fatalf("a statement past its limit: %d %q", me.Number, me.Message)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stopped after %s", d)
	}
	rs, err := db.Query("SELECT id FROM big")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rs.Next() {
		n++
	}
	err = rs.Err()
	rs.Close()
	if me := mysqlErr(t, err); n != 100 || me.Number != 1142 || !strings.Contains(me.Message, "100 rows") {
		t.Fatalf("row limit: %d rows, %v", n, err)
	}
	var c int
	if err := db.QueryRow("SELECT count(*) FROM big").Scan(&c); err != nil || c != 2000 {
		t.Fatalf("after: %d %v", c, err)
	}
}

// TestBusy: a client past the connection limit is told so (1040) by the
// server's first packet; once a slot is free, clients log in again.
func TestBusy(t *testing.T) {
	h := newHarness(t, harnessOptions{setup: itemsSetup, maxConns: 1})
	first := h.open("alice")
	if err := first.Ping(); err != nil {
		t.Fatal(err)
	}
	err := h.open("alice").Ping()
	if me := mysqlErr(t, err); me.Number != 1040 || !strings.Contains(me.Message, "connection limit") {
		t.Fatalf("past the limit: %v", err)
	}
	first.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := h.open("alice").Ping()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the first left: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
