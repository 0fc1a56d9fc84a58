package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Engine is one wire protocol's proxy.
type Engine interface {
	// Serve runs one client connection from its first byte to its end:
	// it speaks the protocol, identifies the client, opens the client's
	// gateway session on the connection it asks for, takes every
	// operation through it, and ends it before returning. The Server
	// closes conn after Serve returns; Serve must return soon after ctx
	// ends.
	Serve(ctx context.Context, conn net.Conn)
	// Busy tells a client the proxy is at its connection limit, the way
	// the protocol says so (PostgreSQL: 53300 too many clients), and
	// returns. It must not block for long.
	Busy(conn net.Conn)
}

// DefaultMaxConnections bounds a Server's concurrent clients when its
// options do not.
const DefaultMaxConnections = 256

// Options configure a Server.
type Options struct {
	// MaxConnections bounds concurrent client connections; a client past
	// it is told so by the engine and closed.
	MaxConnections int
	Logger         *slog.Logger
}

// Server accepts clients for one engine.
type Server struct {
	engine Engine
	log    *slog.Logger
	sem    chan struct{}

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewServer builds a server for engine.
func NewServer(engine Engine, o Options) *Server {
	if o.MaxConnections <= 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{engine: engine, log: o.Logger, sem: make(chan struct{}, o.MaxConnections), conns: map[net.Conn]struct{}{}}
}

// Serve accepts clients on ln until ctx ends, then closes every client
// connection (their sessions end and their credentials are revoked) and
// returns once every engine call has.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	defer func() {
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	}()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return err
		}
		select {
		case s.sem <- struct{}{}:
		default:
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer nc.Close()
				s.engine.Busy(nc)
			}()
			continue
		}
		s.track(nc, true)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.sem }()
			defer s.track(nc, false)
			defer nc.Close()
			s.engine.Serve(ctx, nc)
		}()
	}
}

func (s *Server) track(c net.Conn, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
}

// IsLoopback reports whether a client connects from a loopback address
// (or a Unix socket): a secret may cross such a connection in clear.
func IsLoopback(a net.Addr) bool {
	switch ta := a.(type) {
	case *net.TCPAddr:
		return ta.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	}
	return false
}

// LoadTLS loads a proxy's certificate and key (PEM files) into the TLS
// configuration it offers clients (TLS 1.2 at least).
func LoadTLS(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
