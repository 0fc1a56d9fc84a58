package proxy

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"strings"
	"sync"
	"time"

	"github.com/wardenhq/warden/identity"
)

// TokenUserPrefix starts the user names `warden connect` issues.
const TokenUserPrefix = "wt_"

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Tokens issues the short-lived login tokens `warden connect` prints and
// checks them when a client logs in to a proxy. It keeps, per token, who
// it was issued to, for which connection, until when, a SCRAM verifier
// and a digest: never the token. Tokens live in this process: a token
// works only on the Warden that issued it.
type Tokens struct {
	ttl time.Duration
	now func() time.Time

	mu     sync.Mutex
	byUser map[string]*Token
}

// Token is an issued token as Warden keeps it.
type Token struct {
	User       string
	Principal  identity.Principal
	Connection string
	Expires    time.Time
	// Verifier checks the token by SCRAM-SHA-256.
	Verifier Verifier
	// MySQLNative and MySQLSHA2 check the token by MySQL's
	// challenge-response logins, as a MySQL server keeps a password:
	// SHA1(SHA1(token)) for mysql_native_password and
	// SHA256(SHA256(token)) for caching_sha2_password (neither is enough
	// to log in with).
	MySQLNative [20]byte
	MySQLSHA2   [32]byte
	// digest identifies the token sent as a cleartext password.
	digest [32]byte
}

// NewTokens returns an issuer of tokens valid for ttl.
func NewTokens(ttl time.Duration) *Tokens {
	return &Tokens{ttl: ttl, now: time.Now, byUser: map[string]*Token{}}
}

// IsTokenUser reports whether user is a name `warden connect` issued.
func IsTokenUser(user string) bool {
	return strings.HasPrefix(user, TokenUserPrefix) && len(user) == len(TokenUserPrefix)+26
}

// Issued is a token, as `warden connect` prints it.
type Issued struct {
	User     string    `json:"user"`
	Password string    `json:"password"`
	Expires  time.Time `json:"expires_at"`
}

// Issue returns a new token for p on connection. It is never valid after
// the access token p came with.
func (t *Tokens) Issue(p identity.Principal, connection string) (Issued, error) {
	var id [16]byte
	var secret [32]byte
	rand.Read(id[:])
	rand.Read(secret[:])
	user := TokenUserPrefix + idEncoding.EncodeToString(id[:])
	password := base64.RawURLEncoding.EncodeToString(secret[:])
	v, err := NewVerifier(password)
	if err != nil {
		return Issued{}, err
	}
	now := t.now()
	it := &Token{User: user, Principal: p, Connection: connection, Expires: now.Add(t.ttl), Verifier: v,
		digest: sha256.Sum256([]byte(password))}
	n1 := sha1.Sum([]byte(password))
	it.MySQLNative = sha1.Sum(n1[:])
	it.MySQLSHA2 = sha256.Sum256(it.digest[:])
	if !p.Expires.IsZero() && p.Expires.Before(it.Expires) {
		it.Expires = p.Expires
	}
	t.mu.Lock()
	for u, old := range t.byUser {
		if !old.valid(now) {
			delete(t.byUser, u)
		}
	}
	t.byUser[user] = it
	t.mu.Unlock()
	return Issued{User: user, Password: password, Expires: it.Expires}, nil
}

func (tk *Token) valid(now time.Time) bool { return now.Before(tk.Expires) }

// Valid reports whether tk (which may be nil) can log in now.
func (t *Tokens) Valid(tk *Token) bool { return tk != nil && tk.valid(t.now()) }

// Lookup returns the token issued as user, nil if none (it may have
// expired: check Valid).
func (t *Tokens) Lookup(user string) *Token {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byUser[user]
}

// LookupSecret finds the token whose secret is password (a client that
// sends it in clear), nil if none.
func (t *Tokens) LookupSecret(password string) *Token {
	d := sha256.Sum256([]byte(password))
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, it := range t.byUser {
		if EqualSecret(it.digest[:], d[:]) {
			return it
		}
	}
	return nil
}

// Match returns the valid token issued for connection that check
// accepts (a client that proves it knows a token without naming it: a
// MySQL login whose user name is the connection), nil if none. Every
// valid token of the connection is checked.
func (t *Tokens) Match(connection string, check func(*Token) bool) *Token {
	now := t.now()
	t.mu.Lock()
	cands := make([]*Token, 0, 4)
	for _, it := range t.byUser {
		if it.Connection == connection && it.valid(now) {
			cands = append(cands, it)
		}
	}
	t.mu.Unlock()
	var found *Token
	for _, it := range cands {
		if check(it) && found == nil {
			found = it
		}
	}
	return found
}
