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
func (s *Server) ServeStdio(ctx context.Context, in io.Reader, out io.Writer, principal identity.Principal) error {
	stdio := server.NewStdioServer(s.mcp)
	stdio.SetErrorLogger(log.New(slogWriter{s.logger}, "", 0))
	server.WithWorkerPoolSize(32)(stdio)
	server.WithQueueSize(256)(stdio)
	stdio.SetContextFunc(func(ctx context.Context) context.Context {
		return identity.WithPrincipal(withTransport(ctx, gateway.TransportStdio), principal)
	})
	return stdio.Listen(ctx, in, out)
}

// NewSessionID returns a random session identifier.
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
