package mcp

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/tools"
)

// HTTPOptions configure the streamable HTTP endpoint.
type HTTPOptions struct {
	// Identifier establishes who sent each request. Required.
	Identifier identity.Identifier
	// SessionIdleTTL ends MCP sessions idle for this long (default 30 min).
	SessionIdleTTL time.Duration
}

// HTTPHandler returns the handler for /mcp. Every request is identified
// before it reaches the MCP server; one that cannot be gets 401.
func (s *Server) HTTPHandler(o HTTPOptions) http.Handler {
	if o.Identifier == nil {
		o.Identifier = identity.Refuse{}
	}
	if o.SessionIdleTTL <= 0 {
		o.SessionIdleTTL = 30 * time.Minute
	}
	h := server.NewStreamableHTTPServer(s.mcp,
		server.WithEndpointPath("/mcp"),
		server.WithSessionIdleTTL(o.SessionIdleTTL),
		server.WithStreamableHTTPLogger(s.logger),
		server.WithHTTPContextFunc(func(ctx context.Context, r *http.Request) context.Context {
			ctx = withTransport(ctx, tools.TransportHTTP)
			if p, ok := identity.FromContext(r.Context()); ok {
				ctx = identity.WithPrincipal(ctx, p)
			}
			return ctx
		}),
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := o.Identifier.IdentifyHTTP(r.Context(), r)
		if err != nil {
			if !errors.Is(err, identity.ErrUnauthenticated) {
				s.logger.Error("identify request", "err", err)
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="warden"`)
			http.Error(w, "unauthorized: "+err.Error(), http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r.WithContext(identity.WithPrincipal(r.Context(), p)))
	})
}
