package mysql_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/builtin"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/proxy"
	myproxy "github.com/wardenhq/warden/proxy/mysql"
	"github.com/wardenhq/warden/tools"
	toolsbuiltin "github.com/wardenhq/warden/tools/builtin"
)

// loginTarget is one engine for every input of FuzzLogin: a configured
// mysql connection (whose server is never reached: no input carries a
// token) behind a loopback listener.
var loginTarget = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "warden-fuzz-login")
	if err != nil {
		return "", err
	}
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("unused\n"), 0o600)
	cfg, err := config.Parse(filepath.Join(dir, "w.yaml"), []byte(fmt.Sprintf(`store: sqlite://%s/warden.db
connections:
  - {name: shop, kind: mysql, address: "127.0.0.1:1", database: shop, sslmode: disable, admin: {user: a, password_file: %s}}
rules:
  - {name: r, subjects: {groups: [agents]}, tools: [run_query], effect: allow}
`, dir, pw)))
	if err != nil {
		return "", err
	}
	engine, err := policy.Compile(cfg, tools.Names(toolsbuiltin.Tools()))
	if err != nil {
		return "", err
	}
	ctx := context.Background()
	store, err := auditsqlite.Open(ctx, cfg.Store, nil)
	if err != nil {
		return "", err
	}
	logger := slog.New(slog.DiscardHandler)
	conns, err := builtin.Registry().Open(ctx, cfg.Connections, connectors.OpenOptions{Logger: logger})
	if err != nil {
		return "", err
	}
	pipeline, err := toolsbuiltin.Open(gateway.Options{Connections: conns, Decider: engine, Recorder: store, Limits: cfg.Limits, Logger: logger})
	if err != nil {
		return "", err
	}
	e, err := myproxy.New(myproxy.Options{Gateway: pipeline.Gateway(), Connections: cfg.Connections, Tokens: proxy.NewTokens(time.Hour), Logger: logger})
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go proxy.NewServer(e, proxy.Options{Logger: logger}).Serve(ctx, ln)
	return ln.Addr().String(), nil
})

// handshakeResponse is a HandshakeResponse41 packet (sequence 1) for user
// with an auth response and plugin.
func handshakeResponse(user string, auth []byte, plugin string, flags uint32) []byte {
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, flags)
	b = binary.LittleEndian.AppendUint32(b, 1<<24)
	b = append(b, 45)
	b = append(b, make([]byte, 23)...)
	b = append(b, user...)
	b = append(b, 0, byte(len(auth)))
	b = append(b, auth...)
	b = append(b, plugin...)
	b = append(b, 0)
	n := len(b)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), 1}, b...)
}

// FuzzLogin sends what an unauthenticated client may send — the bytes
// after the server's greeting — to the MySQL proxy: a handshake response
// of any shape, an auth-switch answer, a TLS request, garbage, commands
// before login. Whatever arrives, the proxy must neither crash nor hang:
// it answers or closes, and the connection ends once the client goes.
func FuzzLogin(f *testing.F) {
	const (
		protocol41   = 0x200
		secureConn   = 0x8000
		pluginAuth   = 0x80000
		ssl          = 0x800
		connectWithD = 0x8
	)
	base := uint32(protocol41 | secureConn | pluginAuth)
	f.Add(handshakeResponse("shop", make([]byte, 32), "caching_sha2_password", base))
	f.Add(handshakeResponse("shop", make([]byte, 20), "mysql_native_password", base))
	f.Add(handshakeResponse("nope", nil, "caching_sha2_password", base))
	f.Add(handshakeResponse("shop", []byte{1}, "mysql_clear_password", base|connectWithD))
	f.Add(handshakeResponse("shop", nil, "", base|ssl)[:36])
	f.Add([]byte{0xff, 0xff, 0xff, 1})
	f.Add([]byte{1, 0, 0, 0, 3})
	f.Add(append(handshakeResponse("shop", make([]byte, 32), "caching_sha2_password", base), 1, 0, 0, 3, 2))
	f.Fuzz(func(t *testing.T, data []byte) {
		addr, err := loginTarget()
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		var hdr [4]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			t.Fatalf("no greeting: %v", err)
		}
		greeting := make([]byte, int(hdr[0])|int(hdr[1])<<8|int(hdr[2])<<16)
		if _, err := io.ReadFull(c, greeting); err != nil {
			t.Fatalf("greeting: %v", err)
		}
		c.Write(data)
		// The proxy answers (an error, an auth switch, an OK never: no
		// input has a token) or waits for more; either way it must let
		// go of the connection when the client half-closes and leaves.
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		// A reset is the proxy closing with input unread: let go too.
		if _, err := io.Copy(io.Discard, c); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the proxy held the connection after the client left: %v", err)
		}
	})
}
