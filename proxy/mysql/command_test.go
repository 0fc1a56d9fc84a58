package mysql_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	vmysql "vitess.io/vitess/go/mysql"
)

// rawClient is a minimal MySQL client that logs in with
// mysql_native_password and sends commands packet by packet, for the
// commands no driver here sends (COM_CHANGE_USER, COM_BINLOG_DUMP).
type rawClient struct {
	t  *testing.T
	nc net.Conn
}

func (c *rawClient) read() (seq byte, body []byte) {
	c.t.Helper()
	var h [4]byte
	if _, err := io.ReadFull(c.nc, h[:]); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	body = make([]byte, n)
	if _, err := io.ReadFull(c.nc, body); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return h[3], body
}

func (c *rawClient) write(seq byte, body []byte) {
	c.t.Helper()
	n := len(body)
	if _, err := c.nc.Write(append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, body...)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// errorOf returns an ERR packet's number and message.
func errorOf(body []byte) (uint16, string) {
	if len(body) < 9 || body[0] != 0xff {
		return 0, ""
	}
	return binary.LittleEndian.Uint16(body[1:3]), string(body[9:])
}

func dialRaw(t *testing.T, h *harness, who string) *rawClient {
	t.Helper()
	i := h.login(who)
	nc, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	c := &rawClient{t: t, nc: nc}
	_, hs := c.read()
	// protocol, version\0, id(4), salt1(8), filler, caps(2), charset,
	// status(2), caps(2), auth length, reserved(10), salt2(12)\0, plugin.
	p := bytes.IndexByte(hs[1:], 0) + 2
	salt := append([]byte{}, hs[p+4:p+12]...)
	q := p + 12 + 1 + 2 + 1 + 2 + 2 + 1 + 10
	salt = append(salt, hs[q:q+12]...)
	const caps = vmysql.CapabilityClientProtocol41 | vmysql.CapabilityClientSecureConnection | vmysql.CapabilityClientPluginAuth |
		vmysql.CapabilityClientConnectWithDB | vmysql.CapabilityClientLongPassword | vmysql.CapabilityClientTransactions
	var resp []byte
	resp = binary.LittleEndian.AppendUint32(resp, caps)
	resp = binary.LittleEndian.AppendUint32(resp, 1<<24)
	resp = append(resp, 45)
	resp = append(resp, make([]byte, 23)...)
	resp = append(append(resp, i.Login...), 0)
	auth := vmysql.ScrambleMysqlNativePassword(salt, []byte(i.Password))
	resp = append(append(resp, byte(len(auth))), auth...)
	resp = append(append(resp, h.db...), 0)
	resp = append(append(resp, "mysql_native_password"...), 0)
	c.write(1, resp)
	_, ok := c.read()
	if ok[0] != 0 {
		n, msg := errorOf(ok)
		t.Fatalf("login: %d %s", n, msg)
	}
	return c
}

// query sends COM_QUERY and reads the whole answer; it returns the error
// packet's number (0: a result).
func (c *rawClient) query(sql string) uint16 {
	c.t.Helper()
	c.write(0, append([]byte{0x03}, sql...))
	_, first := c.read()
	if n, _ := errorOf(first); n != 0 {
		return n
	}
	if first[0] == 0 {
		return 0
	}
	// Column count, definitions, EOF, rows, EOF (no DEPRECATE_EOF).
	eofs := 0
	for eofs < 2 {
		_, b := c.read()
		if b[0] == 0xfe && len(b) < 9 {
			eofs++
		}
		if n, _ := errorOf(b); n != 0 {
			return n
		}
	}
	return 0
}

// TestProtocolCommandsRefused: COM_CHANGE_USER is refused with an error
// the client reads and the connection stays usable; COM_BINLOG_DUMP is
// refused with Warden's reason (and the connection ends, as a replication
// stream would).
func TestProtocolCommandsRefused(t *testing.T) {
	h := newHarness(t, harnessOptions{setup: itemsSetup})
	c := dialRaw(t, h, "alice")
	if n := c.query("SELECT count(*) FROM items"); n != 0 {
		t.Fatalf("query: error %d", n)
	}
	// COM_CHANGE_USER: user, auth response, database, charset, plugin.
	body := append([]byte{0x11}, "root\x00"...)
	body = append(body, 20)
	body = append(body, bytes.Repeat([]byte{1}, 20)...)
	body = append(body, "mysql\x00"...)
	body = append(body, 45, 0)
	body = append(body, "mysql_native_password\x00"...)
	c.write(0, body)
	_, resp := c.read()
	if n, msg := errorOf(resp); n != 1047 {
		t.Fatalf("COM_CHANGE_USER: %x (%d %s)", resp, n, msg)
	}
	if n := c.query("SELECT count(*) FROM items"); n != 0 {
		t.Fatalf("after COM_CHANGE_USER: error %d", n)
	}
	// COM_BINLOG_DUMP: position, flags, server id, file name.
	body = []byte{0x12, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0}
	body = append(body, "mysql-bin.000001"...)
	c.write(0, body)
	_, resp = c.read()
	n, msg := errorOf(resp)
	if n != 1227 || !strings.Contains(msg, "replication") {
		t.Fatalf("COM_BINLOG_DUMP: %d %q", n, msg)
	}
	refused := false
	for _, ev := range h.events() {
		if ev.Status == "denied" && strings.Contains(string(ev.Arguments), "COM_BINLOG_DUMP") {
			refused = true
		}
	}
	if !refused {
		t.Error("the refused COM_BINLOG_DUMP is not in the audit trail")
	}
}

// TestLoginBound: before it has logged in, a client cannot make the
// proxy read more than a login needs: a 32 MiB handshake response ends
// the connection.
func TestLoginBound(t *testing.T) {
	h := newHarness(t, harnessOptions{setup: itemsSetup})
	nc, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	c := &rawClient{t: t, nc: nc}
	c.read()
	const n = 32 << 20 // past what the kernel's socket buffers take in
	wrote := make(chan error, 1)
	go func() {
		_, err := nc.Write(append([]byte{0xff, 0xff, 0x3f, 1}, make([]byte, n)...))
		wrote <- err
	}()
	var b [1]byte
	if _, err := nc.Read(b[:]); err == nil {
		t.Fatalf("the proxy answered a 32 MiB login with %x", b)
	}
	if err := <-wrote; err == nil {
		t.Error("the proxy read the whole 32 MiB before logging in")
	}
	// Others still log in.
	if n := dialRaw(t, h, "alice").query("SELECT 1"); n != 0 {
		t.Fatalf("after: error %d", n)
	}
}
