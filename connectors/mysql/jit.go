package mysql

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/policy"
)

// UserPrefix starts the name of every user Warden mints.
const UserPrefix = "warden_"

// maxUserName is MySQL's limit on user names (MariaDB's is 80): a lease id
// of 16 characters makes warden_<lease> 23.
const maxUserName = 32

var leasePattern = regexp.MustCompile(`^[a-z0-9]{6,25}$`)

// Grants implements connectors.Credentialer: a user gets the decision's
// read-only mode, table scopes and role.
func (m *MySQL) Grants(d policy.Decision) (connectors.Grants, error) {
	return connectors.SQLGrantsFor(d), nil
}

// Principal implements connectors.Credentialer: the user of a lease is
// warden_<lease> (at Warden's host, as Mint finds it).
func (m *MySQL) Principal(lease string) string { return UserPrefix + lease }

// Mint implements connectors.Credentialer: it creates the user
// 'warden_<lease>'@'<Warden's host as the server sees it>' with a random
// 32-byte password, MAX_USER_CONNECTIONS, and exactly the grants asked
// for: SELECT (and, when writes are allowed, INSERT, UPDATE, DELETE) on
// each table the globs cover, or the role. MariaDB gets the password's
// mysql_native_password hash, so the password is in no statement a server
// log could keep; MySQL, which rewrites passwords out of its logs, gets
// it for caching_sha2_password. MySQL has no account expiry: the lease's
// TTL is Warden's to enforce (the reaper revokes it).
func (m *MySQL) Mint(ctx context.Context, req connectors.MintRequest) (connectors.MintResponse, error) {
	if m.isClosed() {
		return connectors.MintResponse{}, connectors.ErrClosed
	}
	if !leasePattern.MatchString(req.Lease) {
		return connectors.MintResponse{}, fmt.Errorf("mysql: mint: bad lease id %q", req.Lease)
	}
	g, ok := req.Grants.(connectors.SQLGrants)
	if !ok {
		return connectors.MintResponse{}, fmt.Errorf("mysql: mint: grants of type %T are not a database's", req.Grants)
	}
	user := m.Principal(req.Lease)
	if len(user) > maxUserName {
		return connectors.MintResponse{}, fmt.Errorf("mysql: mint: user name %q is longer than MySQL's %d characters", user, maxUserName)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return connectors.MintResponse{}, fmt.Errorf("mysql: mint: random password: %w", err)
	}
	password := base64.RawURLEncoding.EncodeToString(raw[:])
	expires := time.Now().Add(req.TTL).UTC()
	limit := max(min(req.ConnectionLimit, m.budget.SizeNow(ctx)), 1)

	conn, err := m.admin.Conn(ctx)
	if err != nil {
		return connectors.MintResponse{}, fmt.Errorf("mysql: mint user %s: %w", user, m.mapError(err))
	}
	defer conn.Close()
	host, mariadb, err := m.wardenHost(ctx, conn)
	if err != nil {
		return connectors.MintResponse{}, fmt.Errorf("mysql: mint user %s: %w", user, err)
	}
	account := quoteString(user) + "@" + quoteString(host)
	identified := "IDENTIFIED BY PASSWORD " + quoteString(nativeHash(password))
	if !mariadb {
		identified = "IDENTIFIED WITH caching_sha2_password BY " + quoteString(password)
	}
	stmts := []string{fmt.Sprintf("CREATE USER %s %s WITH MAX_USER_CONNECTIONS %d", account, identified, limit)}
	grants, summary, err := m.grantStatements(ctx, conn, account, g, mariadb)
	if err != nil {
		return connectors.MintResponse{}, fmt.Errorf("mysql: mint user %s: %w", user, err)
	}
	stmts = append(stmts, grants...)
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			// Nothing is left half-made: the user goes (Revoke would
			// remove it too).
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			conn.ExecContext(dctx, "DROP USER IF EXISTS "+account)
			cancel()
			// The statement may hold the password: never echo it.
			return connectors.MintResponse{}, fmt.Errorf("mysql: mint user %s: %w", user, scrub(m.mapError(err), password))
		}
	}
	return connectors.MintResponse{
		Credential: connectors.Credential{Mode: connectors.ModeJIT, Lease: req.Lease,
			Password: &connectors.Password{User: user, Secret: config.NewSecret(password)}},
		Expires: expires,
		Summary: summary + " as " + user + "@" + host,
	}, nil
}

// nativeHash is a password's mysql_native_password hash:
// "*" and the upper-case hex of SHA1(SHA1(password)).
func nativeHash(password string) string {
	h1 := sha1.Sum([]byte(password))
	h2 := sha1.Sum(h1[:])
	return "*" + strings.ToUpper(hex.EncodeToString(h2[:]))
}

// wardenHost is the host part of Warden's own login as the server sees
// it (USER()): what a minted user is bound to, so that it can log in
// from nowhere else. It is asked once.
func (m *MySQL) wardenHost(ctx context.Context, conn *sql.Conn) (host string, mariadb bool, err error) {
	var user, version string
	if err := conn.QueryRowContext(ctx, "SELECT USER(), VERSION()").Scan(&user, &version); err != nil {
		return "", false, m.mapError(err)
	}
	m.jitMu.Lock()
	defer m.jitMu.Unlock()
	if m.host == "" {
		i := strings.LastIndexByte(user, '@')
		if i < 0 || i == len(user)-1 {
			return "", false, fmt.Errorf("the server reports Warden's login as %q, without a host", user)
		}
		m.host = user[i+1:]
	}
	return m.host, isMariaDB(version), nil
}

// grantStatements resolves the grants against the catalog: SELECT (and,
// if writes are allowed, INSERT, UPDATE, DELETE on base tables) on exactly
// the tables the globs cover. An unqualified glob means the connection's
// database; no Read globs at all means every table of that database.
func (m *MySQL) grantStatements(ctx context.Context, conn *sql.Conn, account string, g connectors.SQLGrants, mariadb bool) ([]string, string, error) {
	if g.Role != "" {
		role := quoteIdent(g.Role)
		def := "SET DEFAULT ROLE " + role + " FOR " + account
		if !mariadb {
			def = "SET DEFAULT ROLE " + role + " TO " + account
		}
		return []string{"GRANT " + role + " TO " + account, def}, "member of " + g.Role, nil
	}
	rs, err := conn.QueryContext(ctx, `SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES
WHERE TABLE_SCHEMA NOT IN (`+systemSchemas+`) AND TABLE_TYPE IN ('BASE TABLE', 'VIEW', 'SYSTEM VERSIONED')
ORDER BY 1, 2`)
	if err != nil {
		return nil, "", m.mapError(err)
	}
	defer rs.Close()
	var stmts []string
	readable, writable := 0, 0
	for rs.Next() {
		var schema, name, kind string
		if err := rs.Scan(&schema, &name, &kind); err != nil {
			return nil, "", m.mapError(err)
		}
		all := schema == m.database
		read := (len(g.Read) == 0 && all) || m.matchGlobs(g.Read, schema, name) || m.matchGlobs(g.Write, schema, name)
		write := !g.ReadOnly && kind != "VIEW" && ((len(g.Write) == 0 && all) || m.matchGlobs(g.Write, schema, name))
		if !read && !write {
			continue
		}
		privs := "SELECT"
		if write {
			privs = "SELECT, INSERT, UPDATE, DELETE"
			writable++
		} else {
			readable++
		}
		stmts = append(stmts, fmt.Sprintf("GRANT %s ON %s.%s TO %s", privs, quoteIdent(schema), quoteIdent(name), account))
	}
	if err := rs.Err(); err != nil {
		return nil, "", m.mapError(err)
	}
	summary := fmt.Sprintf("SELECT on %d tables", readable+writable)
	if writable > 0 {
		summary += fmt.Sprintf(", INSERT/UPDATE/DELETE on %d", writable)
	}
	return stmts, summary, nil
}

// matchGlobs matches schema.table against globs as policy does: an
// unqualified glob means the connection's database.
func (m *MySQL) matchGlobs(globs []string, schema, table string) bool {
	for _, g := range globs {
		gs, gt, ok := strings.Cut(g, ".")
		if !ok {
			gs, gt = m.database, g
		}
		if ms, _ := path.Match(gs, schema); ms {
			if mt, _ := path.Match(gt, table); mt {
				return true
			}
		}
	}
	return false
}

// Revoke implements connectors.Credentialer: the user's accounts are
// locked (no new logins), every connection of theirs is killed (DROP USER
// alone would let live sessions run on), and the accounts are dropped. A
// user that does not exist is already revoked.
func (m *MySQL) Revoke(ctx context.Context, req connectors.RevokeRequest) error {
	if m.isClosed() {
		return connectors.ErrClosed
	}
	user := req.Principal
	if user == "" {
		user = m.Principal(req.Lease)
	}
	if !strings.HasPrefix(user, UserPrefix) || !leasePattern.MatchString(strings.TrimPrefix(user, UserPrefix)) {
		return fmt.Errorf("mysql: revoke: %q is not a user Warden minted", user)
	}
	m.closeJITDB(req.Lease)
	conn, err := m.admin.Conn(ctx)
	if err != nil {
		return fmt.Errorf("mysql: revoke %s: %w", user, m.mapError(err))
	}
	defer conn.Close()
	hosts, err := m.userHosts(ctx, conn, user)
	if err != nil {
		return fmt.Errorf("mysql: revoke %s: %w", user, err)
	}
	for _, h := range hosts {
		account := quoteString(user) + "@" + quoteString(h)
		if _, err := conn.ExecContext(ctx, "ALTER USER IF EXISTS "+account+" ACCOUNT LOCK"); err != nil {
			return fmt.Errorf("mysql: revoke %s: %w", user, m.mapError(err))
		}
	}
	if err := m.killUser(ctx, conn, user); err != nil {
		return fmt.Errorf("mysql: revoke %s: %w", user, err)
	}
	for _, h := range hosts {
		if _, err := conn.ExecContext(ctx, "DROP USER IF EXISTS "+quoteString(user)+"@"+quoteString(h)); err != nil {
			return fmt.Errorf("mysql: revoke %s: %w", user, m.mapError(err))
		}
	}
	return nil
}

// userHosts lists the hosts the server has accounts of user at.
func (m *MySQL) userHosts(ctx context.Context, conn *sql.Conn, user string) ([]string, error) {
	rs, err := conn.QueryContext(ctx, "SELECT Host FROM mysql.user WHERE User = ?", user)
	if err != nil {
		return nil, m.mapError(err)
	}
	defer rs.Close()
	var hosts []string
	for rs.Next() {
		var h string
		if err := rs.Scan(&h); err != nil {
			return nil, m.mapError(err)
		}
		hosts = append(hosts, h)
	}
	return hosts, m.mapError(rs.Err())
}

// killUser kills every connection of user until none is left (a login in
// flight may appear once more): each thread by id, which MySQL and MariaDB
// both know (MariaDB's KILL USER is the same loop on the server).
func (m *MySQL) killUser(ctx context.Context, conn *sql.Conn, user string) error {
	for i := 0; ; i++ {
		rs, err := conn.QueryContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?", user)
		if err != nil {
			return m.mapError(err)
		}
		var ids []uint64
		for rs.Next() {
			var id uint64
			if err := rs.Scan(&id); err != nil {
				rs.Close()
				return m.mapError(err)
			}
			ids = append(ids, id)
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return m.mapError(err)
		}
		if len(ids) == 0 {
			return nil
		}
		if i == 50 {
			return fmt.Errorf("%d connections would not end", len(ids))
		}
		for _, id := range ids {
			if _, err := conn.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", id)); err != nil && !isErrNumber(err, errNoSuchThread) {
				return m.mapError(err)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// sessionIdleConn is how long a session's connection may sit idle before
// it is closed and its budget slot freed.
const sessionIdleConn = 10 * time.Second

// jitDB returns the pool that logs in as a minted user, creating it on
// first use. Statements of a lease always run as its user, never as admin.
func (m *MySQL) jitDB(ctx context.Context, cred connectors.Credential) (*sql.DB, error) {
	m.jitMu.Lock()
	defer m.jitMu.Unlock()
	if db, ok := m.jitDBs[cred.Lease]; ok {
		return db, nil
	}
	if cred.Password == nil {
		return nil, errors.New("mysql: a just-in-time credential without a password")
	}
	dc := m.cfg.Clone()
	dc.User, dc.Passwd = cred.Password.User, cred.Password.Secret.Reveal()
	db, err := m.openDB(dc, m.budget)
	if err != nil {
		return nil, fmt.Errorf("mysql: connect as %s: %w", cred.Password.User, err)
	}
	db.SetMaxOpenConns(m.jitMaxConns)
	db.SetMaxIdleConns(jitIdleConns(m.jitMaxConns))
	db.SetConnMaxIdleTime(sessionIdleConn)
	if m.jitDBs == nil {
		m.jitDBs = map[string]*sql.DB{}
	}
	m.jitDBs[cred.Lease] = db
	return db, nil
}

func (m *MySQL) closeJITDB(lease string) {
	m.jitMu.Lock()
	db := m.jitDBs[lease]
	delete(m.jitDBs, lease)
	m.jitMu.Unlock()
	if db != nil {
		db.Close()
	}
}

// quoteIdent quotes a MySQL identifier with backticks.
func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// quoteString quotes a string literal for Warden's own statements, under
// the pinned sql_mode (backslashes escape).
func quoteString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`, "\x00", `\0`).Replace(s) + "'"
}

var _ connectors.Credentialer = (*MySQL)(nil)
