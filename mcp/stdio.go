package mcp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log"
	"log/slog"

	"github.com/mark3labs/mcp-go/server"

	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/identity"
)

// ServeStdio serves one MCP client on in/out as principal until in ends
// or ctx is cancelled. Logs go to the server's logger, never to out.
//
// The client's calls are one Warden session with a fresh random id
// ("stdio-" and 24 hex digits), in every audit event and logged at start;
// when ServeStdio returns, the session ends: calls still running are
// cancelled and its just-in-time credentials revoked. A message (a line)
// over Options.MaxRequestBytes is answered with a JSON-RPC error without
// being read whole.
func (s *Server) ServeStdio(ctx context.Context, in io.Reader, out io.Writer, principal identity.Principal) error {
	session := "stdio-" + NewSessionID()
	s.logger.Info("stdio session", "session", session, "identity", principal.Subject)
	defer s.sessions.end(session)
	stdio := server.NewStdioServer(s.mcp)
	stdio.SetErrorLogger(log.New(slogWriter{s.logger}, "", 0))
	server.WithWorkerPoolSize(32)(stdio)
	server.WithQueueSize(256)(stdio)
	stdio.SetContextFunc(func(ctx context.Context) context.Context {
		return withSession(identity.WithPrincipal(withTransport(ctx, gateway.TransportStdio), principal), session)
	})
	w := &lockedWriter{w: out}
	return stdio.Listen(ctx, newLineLimiter(in, w, s.maxRequest), w)
}

// NewSessionID returns a random session identifier: 24 hex digits.
func NewSessionID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn("mcp stdio", "msg", string(p))
	return len(p), nil
}
