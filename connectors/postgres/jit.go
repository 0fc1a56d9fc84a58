package postgres

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/internal/scram"
	"github.com/wardenhq/warden/policy"
)

// RolePrefix starts the name of every role Warden mints.
const RolePrefix = "warden_"

var leasePattern = regexp.MustCompile(`^[a-z0-9]{6,40}$`)

// grantLock is the advisory lock that serialises minting and revoking
// (an arbitrary constant: "warden" in ASCII).
const grantLock int64 = 0x77617264656e

// Grants implements connectors.Credentialer: a role gets the decision's
// read-only mode, table scopes and role membership.
func (p *Postgres) Grants(d policy.Decision) (connectors.Grants, error) {
	return connectors.SQLGrantsFor(d), nil
}

// Principal implements connectors.Credentialer: the role of a lease is
// warden_<lease>.
func (p *Postgres) Principal(lease string) string { return RolePrefix + lease }

// Mint implements connectors.Credentialer: it creates a LOGIN role
// warden_<lease> with a random 32-byte password (sent to PostgreSQL only as
// a SCRAM verifier, so it cannot reach the server's logs), VALID UNTIL now
// + TTL, a connection limit, and exactly the grants asked for.
func (p *Postgres) Mint(ctx context.Context, req connectors.MintRequest) (connectors.MintResponse, error) {
	if p.isClosed() {
		return connectors.MintResponse{}, connectors.ErrClosed
	}
	if !leasePattern.MatchString(req.Lease) {
		return connectors.MintResponse{}, fmt.Errorf("postgres: mint: bad lease id %q", req.Lease)
	}
	g, ok := req.Grants.(connectors.SQLGrants)
	if !ok {
		return connectors.MintResponse{}, fmt.Errorf("postgres: mint: grants of type %T are not a database's", req.Grants)
	}
	role := p.Principal(req.Lease)
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return connectors.MintResponse{}, fmt.Errorf("postgres: mint: random password: %w", err)
	}
	password := base64.RawURLEncoding.EncodeToString(raw[:])
	v, err := scram.NewVerifier(password)
	if err != nil {
		return connectors.MintResponse{}, fmt.Errorf("postgres: mint: %w", err)
	}
	verifier := v.PostgreSQL()
	expires := time.Now().Add(req.TTL).UTC()
	// A role never holds more of the target than the whole budget.
	limit := max(min(req.ConnectionLimit, p.budget.SizeNow(ctx)), 1)

	conn, err := p.admin.Acquire(ctx)
	if err != nil {
		return connectors.MintResponse{}, mapError(err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return connectors.MintResponse{}, mapError(err)
	}
	defer tx.Rollback(context.Background())

	// GRANT rewrites the ACL of shared catalog rows (the schema's):
	// concurrent grants to different roles fail with "tuple concurrently
	// updated". One lock, held to commit, serialises every Warden's grants.
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", grantLock); err != nil {
		return connectors.MintResponse{}, fmt.Errorf("postgres: mint role %s: %w", role, mapError(err))
	}
	ident := pgx.Identifier{role}.Sanitize()
	stmts := []string{fmt.Sprintf(
		"CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT CONNECTION LIMIT %d VALID UNTIL '%s' PASSWORD '%s'",
		ident, limit, expires.Format("2006-01-02 15:04:05.000000Z07:00"), verifier)}
	grants, summary, err := p.grantStatements(ctx, tx, ident, g)
	if err != nil {
		return connectors.MintResponse{}, err
	}
	stmts = append(stmts, grants...)
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			// The statement may hold the verifier: never echo it.
			return connectors.MintResponse{}, fmt.Errorf("postgres: mint role %s: %w", role, ScrubSecret(mapError(err), verifier))
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return connectors.MintResponse{}, fmt.Errorf("postgres: mint role %s: %w", role, mapError(err))
	}
	return connectors.MintResponse{
		Credential: connectors.Credential{Mode: connectors.ModeJIT, Lease: req.Lease,
			Password: &connectors.Password{User: role, Secret: config.NewSecret(password)}},
		Expires: expires,
		Summary: summary,
	}, nil
}

// grantStatements resolves the grants against the catalog: USAGE on the
// schemas, SELECT (and, if writes are allowed, INSERT/UPDATE/DELETE and the
// sequences they need) on exactly the tables the globs cover.
func (p *Postgres) grantStatements(ctx context.Context, tx pgx.Tx, ident string, g connectors.SQLGrants) ([]string, string, error) {
	if g.Role != "" {
		return []string{fmt.Sprintf("GRANT %s TO %s", pgx.Identifier{g.Role}.Sanitize(), ident)},
			"member of " + g.Role, nil
	}
	rows, err := tx.Query(ctx, `
SELECT n.nspname, c.relname, c.relkind::text
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'
ORDER BY 1, 2`)
	if err != nil {
		return nil, "", mapError(err)
	}
	type table struct{ schema, name, kind string }
	var tables []table
	for rows.Next() {
		var t table
		if err := rows.Scan(&t.schema, &t.name, &t.kind); err != nil {
			return nil, "", mapError(err)
		}
		tables = append(tables, t)
	}
	if err := rows.Err(); err != nil {
		return nil, "", mapError(err)
	}
	schemas := map[string]bool{}
	var stmts, readable, writable []string
	for _, t := range tables {
		read := len(g.Read) == 0 || matchGlobs(g.Read, t.schema, t.name) || matchGlobs(g.Write, t.schema, t.name)
		write := !g.ReadOnly && (t.kind == "r" || t.kind == "p") && (len(g.Write) == 0 || matchGlobs(g.Write, t.schema, t.name))
		if !read && !write {
			continue
		}
		q := pgx.Identifier{t.schema, t.name}.Sanitize()
		schemas[t.schema] = true
		privs := "SELECT"
		if write {
			privs = "SELECT, INSERT, UPDATE, DELETE"
			writable = append(writable, t.schema+"."+t.name)
		} else {
			readable = append(readable, t.schema+"."+t.name)
		}
		stmts = append(stmts, fmt.Sprintf("GRANT %s ON TABLE %s TO %s", privs, q, ident))
	}
	var names []string
	for s := range schemas {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, s := range names {
		stmts = append(stmts, fmt.Sprintf("GRANT USAGE ON SCHEMA %s TO %s", pgx.Identifier{s}.Sanitize(), ident))
		if !g.ReadOnly && len(writable) > 0 {
			stmts = append(stmts, fmt.Sprintf("GRANT USAGE ON ALL SEQUENCES IN SCHEMA %s TO %s", pgx.Identifier{s}.Sanitize(), ident))
		}
	}
	summary := fmt.Sprintf("SELECT on %d tables", len(readable)+len(writable))
	if len(writable) > 0 {
		summary += fmt.Sprintf(", INSERT/UPDATE/DELETE on %d", len(writable))
	}
	return stmts, summary, nil
}

// matchGlobs matches schema.table against globs as policy does: an
// unqualified glob means the default schema.
func matchGlobs(globs []string, schema, table string) bool {
	for _, g := range globs {
		gs, gt, ok := strings.Cut(g, ".")
		if !ok {
			gs, gt = SearchPath, g
		}
		if ms, _ := path.Match(gs, schema); ms {
			if mt, _ := path.Match(gt, table); mt {
				return true
			}
		}
	}
	return false
}

// Revoke implements connectors.Credentialer: no new logins, every backend
// of the role terminated, what it owns and was granted dropped, the role
// dropped. A role that does not exist is already revoked.
func (p *Postgres) Revoke(ctx context.Context, req connectors.RevokeRequest) error {
	if p.isClosed() {
		return connectors.ErrClosed
	}
	role := req.Principal
	if role == "" {
		role = p.Principal(req.Lease)
	}
	if !strings.HasPrefix(role, RolePrefix) || !leasePattern.MatchString(strings.TrimPrefix(role, RolePrefix)) {
		return fmt.Errorf("postgres: revoke: %q is not a role Warden minted", role)
	}
	p.closeJITPool(req.Lease)
	ident := pgx.Identifier{role}.Sanitize()
	var exists bool
	if err := p.admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)", role).Scan(&exists); err != nil {
		return fmt.Errorf("postgres: revoke %s: %w", role, mapError(err))
	}
	if !exists {
		return nil
	}
	if _, err := p.admin.Exec(ctx, "ALTER ROLE "+ident+" NOLOGIN"); err != nil && !isUndefinedRole(err) {
		return fmt.Errorf("postgres: revoke %s: %w", role, mapError(err))
	}
	// Terminate until no backend is left (a login in flight may appear
	// once more).
	for i := 0; ; i++ {
		var left int
		err := p.admin.QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity WHERE usename = $1) t`, role).Scan(&left)
		if err != nil {
			return fmt.Errorf("postgres: revoke %s: terminate sessions: %w", role, mapError(err))
		}
		if left == 0 {
			break
		}
		if i == 50 {
			return fmt.Errorf("postgres: revoke %s: %d sessions would not end", role, left)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	conn, err := p.admin.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: revoke %s: %w", role, mapError(err))
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: revoke %s: %w", role, mapError(err))
	}
	defer tx.Rollback(context.Background())
	for _, s := range []string{"SELECT pg_advisory_xact_lock(" + fmt.Sprint(grantLock) + ")",
		"REASSIGN OWNED BY " + ident + " TO CURRENT_USER", "DROP OWNED BY " + ident, "DROP ROLE " + ident} {
		if _, err := tx.Exec(ctx, s); err != nil {
			if isUndefinedRole(err) {
				return nil // revoked meanwhile by someone else
			}
			return fmt.Errorf("postgres: revoke %s: %w", role, mapError(err))
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: revoke %s: %w", role, mapError(err))
	}
	return nil
}

func isUndefinedRole(err error) bool {
	var te *connectors.TargetError
	if errors.As(mapError(err), &te) {
		return te.Code == "42704"
	}
	return false
}

// sessionIdleConn is how long a session's connection may sit idle before
// it is closed and its budget slot freed.
const sessionIdleConn = 10 * time.Second

// jitPool returns the pool that logs in as a minted role, creating it on
// first use. Queries of a lease always run as its role, never as admin.
func (p *Postgres) jitPool(ctx context.Context, cred connectors.Credential) (*pgxpool.Pool, error) {
	p.jitMu.Lock()
	defer p.jitMu.Unlock()
	if pool, ok := p.jitPools[cred.Lease]; ok {
		return pool, nil
	}
	if cred.Password == nil {
		return nil, errors.New("postgres: a just-in-time credential without a password")
	}
	cfg := p.pool.Config().Copy()
	cfg.ConnConfig.User = cred.Password.User
	cfg.ConnConfig.Password = cred.Password.Secret.Reveal()
	cfg.MaxConns = p.jitMaxConns
	cfg.MinConns = 0
	// A session's connections go back to the budget once idle.
	cfg.MaxConnIdleTime = sessionIdleConn
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect as %s: %w", cred.Password.User, mapError(err))
	}
	if p.jitPools == nil {
		p.jitPools = map[string]*pgxpool.Pool{}
	}
	p.jitPools[cred.Lease] = pool
	return pool, nil
}

// closeJITPool forgets a lease's pool and closes it in the background:
// Close waits for connections in use, whose backends revocation is about
// to terminate, so it must not hold revocation up.
func (p *Postgres) closeJITPool(lease string) {
	p.jitMu.Lock()
	pool := p.jitPools[lease]
	delete(p.jitPools, lease)
	p.jitMu.Unlock()
	if pool != nil {
		go pool.Close()
	}
}

// revokeBatch is how many roles RevokeAll drops in one transaction.
const revokeBatch = 100

// RevokeAll implements connectors.BatchRevoker: Revoke's steps for many
// roles at once — no new logins, every backend terminated, what they own
// and were granted dropped, the roles dropped — in one transaction per
// hundred roles, so a shutdown with hundreds of sessions takes one grant
// lock a hundred roles, not one a role.
func (p *Postgres) RevokeAll(ctx context.Context, reqs []connectors.RevokeRequest) error {
	if p.isClosed() {
		return connectors.ErrClosed
	}
	roles := make([]string, 0, len(reqs))
	for _, req := range reqs {
		role := req.Principal
		if role == "" {
			role = p.Principal(req.Lease)
		}
		if !strings.HasPrefix(role, RolePrefix) || !leasePattern.MatchString(strings.TrimPrefix(role, RolePrefix)) {
			return fmt.Errorf("postgres: revoke: %q is not a role Warden minted", role)
		}
		p.closeJITPool(req.Lease)
		roles = append(roles, role)
	}
	for len(roles) > 0 {
		n := min(len(roles), revokeBatch)
		if err := p.revokeRoles(ctx, roles[:n]); err != nil {
			return err
		}
		roles = roles[n:]
	}
	return nil
}

func (p *Postgres) revokeRoles(ctx context.Context, roles []string) error {
	rows, err := p.admin.Query(ctx, "SELECT rolname FROM pg_catalog.pg_roles WHERE rolname = ANY($1)", roles)
	if err != nil {
		return fmt.Errorf("postgres: revoke: %w", mapError(err))
	}
	existing, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("postgres: revoke: %w", mapError(err))
	}
	if len(existing) == 0 {
		return nil
	}
	idents := make([]string, len(existing))
	var b pgx.Batch
	for i, r := range existing {
		idents[i] = pgx.Identifier{r}.Sanitize()
		b.Queue("ALTER ROLE " + idents[i] + " NOLOGIN")
	}
	if err := p.admin.SendBatch(ctx, &b).Close(); err != nil && !isUndefinedRole(err) {
		return fmt.Errorf("postgres: revoke: %w", mapError(err))
	}
	for i := 0; ; i++ {
		var left int
		err := p.admin.QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity WHERE usename = ANY($1)) t`, existing).Scan(&left)
		if err != nil {
			return fmt.Errorf("postgres: revoke: terminate sessions: %w", mapError(err))
		}
		if left == 0 {
			break
		}
		if i == 50 {
			return fmt.Errorf("postgres: revoke: %d sessions would not end", left)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	list := strings.Join(idents, ", ")
	conn, err := p.admin.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: revoke: %w", mapError(err))
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: revoke: %w", mapError(err))
	}
	defer tx.Rollback(context.Background())
	for _, s := range []string{"SELECT pg_advisory_xact_lock(" + fmt.Sprint(grantLock) + ")",
		"REASSIGN OWNED BY " + list + " TO CURRENT_USER", "DROP OWNED BY " + list, "DROP ROLE " + list} {
		if _, err := tx.Exec(ctx, s); err != nil {
			// A role dropped meanwhile by someone else fails the
			// batch; the caller then revokes one by one.
			return fmt.Errorf("postgres: revoke: %w", mapError(err))
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: revoke: %w", mapError(err))
	}
	return nil
}

var (
	_ connectors.Credentialer = (*Postgres)(nil)
	_ connectors.BatchRevoker = (*Postgres)(nil)
)
