package mysql

import (
	"crypto/rand"
	"errors"
	"net"
	"sort"
	"strings"

	vmysql "vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/sqlerror"
	querypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/proxy"
)

// How a client logs in. The user name is the Warden connection (or the
// wt_... user `warden connect` printed, whose token names it); the
// password is the token `warden connect` issued:
//
//   - caching_sha2_password (the handshake's default) and
//     mysql_native_password are challenge-response exchanges: the token
//     never crosses the connection. Warden keeps, per token, what a MySQL
//     server keeps of a password (SHA256(SHA256(token)),
//     SHA1(SHA1(token))), and checks the client's answer against each
//     valid token of the connection;
//   - over TLS, a caching_sha2_password client whose answer matches no
//     token is asked for the password in clear (the exchange's "full
//     authentication"), which may then be an OIDC access token.
//
// A client from a non-loopback address without TLS is refused unless
// proxy.mysql.allow_plaintext.

// authServer is the vitess AuthServer of the engine.
type authServer struct{ e *Engine }

func (a *authServer) AuthMethods() []vmysql.AuthMethod {
	return []vmysql.AuthMethod{&authMethod{e: a.e, name: vmysql.CachingSha2Password}, &authMethod{e: a.e, name: vmysql.MysqlNativePassword}}
}

func (a *authServer) DefaultAuthMethodDescription() vmysql.AuthMethodDescription {
	return vmysql.CachingSha2Password
}

// authMethod is one of the two exchanges.
type authMethod struct {
	e    *Engine
	name vmysql.AuthMethodDescription
}

func (m *authMethod) Name() vmysql.AuthMethodDescription { return m.name }

// HandleUser accepts every user: a wrong one is refused, with a reason,
// once the exchange is over.
func (m *authMethod) HandleUser(*vmysql.Conn, string) bool { return true }

// AllowClearTextWithoutTLS: neither exchange sends the token; the full
// authentication of caching_sha2_password is asked for only over TLS.
func (m *authMethod) AllowClearTextWithoutTLS() bool { return true }

// AuthPluginData is a new 20-byte challenge, NUL-terminated as the
// protocol sends it.
func (m *authMethod) AuthPluginData() ([]byte, error) {
	salt := make([]byte, 20)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	for i := range salt {
		// 7-bit text without NUL or '$', as servers send it.
		salt[i] &= 0x7f
		if salt[i] == 0 || salt[i] == '$' {
			salt[i]++
		}
	}
	return append(salt, 0), nil
}

// caller is the Getter of a logged-in client.
type caller struct{ p identity.Principal }

func (c caller) Get() *querypb.VTGateCallerID {
	return &querypb.VTGateCallerID{Username: c.p.Subject, Groups: c.p.Groups}
}

// HandleAuthPluginData checks the client's answer, then opens its
// session: the gateway admits it to the connection and its upstream
// connection logs in. Any refusal is an error packet the client shows.
func (m *authMethod) HandleAuthPluginData(c *vmysql.Conn, user string, server, client []byte, remote net.Addr) (vmysql.Getter, error) {
	e := m.e
	st := e.state(c.ConnectionID)
	if st == nil {
		return nil, sqlerror.NewSQLError(sqlerror.ERAccessDeniedError, sqlerror.SSAccessDeniedError, "Access denied: unknown connection")
	}
	secure := c.TLSEnabled()
	if !secure && !e.o.AllowPlaintext && !proxy.IsLoopback(remote) {
		msg := "Warden accepts plaintext connections only from loopback addresses, and has no TLS certificate configured"
		if e.o.TLS != nil {
			msg = "Warden requires TLS from this address: connect with --ssl-mode=REQUIRED (mysql) or --ssl (mariadb)"
		}
		return nil, sqlerror.NewSQLError(sqlerror.ErrorCode(3159), "HY000", msg)
	}
	salt := server
	if n := len(salt); n > 0 && salt[n-1] == 0 {
		salt = salt[:n-1]
	}
	check := func(t *proxy.Token) bool {
		switch m.name {
		case vmysql.CachingSha2Password:
			return len(client) == 32 && vmysql.VerifyHashedCachingSha2Password(client, salt, t.MySQLSHA2[:])
		default:
			return len(client) == 20 && vmysql.VerifyHashedMysqlNativePassword(client, salt, t.MySQLNative[:])
		}
	}
	connection := user
	var tok *proxy.Token
	if proxy.IsTokenUser(user) {
		if t := e.o.Tokens.Lookup(user); e.o.Tokens.Valid(t) {
			connection = t.Connection
			if check(t) {
				tok = t
			}
		}
	} else {
		if _, ok := e.conns[connection]; !ok {
			return nil, sqlerror.NewSQLErrorf(sqlerror.ERAccessDeniedError, sqlerror.SSAccessDeniedError,
				"Access denied for user '%s': the user name is the Warden connection to reach, and %q is not a mysql connection of this Warden (%s)",
				user, user, e.connectionNames())
		}
		tok = e.o.Tokens.Match(connection, check)
	}
	var p identity.Principal
	switch {
	case tok != nil:
		p = tok.Principal
	case m.name == vmysql.CachingSha2Password && secure:
		// Full authentication: the password in clear, over TLS.
		var err error
		if p, connection, err = m.fullAuth(c, user, connection); err != nil {
			return nil, err
		}
	default:
		return nil, denied(user)
	}
	if _, ok := e.conns[connection]; !ok {
		return nil, denied(user)
	}
	if m.name == vmysql.CachingSha2Password && tok != nil {
		// fast_auth_success: the answer matched; the OK packet follows.
		if err := c.WritePacket([]byte{0, 0, 0, 0, 0x01, 0x03}); err != nil {
			return nil, err
		}
	}
	if err := e.open(st, c, p, connection); err != nil {
		return nil, err
	}
	return caller{p}, nil
}

// fullAuth asks for the password in clear (over TLS): a token of
// `warden connect` for the connection, or an OIDC access token.
func (m *authMethod) fullAuth(c *vmysql.Conn, user, connection string) (identity.Principal, string, error) {
	e := m.e
	if err := c.WritePacket([]byte{0, 0, 0, 0, 0x01, 0x04}); err != nil {
		return identity.Principal{}, "", err
	}
	data, err := c.ReadPacket()
	if err != nil {
		return identity.Principal{}, "", err
	}
	raw := strings.TrimSpace(strings.TrimRight(string(data), "\x00"))
	if raw == "" {
		return identity.Principal{}, "", denied(user)
	}
	if t := e.o.Tokens.LookupSecret(raw); t != nil {
		if !e.o.Tokens.Valid(t) || t.Connection != connection {
			return identity.Principal{}, "", denied(user)
		}
		return t.Principal, connection, nil
	}
	if e.o.OIDC == nil {
		return identity.Principal{}, "", denied(user)
	}
	st := e.state(c.ConnectionID)
	p, err := e.o.OIDC.Verify(st.ctx, raw)
	if err != nil {
		var te *identity.TokenError
		if errors.As(err, &te) {
			return identity.Principal{}, "", sqlerror.NewSQLErrorf(sqlerror.ERAccessDeniedError, sqlerror.SSAccessDeniedError,
				"Access denied for user '%s': %s", user, te.Description)
		}
		if errors.Is(err, identity.ErrUnavailable) {
			return identity.Principal{}, "", sqlerror.NewSQLError(sqlerror.ERUnknownError, sqlerror.SSUnknownSQLState,
				"the identity provider cannot be reached to check the token; try again later")
		}
		return identity.Principal{}, "", denied(user)
	}
	return p, connection, nil
}

func denied(user string) error {
	return sqlerror.NewSQLErrorf(sqlerror.ERAccessDeniedError, sqlerror.SSAccessDeniedError,
		"Access denied for user '%s': the password must be a token from `warden connect %s`, valid and issued for this connection (run warden connect again)", user, user)
}

func (e *Engine) connectionNames() string {
	var names []string
	for n := range e.conns {
		names = append(names, n)
	}
	if len(names) == 0 {
		return "none is configured"
	}
	sort.Strings(names)
	return "one of: " + strings.Join(names, ", ")
}
