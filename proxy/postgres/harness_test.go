package postgres_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wardenhq/warden/approvals"
	"github.com/wardenhq/warden/audit"
	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/builtin"
	pgconnector "github.com/wardenhq/warden/connectors/postgres"
	"github.com/wardenhq/warden/credentials"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/internal/testenv"
	"github.com/wardenhq/warden/masking"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/proxy"
	pgproxy "github.com/wardenhq/warden/proxy/postgres"
	"github.com/wardenhq/warden/tools"
	toolsbuiltin "github.com/wardenhq/warden/tools/builtin"
)

// harness is a Warden with a PostgreSQL proxy in front of a fresh test
// database: real PostgreSQL, real audit store, real policy and JIT roles.
type harness struct {
	t      testing.TB
	pg     testenv.Postgres
	db     string
	addr   string
	store  *auditsqlite.Store
	tokens *proxy.Tokens
	cfg    *config.Config
}

// harnessOptions shape a harness.
type harnessOptions struct {
	rules       string // YAML list under rules:
	masking     string // YAML under masking: (optional)
	credentials string // jit (default) or static
	setup       []string
	tls         *tls.Config
	oidc        pgproxy.TokenVerifier
	holder      func(*auditsqlite.Store) approvals.Holder
	listen      string // default 127.0.0.1:0
	maxMessage  int    // proxy.postgres.max_message_bytes (0: the default)
	// classifier, when set, replaces the connection's classifier with
	// what it returns for the real one (the wall tests' liar).
	classifier func(real policy.Classifier) policy.Classifier
}

const readRules = `
  - name: agents-read
    subjects: {groups: [agents]}
    tools: [run_query]
    effect: allow
    read_only: true
`

func newHarness(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	pg := testenv.PG(t)
	db := pg.CreateDatabase(t, o.setup...)
	dir := t.TempDir()
	if o.credentials == "" {
		o.credentials = "jit"
	}
	if o.rules == "" {
		o.rules = readRules
	}
	yaml := fmt.Sprintf(`store: sqlite://%s/warden.db
identity:
  users:
    - {name: alice, groups: [agents]}
    - {name: bob, groups: [writers]}
connections:
  - name: app
    kind: postgres
    address: %s
    database: %s
    sslmode: disable
    admin: {user: %s, password_file: %s}
    credentials: %s
rules:%s
`, dir, pg.Addr, db, pg.User, pg.PasswordFile, o.credentials, o.rules)
	if o.masking != "" {
		yaml += "masking:\n" + o.masking
	}
	path := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	engine, err := policy.Compile(cfg, tools.Names(toolsbuiltin.Tools()))
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store, err := auditsqlite.Open(ctx, cfg.Store, nil)
	if err != nil {
		t.Fatal(err)
	}
	conns, err := builtin.Registry().Open(ctx, cfg.Connections, connectors.OpenOptions{Logger: logger, SSHCA: cfg.SSHCA})
	if err != nil {
		t.Fatal(err)
	}
	if o.classifier != nil {
		pg := conns["app"].(*pgconnector.Postgres)
		pg.ReplaceClassifier(o.classifier(pg.Classifier()))
	}
	creds := credentials.New(store, conns, cfg.Connections, logger)
	if err := creds.Start(ctx); err != nil {
		t.Fatal(err)
	}
	masker, err := masking.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var holder approvals.Holder
	if o.holder != nil {
		holder = o.holder(store)
	}
	pipeline, err := toolsbuiltin.Open(gateway.Options{Connections: conns, Decider: engine, Minter: creds, Masker: masker,
		Recorder: store, Limits: cfg.Limits, Logger: logger, Holder: holder})
	if err != nil {
		t.Fatal(err)
	}
	tokens := proxy.NewTokens(time.Hour)
	pgEngine, err := pgproxy.New(pgproxy.Options{Gateway: pipeline.Gateway(), Connections: cfg.Connections,
		Auth: pgproxy.Authenticator{Tokens: tokens, OIDC: o.oidc}, TLS: o.tls, ApprovalWait: 2 * time.Second,
		MaxMessageBytes: o.maxMessage, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if o.listen == "" {
		o.listen = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		proxy.NewServer(pgEngine, proxy.Options{Logger: logger}).Serve(sctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		pipeline.Gateway().Close()
		store.Close()
	})
	return &harness{t: t, pg: pg, db: db, addr: ln.Addr().String(), store: store, tokens: tokens, cfg: cfg}
}

// login issues a token for identity (with its configured groups) and
// returns its connection info.
func (h *harness) login(who string) pgproxy.ConnectInfo {
	h.t.Helper()
	p := identity.Principal{Subject: who, Groups: h.cfg.Groups(who), Issuer: "test"}
	info, err := pgproxy.IssueLocal(context.Background(), h.tokens, p, "app", h.addr, false)
	if err != nil {
		h.t.Fatal(err)
	}
	return info
}

// dsn is a libpq connection string for identity.
func (h *harness) dsn(who string) string {
	i := h.login(who)
	return fmt.Sprintf("host=%s port=%s dbname=%s user=%s password=%s sslmode=disable", i.Host, i.Port, i.Database, i.User, i.Password)
}

// connect opens a pgx connection through the proxy.
func (h *harness) connect(who string, mode pgx.QueryExecMode) *pgx.Conn {
	h.t.Helper()
	cfg, err := pgx.ParseConfig(h.dsn(who))
	if err != nil {
		h.t.Fatal(err)
	}
	cfg.DefaultQueryExecMode = mode
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		h.t.Fatalf("connect through the proxy: %v", err)
	}
	h.t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// wire opens a connection through the proxy as identity, for tests that
// speak the protocol message by message; it is closed when the test ends.
func (h *harness) wire(who string) *pgconn.HijackedConn {
	h.t.Helper()
	c, err := pgconn.Connect(context.Background(), h.dsn(who))
	if err != nil {
		h.t.Fatal(err)
	}
	hc, err := c.Hijack()
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { hc.Conn.Close() })
	return hc
}

// admin is a direct connection to the test database, as its owner.
func (h *harness) admin() *pgx.Conn { return h.pg.Connect(h.t, h.db) }

// events returns the audit events of the test, oldest first.
func (h *harness) events() []audit.Event {
	h.t.Helper()
	h.store.Sync(context.Background())
	evs, err := h.store.List(context.Background(), audit.Filter{Limit: audit.MaxListLimit})
	if err != nil {
		h.t.Fatal(err)
	}
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
		evs[i], evs[j] = evs[j], evs[i]
	}
	return evs
}
