package mysql_test

import (
	"context"
	"crypto/tls"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/wardenhq/warden/approvals"
	"github.com/wardenhq/warden/audit"
	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/builtin"
	"github.com/wardenhq/warden/credentials"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/internal/testenv"
	"github.com/wardenhq/warden/masking"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/proxy"
	myproxy "github.com/wardenhq/warden/proxy/mysql"
	"github.com/wardenhq/warden/tools"
	toolsbuiltin "github.com/wardenhq/warden/tools/builtin"
)

// harness is a Warden with a MySQL proxy in front of a fresh database of
// the test MariaDB: real server, real audit store, real policy and JIT
// users.
type harness struct {
	t      testing.TB
	m      testenv.MySQLServer
	db     string
	addr   string
	store  *auditsqlite.Store
	tokens *proxy.Tokens
	cfg    *config.Config
	engine *myproxy.Engine
}

type harnessOptions struct {
	rules       string // YAML list under rules:
	masking     string // YAML under masking: (optional)
	credentials string // jit (default) or static
	setup       []string
	tls         *tls.Config
	// remote, when set, is the address every client is seen from (a
	// loopback connection presented as another host's).
	remote net.Addr
	holder func(*auditsqlite.Store) approvals.Holder
	// maxConns is the Server's connection limit (0: the default).
	maxConns int
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
	m := testenv.MySQL(t)
	db := m.CreateDatabase(t, o.setup...)
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
    - {name: carol, groups: [agents]}
connections:
  - name: app
    kind: mysql
    address: %s
    database: %s
    sslmode: disable
    admin: {user: %s, password_file: %s}
    credentials: %s
rules:%s
`, dir, m.Addr, db, m.User, m.PasswordFile, o.credentials, o.rules)
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
	conns, err := builtin.Registry().Open(ctx, cfg.Connections, connectors.OpenOptions{Logger: logger})
	if err != nil {
		t.Fatal(err)
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
	e, err := myproxy.New(myproxy.Options{Gateway: pipeline.Gateway(), Connections: cfg.Connections, Tokens: tokens,
		TLS: o.tls, ApprovalWait: 2 * time.Second, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.remote != nil {
		ln = &remoteListener{Listener: ln, remote: o.remote}
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		proxy.NewServer(e, proxy.Options{Logger: logger, MaxConnections: o.maxConns}).Serve(sctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		e.Close()
		pipeline.Gateway().Close()
		store.Close()
	})
	return &harness{t: t, m: m, db: db, addr: ln.Addr().String(), store: store, tokens: tokens, cfg: cfg, engine: e}
}

// login issues a token for identity (with its configured groups).
func (h *harness) login(who string) myproxy.ConnectInfo {
	h.t.Helper()
	p := identity.Principal{Subject: who, Groups: h.cfg.Groups(who), Issuer: "test"}
	info, err := myproxy.IssueLocal(context.Background(), h.tokens, p, "app", h.db, h.addr, false)
	if err != nil {
		h.t.Fatal(err)
	}
	return info
}

// driverConfig is go-sql-driver's configuration for identity through the
// proxy.
func (h *harness) driverConfig(who string) *mysql.Config {
	i := h.login(who)
	c := mysql.NewConfig()
	c.Net, c.Addr, c.User, c.Passwd, c.DBName = "tcp", h.addr, i.Login, i.Password, h.db
	c.InterpolateParams = false
	c.Timeout = 20 * time.Second
	return c
}

// open opens a pool of one connection through the proxy as identity.
func (h *harness) open(who string) *sql.DB {
	h.t.Helper()
	return h.openConfig(h.driverConfig(who))
}

func (h *harness) openConfig(c *mysql.Config) *sql.DB {
	h.t.Helper()
	conn, err := mysql.NewConnector(c)
	if err != nil {
		h.t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(1)
	h.t.Cleanup(func() { db.Close() })
	return db
}

// admin is a direct connection to the test database.
func (h *harness) admin() *sql.DB { return h.m.Connect(h.t, h.db) }

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

// remoteListener presents its clients as connecting from remote.
type remoteListener struct {
	net.Listener
	remote net.Addr
}

func (l *remoteListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &remoteConn{Conn: c, remote: l.remote}, nil
}

type remoteConn struct {
	net.Conn
	remote net.Addr
}

func (c *remoteConn) RemoteAddr() net.Addr { return c.remote }
