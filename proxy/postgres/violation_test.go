package postgres_test

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// fatalAfter sends raw bytes on conn and returns the FATAL error the proxy
// answers with; the connection must then be closed.
func fatalAfter(t *testing.T, conn net.Conn, raw []byte) *pgproto3.ErrorResponse {
	t.Helper()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := conn.Write(raw); err != nil {
		t.Fatal(err)
	}
	fe := pgproto3.NewFrontend(conn, io.Discard)
	var fatal *pgproto3.ErrorResponse
	for {
		msg, err := fe.Receive()
		if err != nil {
			if fatal == nil {
				t.Fatalf("the connection ended without an ErrorResponse: %v", err)
			}
			return fatal
		}
		if fatal != nil {
			t.Fatalf("%T after the FATAL error", msg)
		}
		if e, ok := msg.(*pgproto3.ErrorResponse); ok && e.Severity == "FATAL" {
			e2 := *e
			fatal = &e2
		}
	}
}

func header(typ byte, length uint32, body ...byte) []byte {
	b := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], length)
	return append(b, body...)
}

// TestProtocolViolations: a malformed message from a logged-in client is
// answered as PostgreSQL answers it, FATAL 08P01 saying what was wrong
// (54000 for a message over the limit, naming it), and the connection is
// closed; the audit trail records why the session ended.
func TestProtocolViolations(t *testing.T) {
	h := newHarness(t, harnessOptions{maxMessage: 1 << 20})
	bind := []byte{0, 0, 0, 0, 0x75, 0x30} // 30,000 parameters
	bind = append(bind, 0, 0, 0, 1, 'x')
	for name, tc := range map[string]struct {
		raw  []byte
		code string
		want string
	}{
		"a 1 GiB claim":           {header('Q', 1<<30+4, 'S', 'E', 'L'), "54000", "Query message of 1073741824 bytes refused: it is over this Warden's limit of 1048576 bytes (proxy.postgres.max_message_bytes)"},
		"a NUL inside a Query":    {append(header('Q', 4+15), "SELECT 1\x00 OR 2\x00"...), "08P01", "its text contains a NUL byte (at byte 8 of 14): SQL text cannot contain NUL"},
		"shorter than its header": {header('Q', 2), "08P01", "invalid Query message length 2"},
		"an unknown type":         {header('Y', 4), "08P01", "invalid frontend message type 89"},
		"30,000 parameters":       {header('B', uint32(4+len(bind)), bind...), "08P01", "it claims 30000 parameter values but its body ends after 1 of them"},
		"a password after login":  {header('p', 6, 'x', 0), "08P01", "unexpected password message after login"},
	} {
		t.Run(name, func(t *testing.T) {
			hc := h.wire("alice")
			e := fatalAfter(t, hc.Conn, tc.raw)
			if e.Code != tc.code || !strings.Contains(e.Message, tc.want) {
				t.Fatalf("FATAL %s %q, want %s %q", e.Code, e.Message, tc.code, tc.want)
			}
		})
	}
	reasons := 0
	for _, ev := range h.events() {
		if ev.Tool == "proxy.disconnect" && strings.HasPrefix(ev.Error, "protocol violation: ") {
			reasons++
		}
	}
	if reasons != 6 {
		t.Errorf("%d proxy.disconnect events say protocol violation, want 6", reasons)
	}
}

// TestStartupViolations: the startup phase, before any login, answers a
// bad packet the same way.
func TestStartupViolations(t *testing.T) {
	h := newHarness(t, harnessOptions{tls: selfSigned(t)})
	packet := func(body ...byte) []byte {
		b := make([]byte, 4, 4+len(body))
		binary.BigEndian.PutUint32(b, uint32(4+len(body)))
		return append(b, body...)
	}
	ssl, _ := (&pgproto3.SSLRequest{}).Encode(nil)
	for name, tc := range map[string]struct {
		raw  []byte
		code string
		want string
	}{
		"a length over the limit":    {[]byte{0x40, 0, 0, 0}, "08P01", "invalid length of startup packet: 1073741824 bytes (8 to 10004)"},
		"an unsupported protocol":    {packet(0, 4, 0, 1), "0A000", "unsupported frontend protocol 4.1: Warden supports 3.0 and 3.2"},
		"no terminator":              {packet(0, 3, 0, 0, 'u', 's', 'e', 'r', 0, 'a', 0), "08P01", "invalid startup packet layout: expected terminator as last byte"},
		"plaintext after SSLRequest": {append(ssl, packet(0, 3, 0, 0, 0)...), "08P01", "received unencrypted data after SSL request"},
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", h.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			e := fatalAfter(t, conn, tc.raw)
			if e.Code != tc.code || !strings.Contains(e.Message, tc.want) {
				t.Fatalf("FATAL %s %q, want %s %q", e.Code, e.Message, tc.code, tc.want)
			}
		})
	}

	// The password message is bounded before login: 64 KiB.
	conn, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write(ssl)
	var b [1]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil || b[0] != 'S' {
		t.Fatalf("SSLRequest answered %q, %v", b[0], err)
	}
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.HandshakeContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	start, _ := (&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30,
		Parameters: map[string]string{"user": "someone", "database": "app"}}).Encode(nil)
	if _, err := tc.Write(start); err != nil {
		t.Fatal(err)
	}
	tc.SetDeadline(time.Now().Add(20 * time.Second))
	fe := pgproto3.NewFrontend(tc, io.Discard)
	if msg, err := fe.Receive(); err != nil {
		t.Fatal(err)
	} else if _, ok := msg.(*pgproto3.AuthenticationCleartextPassword); !ok {
		t.Fatalf("%T, want a cleartext password request", msg)
	}
	e := fatalAfter(t, tc, header('p', 100_004))
	if e.Code != "54000" || !strings.Contains(e.Message, "limit of 65535 bytes (before login)") {
		t.Fatalf("FATAL %s %q", e.Code, e.Message)
	}
}
