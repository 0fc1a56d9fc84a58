package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/budget"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/policy/sqlclass"
)

// Postgres is a connector for one PostgreSQL database.
type Postgres struct {
	info   connectors.Info
	pool   *pgxpool.Pool // through the budget
	admin  *pgxpool.Pool // the reserve, for mint, revoke and kill
	budget *budget.Budget
	logger *slog.Logger

	types sync.Map // uint32 OID -> string type name

	sessions *sessions

	jitMu       sync.Mutex
	jitPools    map[string]*pgxpool.Pool // by lease: connections as minted roles
	jitMaxConns int32
	funcs       catalogCache
	typeKinds   catalogCache
	classifier  policy.Classifier

	mu     sync.Mutex
	closed bool
}

// Open builds the connector. It does not connect: the pool dials lazily,
// so Warden starts even when a target is down.
func Open(ctx context.Context, cfg config.Connection, logger *slog.Logger) (connectors.Connector, error) {
	password, err := cfg.Admin.Resolve()
	if err != nil {
		return nil, fmt.Errorf("admin credential: %w", err)
	}
	host, port, err := net.SplitHostPort(cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", cfg.Address, err)
	}
	sslmode := cfg.SSLMode
	if sslmode == "" {
		sslmode = "prefer"
	}
	// Only non-secret parts go through the connection string; the password
	// is set on the parsed config so it can never be echoed by a parse error.
	dsn := fmt.Sprintf("host=%s port=%s dbname=%s user=%s sslmode=%s application_name=warden connect_timeout=5",
		quoteDSN(host), quoteDSN(port), quoteDSN(cfg.Database), quoteDSN(cfg.Admin.User), sslmode)
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("connection settings: %w", err)
	}
	pc.ConnConfig.Password = password.Reveal()
	// Pinned for every session, and restored by DISCARD ALL: unqualified
	// names resolve where policy assumes, and the text is parsed as the
	// classifier parsed it.
	pc.ConnConfig.RuntimeParams["search_path"] = SearchPath
	pc.ConnConfig.RuntimeParams["standard_conforming_strings"] = "on"
	sess := &sessions{}
	pc.BeforeClose = func(c *pgx.Conn) { sess.reset(c.PgConn()) }
	pc.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	pc.MaxConnIdleTime = 5 * time.Minute

	// The reserve: Warden's admin work (mint, revoke, kill, reaper) on
	// connections outside the budget, so that revocation gets through
	// when the budget is full.
	ac := pc.Copy()
	ac.MaxConns = int32(max(cfg.ReservedConnections, 1))
	admin, err := pgxpool.NewWithConfig(ctx, ac)
	if err != nil {
		return nil, fmt.Errorf("connection pool: %w", err)
	}
	// Everything else — static-mode statements, describe_schema,
	// catalog reads, every session's pool, the wire proxy's upstream
	// connections — dials through the budget.
	b := budget.New(cfg.Name, cfg.MaxConnections, cfg.ConnectionWait, func(ctx context.Context) (int, error) {
		return serverBudget(ctx, admin)
	})
	pc.ConnConfig.DialFunc = pgconn.DialFunc(b.Dialer(budget.DialFunc(pc.ConnConfig.DialFunc)))
	pc.MaxConns = 1 << 20 // the budget bounds it
	pc.HealthCheckPeriod = idleCheck
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		admin.Close()
		return nil, fmt.Errorf("connection pool: %w", err)
	}
	p := &Postgres{
		info: connectors.Info{
			Name:   cfg.Name,
			Kind:   config.KindPostgres,
			Labels: cfg.Labels,
			Target: cfg.Address + "/" + cfg.Database,
		},
		pool:        pool,
		admin:       admin,
		budget:      b,
		logger:      logger,
		jitMaxConns: int32(max(cfg.JIT.ConnectionLimit, 1)),
		sessions:    sess,
	}
	b.OnWait(p.reclaimIdle)
	p.classifier = &sqlclass.Classifier{
		Options: sqlclass.Options{Functions: p, Types: p, Cache: sqlclass.NewCache(4096)},
		Schema:  SearchPath,
	}
	return p, nil
}

func quoteDSN(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// Info implements connectors.Connector.
func (p *Postgres) Info() connectors.Info { return p.info }

// Ping implements connectors.Connector.
func (p *Postgres) Ping(ctx context.Context) error {
	if p.isClosed() {
		return connectors.ErrClosed
	}
	if err := p.pool.Ping(ctx); err != nil {
		return mapError(err)
	}
	return nil
}

// Close implements connectors.Connector.
func (p *Postgres) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		p.jitMu.Lock()
		for lease, pool := range p.jitPools {
			pool.Close()
			delete(p.jitPools, lease)
		}
		p.jitMu.Unlock()
		p.pool.Close()
		p.admin.Close()
	}
	return nil
}

// idleCheck is how often pools close connections idle past their idle
// time: a session's connection goes back to the budget soon after use.
const idleCheck = 5 * time.Second

// serverBudget is the default budget: a quarter of the connections the
// server allows beyond its superuser reserve, at least 1.
func serverBudget(ctx context.Context, admin *pgxpool.Pool) (int, error) {
	var allowed int
	err := admin.QueryRow(ctx, `SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int`).Scan(&allowed)
	if err != nil {
		return 0, err
	}
	return max(allowed/4, 1), nil
}

// reclaimIdle closes the idle connections of every pool, when a call
// waits for a slot of the budget: a session's idle connection must not
// keep another session from the target.
func (p *Postgres) reclaimIdle() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	p.jitMu.Lock()
	pools := make([]*pgxpool.Pool, 0, len(p.jitPools)+1)
	for _, pool := range p.jitPools {
		pools = append(pools, pool)
	}
	p.jitMu.Unlock()
	pools = append(pools, p.pool)
	for _, pool := range pools {
		for _, c := range pool.AcquireAllIdle(ctx) {
			c.Conn().Close(ctx)
			c.Release()
		}
	}
}

// Budget is the connection's budget (for metrics and tests).
func (p *Postgres) Budget() *budget.Budget { return p.budget }

func (p *Postgres) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// typeName returns the SQL name of a type OID, asking the catalog (once per
// OID) for types pgx does not know, such as enums and domains.
func (p *Postgres) typeName(ctx context.Context, conn *pgxpool.Conn, oid uint32) string {
	if n, ok := builtinTypes[oid]; ok {
		return n
	}
	if n, ok := p.types.Load(oid); ok {
		return n.(string)
	}
	if t, ok := conn.Conn().TypeMap().TypeForOID(oid); ok {
		p.types.Store(oid, t.Name)
		return t.Name
	}
	var name string
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := p.pool.QueryRow(lctx, "SELECT format_type($1::oid, NULL)", oid).Scan(&name); err != nil {
		return "oid:" + strconv.FormatUint(uint64(oid), 10)
	}
	p.types.Store(oid, name)
	return name
}

// mapError turns driver errors into connector errors safe to show.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	var full *budget.FullError
	if errors.As(err, &full) {
		return full
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return TargetError(pgErr.Code, pgErr.Message, pgErr.Detail, pgErr.Hint)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %v", connectors.ErrTimeout, err)
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || pgconn.SafeToRetry(err) {
		return fmt.Errorf("%w: %v", connectors.ErrUnavailable, err)
	}
	return err
}

var (
	_ connectors.SQL            = (*Postgres)(nil)
	_ connectors.Credentialer   = (*Postgres)(nil)
	_ sqlclass.FunctionResolver = (*Postgres)(nil)
	_ sqlclass.TypeResolver     = (*Postgres)(nil)
)
