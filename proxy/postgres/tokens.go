package postgres

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/wardenhq/warden/identity"
)

// TokenUserPrefix starts the user names `warden connect` issues.
const TokenUserPrefix = "wt_"

// scramIterations is the PBKDF2 cost of issued tokens' verifiers. The
// tokens are 32 random bytes, so the count does not protect them; it only
// has to be what clients accept.
const scramIterations = 4096

// Tokens issues the short-lived login tokens `warden connect` prints and
// checks them when a client logs in. It keeps, per token, who it was
// issued to, for which connection, until when, and a SCRAM verifier —
// never the token. Tokens live in this process: a token works only on the
// Warden that issued it.
type Tokens struct {
	ttl time.Duration
	now func() time.Time

	mu     sync.Mutex
	byUser map[string]*issuedToken
}

type issuedToken struct {
	user       string
	principal  identity.Principal
	connection string
	expires    time.Time
	verifier   verifier
	// digest identifies the token sent as a cleartext password.
	digest [32]byte
}

func (t *issuedToken) valid(now time.Time) bool { return now.Before(t.expires) }

// NewTokens returns an issuer of tokens valid for ttl.
func NewTokens(ttl time.Duration) *Tokens {
	return &Tokens{ttl: ttl, now: time.Now, byUser: map[string]*issuedToken{}}
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

// Issue returns a new token for p on connection.
func (t *Tokens) Issue(p identity.Principal, connection string) (Issued, error) {
	var id [16]byte
	var secret [32]byte
	var salt [16]byte
	rand.Read(id[:])
	rand.Read(secret[:])
	rand.Read(salt[:])
	user := TokenUserPrefix + idEncoding.EncodeToString(id[:])
	password := base64.RawURLEncoding.EncodeToString(secret[:])
	salted, err := pbkdf2.Key(sha256.New, password, salt[:], scramIterations, 32)
	if err != nil {
		return Issued{}, err
	}
	clientKey := hmacSHA256(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	now := t.now()
	it := &issuedToken{user: user, principal: p, connection: connection, expires: now.Add(t.ttl),
		verifier: verifier{salt: salt[:], iterations: scramIterations, storedKey: stored[:], serverKey: hmacSHA256(salted, "Server Key")},
		digest:   sha256.Sum256([]byte(password))}
	// A token is never valid after the access token it was issued for.
	if !p.Expires.IsZero() && p.Expires.Before(it.expires) {
		it.expires = p.Expires
	}
	t.mu.Lock()
	for u, old := range t.byUser {
		if !old.valid(now) {
			delete(t.byUser, u)
		}
	}
	t.byUser[user] = it
	t.mu.Unlock()
	return Issued{User: user, Password: password, Expires: it.expires}, nil
}

func (t *Tokens) lookup(user string) *issuedToken {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byUser[user]
}

// lookupSecret finds the token whose secret is password (a client that
// sends it in clear).
func (t *Tokens) lookupSecret(password string) *issuedToken {
	d := sha256.Sum256([]byte(password))
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, it := range t.byUser {
		if equalSecret(it.digest[:], d[:]) {
			return it
		}
	}
	return nil
}

// ConnectInfo is what a client needs to log in to the proxy.
type ConnectInfo struct {
	Issued
	Host       string `json:"host"`
	Port       string `json:"port"`
	Database   string `json:"database"`
	SSLMode    string `json:"sslmode"`
	DSN        string `json:"dsn"`
	Connection string `json:"connection"`
}

// TokenHandler serves POST {"connection": NAME}: a token for the caller
// (identified like every HTTP request, by ident) on that postgres
// connection, and how to connect with it. address is the proxy's address
// as clients reach it; tlsOn whether it offers TLS.
func TokenHandler(t *Tokens, ident identity.Identifier, connections map[string]bool, address string, tlsOn bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reply := func(code int, v any) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(code)
			json.NewEncoder(w).Encode(v)
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			reply(http.StatusMethodNotAllowed, map[string]string{"error": "POST only"})
			return
		}
		p, err := ident.IdentifyHTTP(r.Context(), r)
		if err != nil {
			var te *identity.TokenError
			msg := "a bearer token is required"
			if errors.As(err, &te) {
				msg = te.Description
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="warden"`)
			reply(http.StatusUnauthorized, map[string]string{"error": msg})
			return
		}
		var req struct {
			Connection string `json:"connection"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil || req.Connection == "" {
			reply(http.StatusBadRequest, map[string]string{"error": `expected {"connection": NAME}`})
			return
		}
		if !connections[req.Connection] {
			reply(http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no postgres connection named %q", req.Connection)})
			return
		}
		is, err := t.Issue(p, req.Connection)
		if err != nil {
			reply(http.StatusInternalServerError, map[string]string{"error": "cannot issue a token"})
			return
		}
		reply(http.StatusOK, connectInfo(is, req.Connection, address, tlsOn))
	})
}

func connectInfo(is Issued, connection, address string, tlsOn bool) ConnectInfo {
	host, port, _ := net.SplitHostPort(address)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	mode := "disable"
	if tlsOn {
		mode = "require"
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(is.User, is.Password), Host: net.JoinHostPort(host, port),
		Path: "/" + connection, RawQuery: "sslmode=" + mode}
	return ConnectInfo{Issued: is, Host: host, Port: port, Database: connection, SSLMode: mode, DSN: u.String(), Connection: connection}
}

// IssueLocal issues a token without HTTP (tests, in-process use).
func (t *Tokens) IssueLocal(_ context.Context, p identity.Principal, connection, address string, tlsOn bool) (ConnectInfo, error) {
	is, err := t.Issue(p, connection)
	if err != nil {
		return ConnectInfo{}, err
	}
	return connectInfo(is, connection, address, tlsOn), nil
}
