package mcp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/identity"
)

// HTTPOptions configure the streamable HTTP endpoint.
type HTTPOptions struct {
	// Identifier establishes who sent each request. Required.
	Identifier identity.Identifier
	// Resource describes Warden as an OAuth 2.0 protected resource. When
	// set, refusals point clients to its RFC 9728 metadata, which Mount
	// serves; nil when Warden accepts no bearer tokens.
	Resource *ProtectedResource
}

// ProtectedResource is what Warden publishes about itself as an OAuth 2.0
// protected resource (RFC 9728), so that an MCP client can find where to
// get a token for it.
type ProtectedResource struct {
	// URL is Warden's MCP endpoint as clients address it: the resource
	// identifier, and the audience its tokens must carry.
	URL string
	// AuthorizationServers are the issuers clients may get tokens from.
	AuthorizationServers []string
	// Scopes are the scopes a token needs.
	Scopes []string
}

// MetadataPath is where the resource's metadata is served: the well-known
// path with the resource URL's path appended (RFC 9728 §3.1).
func (r *ProtectedResource) MetadataPath() string {
	return server.ProtectedResourceMetadataPath(r.URL)
}

// MetadataURL is the absolute URL of the resource's metadata, as named in
// WWW-Authenticate challenges.
func (r *ProtectedResource) MetadataURL() string {
	u, err := url.Parse(r.URL)
	if err != nil {
		return ""
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: r.MetadataPath()}).String()
}

// Paths of the HTTP front door.
const (
	PathMCP    = "/mcp"
	PathWhoAmI = "/whoami"
)

// Mount serves the HTTP front door on mux: the MCP endpoint at /mcp,
// /whoami (the caller's identity as Warden sees it), and, with o.Resource,
// the RFC 9728 metadata at its own path and at the root well-known path.
func (s *Server) Mount(mux *http.ServeMux, o HTTPOptions) {
	mux.Handle(PathMCP, s.HTTPHandler(o))
	mux.Handle(PathWhoAmI, s.authenticate(o, http.HandlerFunc(whoAmI)))
	if o.Resource == nil {
		return
	}
	meta := server.NewProtectedResourceMetadataHandler(server.ProtectedResourceMetadataConfig{
		Resource:               o.Resource.URL,
		AuthorizationServers:   o.Resource.AuthorizationServers,
		ScopesSupported:        o.Resource.Scopes,
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "Warden",
	})
	mux.Handle(o.Resource.MetadataPath(), meta)
	if o.Resource.MetadataPath() != server.WellKnownProtectedResourcePath {
		mux.Handle(server.WellKnownProtectedResourcePath, meta)
	}
}

// HTTPHandler returns the handler for /mcp. Every request is identified
// before it reaches the MCP server; one that cannot be gets 401 (403 when
// its token lacks a required scope). An MCP session belongs to the
// identity that opened it: another identity presenting its id is answered
// as if the session did not exist.
//
// A request body over Options.MaxRequestBytes is refused (413, with a
// JSON-RPC error) without being read whole.
//
// A caller of revision 2026-07-28 sends no session id: its calls belong to
// the Warden session the server keeps for it (see Options.SessionIdle).
func (s *Server) HTTPHandler(o HTTPOptions) http.Handler {
	owners := &sessionOwners{owners: map[string]string{}}
	h := server.NewStreamableHTTPServer(s.mcp,
		server.WithEndpointPath(PathMCP),
		server.WithSessionIdleTTL(s.idle),
		server.WithSessionIdManagerResolver(owners),
		server.WithStreamableHTTPLogger(s.logger),
		server.WithMaxRequestBodyBytes(int64(s.maxRequest)),
		server.WithHTTPContextFunc(func(ctx context.Context, r *http.Request) context.Context {
			ctx = withTransport(ctx, gateway.TransportHTTP)
			if p, ok := identity.FromContext(r.Context()); ok {
				ctx = identity.WithPrincipal(ctx, p)
			}
			return ctx
		}),
	)
	// mcp-go validates the session of a POST through owners, but not that
	// of a GET (the server-to-client stream) or a DELETE: check them here.
	guard := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := r.Header.Get(server.HeaderKeySessionID); id != "" && r.Method != http.MethodPost {
			if _, err := owners.ResolveSessionIdManager(r).Validate(id); err != nil {
				http.Error(w, "Invalid session ID", http.StatusNotFound)
				return
			}
		}
		if s.tasksEnabled {
			w = &taskStatusFilter{ResponseWriter: w, owner: ownerKey(r.Context()), tasks: s.tasks}
		}
		if r.Method == http.MethodPost {
			call := &httpCall{}
			w = &callStatus{ResponseWriter: w, call: call}
			r = r.WithContext(context.WithValue(r.Context(), httpCallKey{}, call))
		}
		h.ServeHTTP(w, r)
	})
	return s.authenticate(o, guard)
}

// authenticate identifies every request before next sees it.
func (s *Server) authenticate(o HTTPOptions, next http.Handler) http.Handler {
	ident := o.Identifier
	if ident == nil {
		ident = identity.Refuse{}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := ident.IdentifyHTTP(r.Context(), r)
		if err != nil {
			s.refuse(w, r, o.Resource, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(identity.WithPrincipal(r.Context(), p)))
	})
}

// refuse answers a request that could not be identified, with the
// challenge of RFC 6750 §3 and the metadata pointer of RFC 9728 §5.1. It
// logs the path, never the query (which may hold a token).
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, res *ProtectedResource, err error) {
	var te *identity.TokenError
	if !errors.As(err, &te) {
		if errors.Is(err, identity.ErrUnavailable) {
			s.logger.Warn("cannot identify request: identity provider unavailable", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
			w.Header().Set("Retry-After", "10")
			http.Error(w, "unavailable: the identity provider cannot be reached; try again later", http.StatusServiceUnavailable)
			return
		}
		s.logger.Error("identify request", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
		http.Error(w, "internal error while identifying the request", http.StatusInternalServerError)
		return
	}
	params := []string{`realm="warden"`}
	status, prefix := http.StatusUnauthorized, "unauthorized"
	switch te.Code {
	case identity.CodeInvalidRequest:
		status, prefix = http.StatusBadRequest, "bad request"
	case identity.CodeInsufficientScope:
		status, prefix = http.StatusForbidden, "forbidden"
	}
	if te.Code != "" {
		params = append(params, authParam("error", te.Code), authParam("error_description", te.Description))
	}
	if len(te.Scopes) > 0 {
		params = append(params, authParam("scope", strings.Join(te.Scopes, " ")))
	} else if res != nil && len(res.Scopes) > 0 && te.Code == "" {
		params = append(params, authParam("scope", strings.Join(res.Scopes, " ")))
	}
	if res != nil {
		params = append(params, authParam("resource_metadata", res.MetadataURL()))
	}
	w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
	if te.Code == "" {
		s.logger.Debug("request without credentials", "path", r.URL.Path, "remote", r.RemoteAddr)
	} else {
		attrs := []any{"path", r.URL.Path, "remote", r.RemoteAddr, "error", te.Code, "reason", te.Description}
		if te.Issuer != "" {
			attrs = append(attrs, "issuer", te.Issuer)
		}
		if te.Cause != nil {
			attrs = append(attrs, "detail", te.Cause.Error())
		}
		s.logger.Info("refused credentials", attrs...)
	}
	http.Error(w, prefix+": "+te.Description, status)
}

// authParam renders name="value" for a WWW-Authenticate challenge. RFC 6750
// restricts error_description and scope to printable ASCII without '"' or
// '\'; anything else is replaced.
func authParam(name, value string) string {
	b := []byte(value)
	for i, c := range b {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b[i] = '?'
		}
	}
	return name + `="` + string(b) + `"`
}

// whoAmI answers GET /whoami with the caller's identity as Warden sees
// it, for `warden login` and for people debugging their groups.
func whoAmI(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p, _ := identity.FromContext(r.Context())
	out := struct {
		Subject string     `json:"subject"`
		Groups  []string   `json:"groups"`
		Issuer  string     `json:"issuer"`
		TokenID string     `json:"token_id,omitempty"`
		Expires *time.Time `json:"expires_at,omitempty"`
	}{Subject: p.Subject, Groups: p.Groups, Issuer: p.Issuer, TokenID: p.TokenID}
	if out.Groups == nil {
		out.Groups = []string{}
	}
	if !p.Expires.IsZero() {
		out.Expires = &p.Expires
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(out)
}

// sessionOwners binds each MCP session id to the identity that opened it,
// as the MCP security guidance asks: a session id is not a credential, so
// another identity presenting it must not reach the session. mcp-go asks
// it for a SessionIdManager per request (nil when it sweeps idle sessions).
type sessionOwners struct {
	mu     sync.Mutex
	owners map[string]string // session id -> owner key
}

func (s *sessionOwners) ResolveSessionIdManager(r *http.Request) server.SessionIdManager {
	if r == nil {
		return &sessionIDs{owners: s}
	}
	p, ok := identity.FromContext(r.Context())
	if !ok {
		return &sessionIDs{owners: s, owner: "\x00unidentified"}
	}
	return &sessionIDs{owners: s, owner: p.Issuer + "\x00" + p.Subject, bound: true}
}

// sessionIDs is the SessionIdManager of one request (bound to its caller)
// or of the idle sweeper (not bound: it may only end sessions).
type sessionIDs struct {
	owners *sessionOwners
	owner  string
	bound  bool
}

func (m *sessionIDs) Generate() string {
	if !m.bound {
		return ""
	}
	var b [16]byte
	rand.Read(b[:])
	id := httpSessionPrefix + hex.EncodeToString(b[:])
	m.owners.mu.Lock()
	m.owners.owners[id] = m.owner
	m.owners.mu.Unlock()
	return id
}

// httpSessionPrefix starts the id of every MCP session Warden makes.
const httpSessionPrefix = "mcp-session-"

var errNoSession = errors.New("no such session")

func (m *sessionIDs) Validate(id string) (bool, error) {
	m.owners.mu.Lock()
	owner, ok := m.owners.owners[id]
	m.owners.mu.Unlock()
	if !ok || !m.bound || owner != m.owner {
		return false, errNoSession
	}
	return false, nil
}

func (m *sessionIDs) Terminate(id string) (bool, error) {
	m.owners.mu.Lock()
	defer m.owners.mu.Unlock()
	owner, ok := m.owners.owners[id]
	if !ok {
		return false, nil
	}
	if m.bound && owner != m.owner {
		return true, nil // not allowed: the session is another identity's
	}
	delete(m.owners.owners, id)
	return false, nil
}

var _ server.SessionIdManagerResolver = (*sessionOwners)(nil)
