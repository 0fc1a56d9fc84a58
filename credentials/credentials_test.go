package credentials

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/audit"
	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/builtin"
	"github.com/wardenhq/warden/internal/testenv"
	"github.com/wardenhq/warden/policy"
)

type jitEnv struct {
	engine *policy.Engine
	creds  *Credentials
	store  *auditsqlite.Store
	pg     testenv.Postgres
	db     string
	conns  map[string]connectors.Connector
	cfg    *config.Config
}

// newJITEnv wires a pipeline whose connection mints credentials, against
// a real PostgreSQL and a real store.
func newJITEnv(t *testing.T, rules string, jit string) *jitEnv {
	t.Helper()
	pg := testenv.PG(t)
	db := pg.CreateDatabase(t,
		"CREATE TABLE items (id int PRIMARY KEY, name text)", "INSERT INTO items VALUES (1, 'a'), (2, 'b')",
		"CREATE TABLE secrets (id int PRIMARY KEY, value text)", "INSERT INTO secrets VALUES (1, 'x')")
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "w.yaml"), []byte(fmt.Sprintf(`
connections:
  - {name: pg, kind: postgres, address: %q, database: %s, sslmode: disable, credentials: jit, jit: {%s}, admin: {user: %s, password_file: %s}}
rules:
%s`, pg.Addr, db, jit, pg.User, pg.PasswordFile, rules)))
	if err != nil {
		t.Fatal(err)
	}
	engine, store := compileAndOpen(t, cfg, dir)
	conns, err := builtin.Registry().Open(context.Background(), cfg.Connections, connectors.OpenOptions{Logger: slog.New(slog.DiscardHandler), SSHCA: cfg.SSHCA})
	if err != nil {
		t.Fatal(err)
	}
	creds := New(store, conns, cfg.Connections, slog.New(slog.DiscardHandler))
	creds.retryBase = time.Millisecond
	if err := creds.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		creds.Close(context.Background())
		for _, c := range conns {
			c.Close()
		}
	})
	return &jitEnv{engine: engine, creds: creds, store: store, pg: pg, db: db, conns: conns, cfg: cfg}
}

// queryResult is a statement run as the credential minted for it.
type queryResult struct {
	// Credential is the lease the statement ran as.
	Credential string
	Rows       [][]any
}

// query decides sql for an agent, mints its credential for session and
// runs it as that credential, as the gateway would.
func (e *jitEnv) query(t *testing.T, session, sql string) (queryResult, error) {
	t.Helper()
	ctx := context.Background()
	conn := e.conns["pg"].(connectors.SQL)
	f, err := conn.Classifier().Classify(ctx, policy.ClassifyRequest{Statement: sql})
	if err != nil {
		return queryResult{}, err
	}
	d, err := e.engine.Decide(ctx, policy.Input{Subject: "agent", Groups: []string{"agents"}, Tool: "run_query",
		Connection: policy.Connection{Name: "pg", Kind: "postgres", Namespace: conn.Classifier().Namespace()}, Statement: sql, Facts: &f})
	if err != nil {
		return queryResult{}, err
	}
	if d.Effect != policy.Allow {
		return queryResult{}, fmt.Errorf("denied: %s", d.Reason)
	}
	cred, err := e.creds.Mint(ctx, Request{Session: session, Subject: "agent", Connection: "pg", Decision: d})
	if err != nil {
		return queryResult{}, err
	}
	rows, err := conn.Query(ctx, connectors.QueryRequest{SQL: sql, ReadOnly: d.ReadOnly, Timeout: 10 * time.Second, Credential: cred})
	if err != nil {
		return queryResult{}, err
	}
	defer rows.Close()
	res := queryResult{Credential: cred.Lease}
	for rows.Next() {
		res.Rows = append(res.Rows, slices.Clone(rows.Values()))
	}
	if err := rows.Err(); err != nil {
		return queryResult{}, err
	}
	return res, rows.Close()
}

func (e *jitEnv) roles(t *testing.T) []string {
	t.Helper()
	side := e.pg.Connect(t, e.db)
	rows, err := side.Query(context.Background(), "SELECT rolname FROM pg_roles WHERE rolname LIKE 'warden\\_%' AND rolname <> 'warden_test_reporting' ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var r string
		rows.Scan(&r)
		out = append(out, r)
	}
	return out
}

func (e *jitEnv) lease(t *testing.T, id string) audit.Lease {
	t.Helper()
	ls, err := e.store.Leases(context.Background(), audit.LeaseFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.ID == id {
			return l
		}
	}
	t.Fatalf("no lease %s", id)
	return audit.Lease{}
}

func (e *jitEnv) get(id string) (audit.Event, error) {
	e.store.Sync(context.Background())
	return e.store.Get(context.Background(), id)
}

func hasRole(roles []string, role string) bool {
	for _, r := range roles {
		if r == role {
			return true
		}
	}
	return false
}

// TestJITSessionLifecycle: one role per session, reused, gone when the
// session ends; queries ran as it (the audit event names the lease).
func TestJITSessionLifecycle(t *testing.T) {
	e := newJITEnv(t, "  - {name: r, effect: allow, tables: {read: [items]}}", "")
	r1, err := e.query(t, "s1", "SELECT count(*) FROM items")
	if err != nil {
		t.Fatal(err)
	}
	lease := r1.Credential
	if lease == "" {
		t.Fatalf("event credential = %q", lease)
	}
	role := "warden_" + lease
	if !hasRole(e.roles(t), role) {
		t.Fatalf("role %s does not exist during the session", role)
	}
	if l := e.lease(t, lease); l.State != audit.LeaseActive || l.Principal != role || l.Session != "s1" || !strings.Contains(l.Grants, "SELECT on 1 tables") {
		t.Errorf("lease = %+v", l)
	}
	// Reused within the session; another session gets its own.
	r2, _ := e.query(t, "s1", "SELECT 1")
	if r2.Credential != lease {
		t.Errorf("second call used %q, want the session's lease %q", r2.Credential, lease)
	}
	r3, _ := e.query(t, "s2", "SELECT 1")
	ev3 := r3
	if ev3.Credential == lease {
		t.Error("another session reused the lease")
	}
	if !hasRole(e.roles(t), role) || !hasRole(e.roles(t), "warden_"+ev3.Credential) {
		t.Errorf("the two sessions' roles do not both exist")
	}
	e.creds.EndSession(context.Background(), "s1")
	if hasRole(e.roles(t), role) {
		t.Fatal("the role outlived its session")
	}
	if l := e.lease(t, lease); l.State != audit.LeaseRevoked || l.RevokedAt.IsZero() {
		t.Errorf("lease after session end = %+v", l)
	}
	e.creds.Close(context.Background())
	if hasRole(e.roles(t), "warden_"+ev3.Credential) {
		t.Error("Close left a role behind")
	}
	evs, _ := e.store.List(context.Background(), audit.Filter{Tool: "credential.revoke", Limit: 10})
	if len(evs) != 2 {
		t.Errorf("%d revoke events in the audit trail, want 2", len(evs))
	}
}

// TestJITIdleTimeout: a credential unused for idle_timeout is revoked by
// the reaper while the session is still open.
func TestJITIdleTimeout(t *testing.T) {
	e := newJITEnv(t, "  - {name: r, effect: allow}", "idle_timeout: 1s")
	r, err := e.query(t, "s1", "SELECT 1")
	if err != nil {
		t.Fatal(err)
	}
	ev := r
	deadline := time.Now().Add(15 * time.Second)
	for hasRole(e.roles(t), "warden_"+ev.Credential) {
		if time.Now().After(deadline) {
			t.Fatal("an idle credential was not revoked")
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The session goes on with a new credential.
	if _, err := e.query(t, "s1", "SELECT 1"); err != nil {
		t.Fatal(err)
	}
}

// TestJITGrantsFollowDecision: the role of a read-only rule with a table
// scope cannot read outside it even when asked directly.
func TestJITGrantsFollowDecision(t *testing.T) {
	e := newJITEnv(t, "  - {name: r, effect: allow, tables: {read: [items]}}", "")
	r, err := e.query(t, "s1", "SELECT count(*) FROM items")
	if err != nil {
		t.Fatal(err)
	}
	ev := r
	side := e.pg.Connect(t, e.db)
	var canSecrets, canInsert bool
	side.QueryRow(context.Background(), "SELECT has_table_privilege($1, 'secrets', 'SELECT'), has_table_privilege($1, 'items', 'INSERT')", "warden_"+ev.Credential).Scan(&canSecrets, &canInsert)
	if canSecrets || canInsert {
		t.Errorf("role privileges beyond the decision: secrets SELECT %v, items INSERT %v", canSecrets, canInsert)
	}
}

// TestReaperRevokesOrphans: a lease left active by a Warden that died is
// revoked by the next one to start.
func TestReaperRevokesOrphans(t *testing.T) {
	e := newJITEnv(t, "  - {name: r, effect: allow}", "")
	dead := audit.Instance{ID: "deadbeef", Host: e.creds.instance.Host, PID: 1 << 22, Started: time.Now(), Heartbeat: time.Now()}
	if err := e.store.Heartbeat(context.Background(), dead); err != nil {
		t.Fatal(err)
	}
	orphan := newLeaseID()
	if err := e.store.CreateLease(context.Background(), audit.Lease{ID: orphan, Connection: "pg", Principal: "warden_" + orphan,
		Instance: dead.ID, Created: time.Now(), Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.conns["pg"].(connectors.Credentialer).Mint(context.Background(), connectors.MintRequest{Lease: orphan, TTL: time.Hour, Grants: connectors.SQLGrants{ReadOnly: true}}); err != nil {
		t.Fatal(err)
	}
	e.creds.reap(context.Background())
	if hasRole(e.roles(t), "warden_"+orphan) {
		t.Fatal("the orphaned role survived the reaper")
	}
	if l := e.lease(t, orphan); l.State != audit.LeaseRevoked {
		t.Errorf("orphan lease = %+v", l)
	}
	// A lease of a live instance is left alone.
	live := newLeaseID()
	e.store.CreateLease(context.Background(), audit.Lease{ID: live, Connection: "pg", Principal: "warden_" + live,
		Instance: e.creds.instance.ID, Created: time.Now(), Expires: time.Now().Add(time.Hour)})
	e.creds.mu.Lock()
	e.creds.live["k"] = &lease{key: "k", id: live, connection: "pg", minted: true, lastUsed: time.Now(), expires: time.Now().Add(time.Hour)}
	e.creds.mu.Unlock()
	e.creds.reap(context.Background())
	if l := e.lease(t, live); l.State != audit.LeaseActive {
		t.Errorf("a live lease was reaped: %+v", l)
	}
}

// TestRevokeFailureIsMarked: a lease that cannot be revoked is retried
// with backoff, then marked failed and recorded.
func TestRevokeFailureIsMarked(t *testing.T) {
	e := newJITEnv(t, "  - {name: r, effect: allow}", "")
	id := newLeaseID()
	e.store.CreateLease(context.Background(), audit.Lease{ID: id, Connection: "gone", Principal: "warden_" + id,
		Instance: "someone-dead", Created: time.Now(), Expires: time.Now().Add(time.Hour)})
	for i := 0; i < revokeAttempts+2; i++ {
		e.creds.reap(context.Background())
		time.Sleep(20 * time.Millisecond << i)
	}
	l := e.lease(t, id)
	if l.State != audit.LeaseFailed || l.Attempts != revokeAttempts || !strings.Contains(l.LastError, "not configured") {
		t.Fatalf("lease = %+v", l)
	}
	evs, _ := e.store.List(context.Background(), audit.Filter{Tool: "credential.revoke", Status: "failed", Limit: 20})
	if len(evs) != revokeAttempts || !strings.Contains(evs[0].Error, "gave up after 5 attempts") {
		t.Errorf("failed revocations recorded: %d, newest %+v", len(evs), evs[0])
	}
}

func compileAndOpen(t *testing.T, cfg *config.Config, dir string) (*policy.Engine, *auditsqlite.Store) {
	t.Helper()
	engine, err := policy.Compile(cfg, []string{"run_query", "describe_schema", "list_connections"})
	if err != nil {
		t.Fatal(err)
	}
	store, err := auditsqlite.Open(context.Background(), filepath.Join(dir, "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return engine, store
}
