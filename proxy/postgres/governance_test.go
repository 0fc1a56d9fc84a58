package postgres_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/wardenhq/warden/internal/testenv"
)

// TestBypassCorpusThroughProxy sends every case of the classifier's
// read-only bypass corpus through the proxy, in the simple protocol (the
// whole text, as psql would) and the extended protocol (as drivers do),
// as a client whose only rule is read-only: nothing may change, and the
// connection must stay usable after each case.
func TestBypassCorpusThroughProxy(t *testing.T) {
	h := newHarness(t, harnessOptions{setup: testenv.BypassFixture})
	admin := h.admin()
	c := h.connect("alice", pgx.QueryExecModeExec)
	before := testenv.Fingerprint(t, admin)
	pc := c.PgConn()
	cases, ran := 0, 0
	for _, cs := range testenv.BypassCorpus(t) {
		name, sql := cs.Name, cs.SQL
		cases++
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := pc.Exec(ctx, sql).ReadAll(); err == nil {
			ran++
		}
		if _, err := pc.ExecParams(ctx, sql, nil, nil, nil, nil).Close(); err == nil {
			ran++
		}
		if pc.TxStatus() != 'I' {
			pc.Exec(ctx, "ROLLBACK").ReadAll()
		}
		cancel()
		if after := testenv.Fingerprint(t, admin); after != before {
			t.Fatalf("case %s changed the database through the proxy:\n%s\nbefore: %s\nafter:  %s", name, sql, before, after)
		}
		var one int
		if err := c.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil {
			t.Fatalf("after case %s the connection is unusable: %v", name, err)
		}
	}
	t.Logf("bypass corpus through the proxy: %d cases, each in both protocols; %d runs completed (as reads), nothing changed", cases, ran)
	if cases < 150 {
		t.Fatalf("only %d cases", cases)
	}
}

const maskingProfile = `  profiles:
    pii:
      columns:
        - {match: "*.customers.card_number", strategy: partial, keep_last: 4}
      detectors: [email]
`

const maskedRules = `
  - name: agents-read
    subjects: {groups: [agents]}
    tools: [run_query]
    effect: allow
    read_only: true
    masking: pii
`

// TestMaskingThroughProxy: column rules (by the source column the
// RowDescription names) and content detectors rewrite DataRows, in text
// (psql, simple protocol) and binary (pgx) formats; the audit trail counts
// what was masked, never a value.
func TestMaskingThroughProxy(t *testing.T) {
	h := newHarness(t, harnessOptions{setup: shopSetup, rules: maskedRules, masking: maskingProfile})
	ctx := context.Background()
	secrets := []string{"4111111111111111", "5500005555555559", "ada@example.com", "bob@example.com"}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
		t.Run(mode.String(), func(t *testing.T) {
			c := h.connect("alice", mode)
			rows, err := c.Query(ctx, "SELECT id, name, email, card_number AS cc, note FROM customers WHERE id <= $1 ORDER BY id", 3)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for rows.Next() {
				var id int
				var name, email, cc string
				var note *string
				if err := rows.Scan(&id, &name, &email, &cc, &note); err != nil {
					t.Fatal(err)
				}
				n := ""
				if note != nil {
					n = *note
				}
				got = append(got, fmt.Sprintf("%d|%s|%s|%s|%s", id, name, email, cc, n))
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			all := strings.Join(got, "\n")
			for _, s := range secrets {
				if strings.Contains(all, s) {
					t.Errorf("%s came through unmasked:\n%s", s, all)
				}
			}
			if !strings.Contains(all, "1111") || !strings.Contains(all, "Ada") || !strings.Contains(all, "vip") {
				t.Errorf("masking changed too much:\n%s", all)
			}
		})
	}
	if psql := pgTool(t, "psql"); psql != "" {
		out, err := exec.Command(psql, h.dsn("alice"), "-X", "-A", "-t", "-c", "SELECT * FROM customers ORDER BY id").CombinedOutput()
		if err != nil {
			t.Fatalf("psql: %v\n%s", err, out)
		}
		for _, s := range secrets {
			if strings.Contains(string(out), s) {
				t.Errorf("psql: %s came through unmasked:\n%s", s, out)
			}
		}
	}
	// An error quoting a masked value does not carry it.
	c := h.connect("alice", pgx.QueryExecModeCacheStatement)
	var n int64
	err := c.QueryRow(ctx, "SELECT id FROM customers WHERE (card_number || 'x')::int8 > 0").Scan(&n)
	if err == nil || strings.Contains(err.Error(), "4111111111111111") || !strings.Contains(err.Error(), "22P02") {
		t.Fatalf("an error about a masked column: %v", err)
	}
	for _, e := range h.events() {
		if strings.Contains(e.Error, "4111111111111111") {
			t.Fatalf("audit event %s keeps a masked value in its error", e.ID)
		}
	}
	masked := 0
	for _, e := range h.events() {
		if e.Transport != "postgres-proxy" {
			continue
		}
		for _, n := range e.Masked {
			masked += int(n)
		}
		for _, s := range secrets {
			if strings.Contains(fmt.Sprint(e.Masked), s) || strings.Contains(e.Error, s) {
				t.Errorf("audit event %s holds a secret", e.ID)
			}
		}
	}
	if masked == 0 {
		t.Errorf("no audit event counts masked values")
	}
}

// TestCancel: a client's CancelRequest (pgx sends one when its context
// ends) reaches the upstream backend running its statement; the
// connection stays usable.
func TestCancel(t *testing.T) {
	h := newHarness(t, harnessOptions{setup: shopSetup})
	cfg, err := pgx.ParseConfig(h.dsn("alice"))
	if err != nil {
		t.Fatal(err)
	}
	// Keep the connection after the cancel (pgx's default closes it one
	// second after sending the cancel request if no answer came).
	cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, DeadlineDelay: 10 * time.Second}
	}
	c, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	var n int64
	err = c.QueryRow(ctx, "SELECT count(*) FROM generate_series(1, 2000000000) a").Scan(&n)
	if err == nil {
		t.Fatal("the long query was not cancelled")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancel took %s", d)
	}
	if c.IsClosed() {
		t.Fatalf("the connection was closed after the cancel: %v", err)
	}
	var one int
	if err := c.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("after a cancel: %v", err)
	}
	found := false
	for _, e := range h.events() {
		if strings.Contains(e.Statement, "generate_series") && strings.Contains(e.Error, "user request") {
			found = true
		}
	}
	if !found {
		t.Errorf("no audit event records the cancelled statement")
	}
}

// TestStartupRefusals: what PostgreSQL clients can ask for at startup
// that would change what statements mean, and bad credentials.
func TestStartupRefusals(t *testing.T) {
	h := newHarness(t, harnessOptions{setup: shopSetup})
	try := func(dsn string, params map[string]string) error {
		cfg, err := pgconn.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range params {
			cfg.RuntimeParams[k] = v
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgconn.ConnectConfig(ctx, cfg)
		if err == nil {
			c.Close(ctx)
		}
		return err
	}
	i := h.login("alice")
	base := fmt.Sprintf("host=%s port=%s user=%s password=%s sslmode=disable", i.Host, i.Port, i.User, i.Password)
	// The token with its first character changed (to another one: a token
	// may start with x).
	bad := "x" + i.Password[1:]
	if i.Password[0] == 'x' {
		bad = "y" + i.Password[1:]
	}
	cases := []struct {
		name   string
		dsn    string
		params map[string]string
		want   string
	}{
		{"options", base + " dbname=app", map[string]string{"options": "-c search_path=evil"}, "startup options"},
		{"replication", base + " dbname=app", map[string]string{"replication": "database"}, "replication"},
		{"search_path", base + " dbname=app", map[string]string{"search_path": "evil"}, "search_path"},
		{"encoding", base + " dbname=app", map[string]string{"client_encoding": "LATIN1"}, "client_encoding"},
		{"database", base + " dbname=nope", nil, "does not exist"},
		{"bad token", strings.Replace(base, i.Password, bad, 1) + " dbname=app", nil, "password authentication failed"},
		{"unknown user", strings.Replace(base, i.User, "wt_aaaaaaaaaaaaaaaaaaaaaaaaaa", 1) + " dbname=app", nil, "password authentication failed"},
		{"not a token", fmt.Sprintf("host=%s port=%s user=alice password=secret sslmode=disable dbname=app", i.Host, i.Port), nil, "only tokens from warden connect"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := try(c.dsn, c.params)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), i.Password) {
				t.Fatalf("the error repeats the token")
			}
		})
	}
	// GSSENCRequest is answered N (no GSS encryption).
	nc, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := (&pgproto3.GSSEncRequest{}).Encode(nil)
	nc.Write(b)
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	one := make([]byte, 1)
	if _, err := nc.Read(one); err != nil || one[0] != 'N' {
		t.Fatalf("GSSENCRequest: %q %v", one, err)
	}
	nc.Close()
	// With no TLS configured, sslmode=prefer falls back to plaintext on
	// loopback.
	if err := try(strings.Replace(base, "sslmode=disable", "sslmode=prefer", 1)+" dbname=app", nil); err != nil {
		t.Fatalf("sslmode=prefer: %v", err)
	}
}

// TestFunctionCallRefused: the FunctionCall message bypasses SQL; it is
// refused, and the connection goes on.
func TestFunctionCallRefused(t *testing.T) {
	h := newHarness(t, harnessOptions{setup: shopSetup})
	hc := h.wire("alice")
	fe := hc.Frontend
	fe.Send(&pgproto3.FunctionCall{Function: 1598 /* random() */, ResultFormatCode: 0})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	hc.Conn.SetDeadline(time.Now().Add(10 * time.Second))
	var gotErr bool
	for {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		if e, ok := msg.(*pgproto3.ErrorResponse); ok {
			gotErr = strings.Contains(e.Message, "FunctionCall")
		}
		if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
			break
		}
	}
	if !gotErr {
		t.Fatal("FunctionCall was not refused")
	}
	fe.Send(&pgproto3.Query{String: "SELECT 42"})
	fe.Flush()
	for {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		if dr, ok := msg.(*pgproto3.DataRow); ok && string(dr.Values[0]) != "42" {
			t.Fatalf("got %q", dr.Values[0])
		}
		if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
			break
		}
	}
}

const writeRules = readRules + `
  - name: writers
    subjects: {groups: [writers]}
    tools: [run_query]
    effect: allow
    read_only: false
    tables: {read: ["public.*"], write: ["public.orders"]}
`

// TestWritesAndTransactions: with a rule that lets bob write orders, his
// transaction blocks commit or roll back as he says; reads in them still
// run read-only; COPY FROM STDIN is refused; alice still cannot write.
func TestWritesAndTransactions(t *testing.T) {
	h := newHarness(t, harnessOptions{setup: shopSetup, rules: writeRules})
	ctx := context.Background()
	admin := h.admin()
	count := func(where string) int {
		var n int
		if err := admin.QueryRow(ctx, "SELECT count(*) FROM orders WHERE "+where).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
		t.Run(mode.String(), func(t *testing.T) {
			c := h.connect("bob", mode)
			base := 1000
			if mode == pgx.QueryExecModeSimpleProtocol {
				base = 2000
			}
			// Autocommit write.
			if _, err := c.Exec(ctx, "INSERT INTO orders VALUES ($1, 1, 9.5)", base+1); err != nil {
				t.Fatalf("insert: %v", err)
			}
			if count(fmt.Sprintf("id = %d", base+1)) != 1 {
				t.Fatal("autocommit insert not committed")
			}
			// A block: read first, then write, then COMMIT.
			tx, err := c.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var n int
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil {
				t.Fatalf("read in a block: %v", err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO orders VALUES ($1, 2, 1)", base+2); err != nil {
				t.Fatalf("write in a block: %v", err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if count(fmt.Sprintf("id = %d", base+2)) != 1 {
				t.Fatal("committed block lost its write")
			}
			// ROLLBACK undoes.
			tx, _ = c.Begin(ctx)
			if _, err := tx.Exec(ctx, "DELETE FROM orders WHERE id = $1", base+1); err != nil {
				t.Fatal(err)
			}
			tx.Rollback(ctx)
			if count(fmt.Sprintf("id = %d", base+1)) != 1 {
				t.Fatal("rolled-back delete took effect")
			}
			// Writing customers is outside bob's rule.
			if _, err := c.Exec(ctx, "UPDATE customers SET name = 'x'"); pgCode(err) != "42501" {
				t.Fatalf("update customers: %v", err)
			}
		})
	}
	c := h.connect("bob", pgx.QueryExecModeCacheStatement)
	_, err := c.PgConn().CopyFrom(ctx, strings.NewReader("5000\t1\t1\n"), "COPY orders FROM STDIN")
	if err == nil || !strings.Contains(err.Error(), "COPY FROM STDIN") {
		t.Fatalf("COPY FROM STDIN: %v", err)
	}
	if count("id = 5000") != 0 {
		t.Fatal("COPY FROM STDIN wrote")
	}
	a := h.connect("alice", pgx.QueryExecModeCacheStatement)
	if _, err := a.Exec(ctx, "INSERT INTO orders VALUES (6000, 1, 1)"); pgCode(err) != "42501" {
		t.Fatalf("alice's insert: %v", err)
	}
}

// TestAuditSession: a client connection is one audit session — connect,
// every statement with its decision, disconnect.
func TestAuditSession(t *testing.T) {
	h := newHarness(t, harnessOptions{setup: shopSetup})
	ctx := context.Background()
	c := h.connect("alice", pgx.QueryExecModeCacheStatement)
	c.Exec(ctx, "SELECT count(*) FROM orders")
	c.Exec(ctx, "DELETE FROM orders")
	c.Close(ctx)
	time.Sleep(200 * time.Millisecond)
	var session string
	var tools []string
	for _, e := range h.events() {
		if e.Transport != "postgres-proxy" {
			continue
		}
		if session == "" {
			session = e.Session
		}
		if e.Session != session {
			t.Fatalf("two sessions: %s and %s", session, e.Session)
		}
		tools = append(tools, e.Tool+":"+e.Decision+":"+e.Status)
	}
	got := strings.Join(tools, " ")
	for _, want := range []string{"proxy.connect:allow:ok", "run_query:allow:ok", "run_query:deny:denied", "proxy.disconnect"} {
		if !strings.Contains(got, want) {
			t.Errorf("events lack %s: %s", want, got)
		}
	}
}

const limitedRules = `
  - name: agents-read
    subjects: {groups: [agents]}
    tools: [run_query]
    effect: allow
    max_rows: 10
    timeout: 300ms
`

// TestRuleLimits: a rule's max_rows ends a bigger result with an error
// (no silent truncation on the wire) and its timeout is the statement's.
func TestRuleLimits(t *testing.T) {
	h := newHarness(t, harnessOptions{setup: shopSetup, rules: limitedRules})
	ctx := context.Background()
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
		c := h.connect("alice", mode)
		rows, _ := c.Query(ctx, "SELECT id FROM orders ORDER BY id")
		n := 0
		for rows.Next() {
			n++
		}
		err := rows.Err()
		if pgCode(err) != "42501" || !strings.Contains(err.Error(), "more than the 10 rows") || n > 10 {
			t.Fatalf("%s: %d rows, %v", mode, n, err)
		}
		var one int
		if err := c.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&one); err != nil || one != 100 {
			t.Fatalf("%s: after the limit: %d %v", mode, one, err)
		}
		start := time.Now()
		var x int64
		err = c.QueryRow(ctx, "SELECT count(*) FROM generate_series(1, 2000000000)").Scan(&x)
		if pgCode(err) != "57014" || time.Since(start) > 5*time.Second {
			t.Fatalf("%s: rule timeout: %v after %s", mode, err, time.Since(start))
		}
	}
}

// TestStaticCredentials: a connection with credentials: static runs the
// client's statements as the configured user, flagged in every event.
func TestStaticCredentials(t *testing.T) {
	h := newHarness(t, harnessOptions{setup: shopSetup, credentials: "static"})
	ctx := context.Background()
	c := h.connect("alice", pgx.QueryExecModeCacheStatement)
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&n); err != nil || n != 3 {
		t.Fatalf("%d %v", n, err)
	}
	if _, err := c.Exec(ctx, "DELETE FROM customers"); pgCode(err) != "42501" {
		t.Fatalf("delete: %v", err)
	}
	found := false
	for _, e := range h.events() {
		if e.Transport == "postgres-proxy" && e.Tool == "run_query" && e.Status == "ok" {
			found = e.Credential == "static (shared, weaker)"
		}
	}
	if !found {
		t.Fatal("no event flags the static credential")
	}
}

// TestMaskingDescribedPortals: a client that describes the portal of every
// execution of a prepared statement (pgconn's ExecPrepared, libpq's
// PQexecPrepared) gets every result masked, whether the proxy works the
// columns out again or reuses the statement's last description, also when
// the result formats change between executions.
func TestMaskingDescribedPortals(t *testing.T) {
	h := newHarness(t, harnessOptions{setup: shopSetup, rules: maskedRules, masking: maskingProfile})
	ctx := context.Background()
	c := h.connect("alice", pgx.QueryExecModeCacheStatement).PgConn()
	if _, err := c.Prepare(ctx, "cust", "SELECT id, email, card_number FROM customers WHERE id <= $1 ORDER BY id", nil); err != nil {
		t.Fatal(err)
	}
	for i, formats := range [][]int16{nil, nil, {1, 0, 0}, {1, 0, 0}, nil} {
		res := c.ExecPrepared(ctx, "cust", [][]byte{[]byte("2")}, nil, formats).Read()
		if res.Err != nil {
			t.Fatalf("execution %d: %v", i, res.Err)
		}
		if len(res.Rows) != 2 {
			t.Fatalf("execution %d: %d rows", i, len(res.Rows))
		}
		for _, r := range res.Rows {
			id := string(r[0])
			if len(formats) > 0 {
				if len(r[0]) != 4 {
					t.Fatalf("execution %d: id in binary is %d bytes", i, len(r[0]))
				}
				id = strconv.Itoa(int(binary.BigEndian.Uint32(r[0])))
			}
			real, ok := map[string]string{"1": "4111111111111111", "2": "5500005555555559"}[id]
			if !ok {
				t.Fatalf("execution %d: id %q", i, id)
			}
			email, card := string(r[1]), string(r[2])
			if strings.Contains(email, "@example.com") || card == real || !strings.HasSuffix(card, real[len(real)-4:]) {
				t.Fatalf("execution %d, id %s: not masked as the profile says: %q %q", i, id, email, card)
			}
		}
	}
}
