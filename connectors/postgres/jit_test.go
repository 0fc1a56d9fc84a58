package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/postgres"
	"github.com/wardenhq/warden/internal/testenv"
)

const jitSetup = `CREATE TABLE secrets (id int PRIMARY KEY, value text)`
const jitSetup2 = `INSERT INTO secrets VALUES (1, 'the crown jewels')`

type jitFixture struct {
	conn connectors.SQL
	cr   connectors.Credentialer
	side *pgx.Conn
	p    testenv.Postgres
	db   string
	logs *bytes.Buffer
}

func newJIT(t *testing.T) jitFixture {
	t.Helper()
	p := testenv.PG(t)
	// Roles are cluster-wide: a unique role name per test run avoids clashes.
	db := p.CreateDatabase(t, append(fixtureSetup(), jitSetup, jitSetup2)...)
	side := p.Connect(t, db)
	logs := &bytes.Buffer{}
	c := open(t, connection(p, db), slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	return jitFixture{conn: c, cr: c.(connectors.Credentialer), side: side, p: p, db: db, logs: logs}
}

func fixtureSetup() []string {
	return []string{
		"CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, price numeric, note text)",
		"INSERT INTO items VALUES (1, 'apple', 1.5, 'red'), (2, 'banana', 0.25, NULL), (3, 'cherry', 10, 'dark')",
	}
}

func (f jitFixture) roleExists(t *testing.T, role string) bool {
	t.Helper()
	var n int
	if err := f.side.QueryRow(context.Background(), "SELECT count(*) FROM pg_roles WHERE rolname = $1", role).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func mint(t *testing.T, f jitFixture, lease string, g connectors.Grants) connectors.MintResponse {
	t.Helper()
	resp, err := f.cr.Mint(t.Context(), connectors.MintRequest{Lease: lease, Grants: g, TTL: 10 * time.Minute, ConnectionLimit: 3})
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	t.Cleanup(func() { f.cr.Revoke(context.Background(), connectors.RevokeRequest{Lease: lease}) })
	return resp
}

func runAs(t *testing.T, f jitFixture, cred connectors.Credential, sql string, readOnly bool) (connectortestResult, error) {
	t.Helper()
	rows, err := f.conn.Query(t.Context(), connectors.QueryRequest{SQL: sql, ReadOnly: readOnly, Timeout: 5 * time.Second, Credential: cred})
	if err != nil {
		return nil, err
	}
	var out connectortestResult
	for rows.Next() {
		out = append(out, append([]any(nil), rows.Values()...))
	}
	err = rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return out, err
}

type connectortestResult [][]any

func uniqueLease(t *testing.T) string {
	return fmt.Sprintf("t%d%s", time.Now().UnixNano()%1e9, strings.ToLower(strings.NewReplacer("/", "", "_", "").Replace(t.Name()))[:min(10, len(t.Name()))])
}

// TestJITGrantsAreExactlyTheDecisions: a read-only lease on items can
// read items and nothing else, write nothing, create nothing.
func TestJITGrantsAreExactlyTheDecisions(t *testing.T) {
	f := newJIT(t)
	lease := uniqueLease(t)
	resp := mint(t, f, lease, connectors.SQLGrants{ReadOnly: true, Read: []string{"public.items"}})
	role := resp.Credential.Password.User
	if role != "warden_"+lease || resp.Credential.Mode != "jit" || resp.Credential.Password.Secret.IsZero() {
		t.Fatalf("credential = %+v", resp.Credential)
	}
	var super, createdb, createrole, login bool
	var limit int
	var until time.Time
	if err := f.side.QueryRow(context.Background(), `SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, rolconnlimit, rolvaliduntil FROM pg_roles WHERE rolname = $1`, role).
		Scan(&super, &createdb, &createrole, &login, &limit, &until); err != nil {
		t.Fatal(err)
	}
	if super || createdb || createrole || !login || limit != 3 || time.Until(until) > 11*time.Minute || time.Until(until) < 9*time.Minute {
		t.Errorf("role attributes: super %v createdb %v createrole %v login %v limit %d until %v", super, createdb, createrole, login, limit, until)
	}
	var grants []string
	rows, _ := f.side.Query(context.Background(), `SELECT table_name || ':' || privilege_type FROM information_schema.role_table_grants WHERE grantee = $1 ORDER BY 1`, role)
	for rows.Next() {
		var g string
		rows.Scan(&g)
		grants = append(grants, g)
	}
	if strings.Join(grants, ",") != "items:SELECT" {
		t.Errorf("grants = %v, want exactly items:SELECT", grants)
	}
	var createPublic, tempDB bool
	f.side.QueryRow(context.Background(), `SELECT has_schema_privilege($1, 'public', 'CREATE')`, role).Scan(&createPublic)
	if createPublic {
		t.Error("the role may CREATE in schema public")
	}
	_ = tempDB

	// The credential wall on its own: no classifier, and a READ WRITE
	// transaction, yet it reads only what it was granted and writes nothing.
	if rows, err := runAs(t, f, resp.Credential, "SELECT count(*) FROM items", false); err != nil || fmt.Sprint(rows[0][0]) != "3" {
		t.Fatalf("granted read: %v %v", rows, err)
	}
	for _, sql := range []string{
		"SELECT * FROM secrets",
		"INSERT INTO items (id, name) VALUES (9, 'x')",
		"UPDATE items SET name = 'x'",
		"DELETE FROM items",
		"CREATE TABLE public.mine (id int)",
		// CREATE TEMP TABLE is not here: PostgreSQL grants TEMPORARY on
		// every database to PUBLIC, so every role has it unless the operator
		// revokes it (docs/credentials.md). A temporary table lives and dies
		// with the session; a read-only transaction refuses it anyway.
		"SET ROLE " + testenv.PG(t).User,
		"COPY items TO PROGRAM 'true'",
		"SELECT pg_read_file('/etc/passwd')",
		"SELECT lo_import('/etc/passwd')",
		"ALTER ROLE " + role + " SUPERUSER",
		"GRANT SELECT ON secrets TO " + role,
	} {
		if _, err := runAs(t, f, resp.Credential, sql, false); err == nil {
			t.Errorf("%q succeeded as a read-only JIT role", sql)
		}
	}
	var n int
	f.side.QueryRow(context.Background(), "SELECT count(*) FROM items").Scan(&n)
	if n != 3 {
		t.Errorf("items = %d rows after the attempts", n)
	}
}

// TestJITWriteGrants: a read-write lease writes only its write scope.
func TestJITWriteGrants(t *testing.T) {
	f := newJIT(t)
	resp := mint(t, f, uniqueLease(t), connectors.SQLGrants{Read: []string{"public.*"}, Write: []string{"items"}})
	if _, err := runAs(t, f, resp.Credential, "INSERT INTO items (id, name) VALUES (9, 'fig')", false); err != nil {
		t.Fatalf("granted write: %v", err)
	}
	if _, err := runAs(t, f, resp.Credential, "DELETE FROM secrets", false); err == nil {
		t.Error("wrote outside the write scope")
	}
	if rows, err := runAs(t, f, resp.Credential, "SELECT count(*) FROM secrets", true); err != nil || fmt.Sprint(rows[0][0]) != "1" {
		t.Errorf("read in scope: %v %v", rows, err)
	}
}

// TestJITRoleMembership: grants.role makes the credential a member of an
// existing role and nothing else.
func TestJITRoleMembership(t *testing.T) {
	f := newJIT(t)
	role := "warden_test_reporting"
	f.side.Exec(context.Background(), "DROP ROLE IF EXISTS "+role)
	if _, err := f.side.Exec(context.Background(), "CREATE ROLE "+role+" NOLOGIN"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.side.Exec(context.Background(), "DROP OWNED BY "+role)
		f.side.Exec(context.Background(), "DROP ROLE IF EXISTS "+role)
	})
	f.side.Exec(context.Background(), "GRANT SELECT ON secrets TO "+role)
	resp := mint(t, f, uniqueLease(t), connectors.SQLGrants{ReadOnly: true, Role: role})
	if rows, err := runAs(t, f, resp.Credential, "SELECT value FROM secrets", true); err != nil || rows[0][0] != "the crown jewels" {
		t.Errorf("member read: %v %v", rows, err)
	}
	if _, err := runAs(t, f, resp.Credential, "SELECT * FROM items", true); err == nil {
		t.Error("a member read a table its role was not granted")
	}
}

// TestJITRevoke: revocation ends live sessions, removes the role, and is
// idempotent.
func TestJITRevoke(t *testing.T) {
	f := newJIT(t)
	lease := uniqueLease(t)
	resp := mint(t, f, lease, connectors.SQLGrants{ReadOnly: true})
	role := resp.Credential.Password.User
	// A session of the role, as a client outside Warden would hold it.
	own, err := pgx.Connect(context.Background(), fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=%s sslmode=disable",
		strings.Split(f.p.Addr, ":")[0], strings.Split(f.p.Addr, ":")[1], role, resp.Credential.Password.Secret.Reveal(), f.db))
	if err != nil {
		t.Fatalf("connect as the minted role: %v", err)
	}
	defer own.Close(context.Background())
	if _, err := runAs(t, f, resp.Credential, "SELECT 1", true); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := f.cr.Revoke(t.Context(), connectors.RevokeRequest{Lease: lease, Principal: role}); err != nil {
			t.Fatalf("revoke %d: %v", i+1, err)
		}
	}
	if f.roleExists(t, role) {
		t.Fatal("role still exists after revoke")
	}
	var backends int
	f.side.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE usename = $1", role).Scan(&backends)
	if backends != 0 {
		t.Errorf("%d backends of the revoked role remain", backends)
	}
	if _, err := own.Exec(context.Background(), "SELECT 1"); err == nil {
		t.Error("a session of the revoked role still works")
	}
	if _, err := runAs(t, f, resp.Credential, "SELECT 1", true); err == nil {
		t.Error("the revoked credential still works through the connector")
	}
	if err := f.cr.Revoke(t.Context(), connectors.RevokeRequest{Principal: "postgres"}); err == nil {
		t.Error("revoke accepted a role Warden did not mint")
	}
}

// TestJITRevokeAll: many roles revoked in one go — sessions held outside
// Warden terminated, roles gone, twice is not an error, and a role Warden
// did not mint refuses the batch.
func TestJITRevokeAll(t *testing.T) {
	f := newJIT(t)
	var reqs []connectors.RevokeRequest
	var roles []string
	for i := range 3 {
		lease := fmt.Sprintf("%s%d", uniqueLease(t), i)
		resp := mint(t, f, lease, connectors.SQLGrants{ReadOnly: true})
		if _, err := runAs(t, f, resp.Credential, "SELECT 1", true); err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, connectors.RevokeRequest{Lease: lease, Principal: resp.Credential.Password.User})
		roles = append(roles, resp.Credential.Password.User)
	}
	br := f.cr.(connectors.BatchRevoker)
	for i := range 2 {
		if err := br.RevokeAll(t.Context(), reqs); err != nil {
			t.Fatalf("revoke all %d: %v", i+1, err)
		}
	}
	for _, r := range roles {
		if f.roleExists(t, r) {
			t.Errorf("role %s still exists", r)
		}
	}
	var backends int
	f.side.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE usename = ANY($1)", roles).Scan(&backends)
	if backends != 0 {
		t.Errorf("%d backends of the revoked roles remain", backends)
	}
	if err := br.RevokeAll(t.Context(), append(reqs, connectors.RevokeRequest{Principal: "postgres"})); err == nil {
		t.Error("a batch with a role Warden did not mint was accepted")
	}
}

// TestJITNoSecretInErrorsOrLogs: the password (and its verifier) never
// appear in an error or a log line, even when minting fails.
func TestJITNoSecretInErrorsOrLogs(t *testing.T) {
	f := newJIT(t)
	resp := mint(t, f, uniqueLease(t), connectors.SQLGrants{ReadOnly: true})
	_, err := f.cr.Mint(t.Context(), connectors.MintRequest{Lease: uniqueLease(t) + "x", TTL: time.Minute,
		Grants: connectors.SQLGrants{Role: "no_such_role_anywhere"}})
	if err == nil {
		t.Fatal("mint with a missing role succeeded")
	}
	for _, s := range []string{err.Error(), f.logs.String()} {
		if strings.Contains(s, resp.Credential.Password.Secret.Reveal()) || strings.Contains(s, "SCRAM-SHA-256$") {
			t.Errorf("a secret leaked: %s", s)
		}
	}
	if !strings.Contains(err.Error(), "no_such_role_anywhere") {
		t.Errorf("error does not say what failed: %v", err)
	}
}

// TestJITConcurrentMints: concurrent sessions get distinct roles.
func TestJITConcurrentMints(t *testing.T) {
	f := newJIT(t)
	var wg sync.WaitGroup
	users := make(chan string, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := mint(t, f, fmt.Sprintf("%sc%d", uniqueLease(t), i), connectors.SQLGrants{ReadOnly: true})
			if _, err := runAs(t, f, resp.Credential, "SELECT count(*) FROM items", true); err != nil {
				t.Error(err)
			}
			users <- resp.Credential.Password.User
		}()
	}
	wg.Wait()
	close(users)
	seen := map[string]bool{}
	for u := range users {
		if seen[u] {
			t.Fatalf("role %s minted twice", u)
		}
		seen[u] = true
	}
	if len(seen) != 8 {
		t.Errorf("%d roles", len(seen))
	}
}

var (
	_ = errors.New
	_ = postgres.RolePrefix
)
