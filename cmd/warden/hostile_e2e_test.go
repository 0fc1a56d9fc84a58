package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// TestHostileClientsBoundedMemory: clients that claim huge messages take
// the server's memory only as far as its configuration allows, and a
// normal client is served all along.
//
//   - 50 logged-in proxy clients each send a Query header claiming 1 GiB:
//     each gets FATAL 54000 naming proxy.postgres.max_message_bytes and is
//     closed, at once;
//   - 50 more each claim a Bind of just under the limit (here 64 MiB) and
//     send 256 KiB of it, then stall: the server holds what they sent, not
//     what they claimed; they leave, and 50 more do the same;
//   - 50 HTTP requests post 10 MB bodies to /mcp (half with a length,
//     half chunked): each gets 413.
//
// The bound: Warden's peak resident set may grow by at most 256 MiB over
// what it was before. What these clients can make it hold: a stalled
// client, a 512 KiB buffer (it doubles as bytes arrive) and the smaller
// ones it grew through, about 1 MiB, so 50 MiB a wave; an HTTP body, at
// most twice limits.max_request_bytes and as much again of garbage while
// it is read, 4 MiB, though not all 50 at the same instant; and Go's
// collector lets the heap reach about twice what is live before it
// collects. Measured on the 2-core development machine: 90-125 MiB.
// Taking the claims at their word would be 3.2 GB for each wave of
// stalled clients, and 50 GiB for the others.
func TestHostileClientsBoundedMemory(t *testing.T) {
	const limit = 64 << 20
	e := startProxyServe(t, fmt.Sprintf("proxy:\n  postgres:\n    max_message_bytes: %d\n", limit))
	info := e.connectInfo(t)
	dsn := fmt.Sprintf("host=%s port=%s dbname=%s user=%s password=%s sslmode=disable", info["host"], info["port"], info["database"], info["user"], info["password"])
	ctx := context.Background()
	normal, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer normal.Close(ctx)
	query := func() {
		t.Helper()
		res, err := normal.Exec(ctx, "SELECT name FROM people WHERE id = 3").ReadAll()
		if err != nil || len(res) != 1 || len(res[0].Rows) != 1 || string(res[0].Rows[0][0]) != "person 3" {
			t.Fatalf("a normal query: %v %v", res, err)
		}
	}
	query()
	before := peakRSS(t, e.pid)

	// Logged in, then raw protocol.
	hostile := func() net.Conn {
		t.Helper()
		c, err := pgconn.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		hc, err := c.Hijack()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { hc.Conn.Close() })
		return hc.Conn
	}
	header := func(typ byte, length uint32) []byte {
		b := []byte{typ, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(b[1:], length)
		return b
	}

	// Over the limit: refused from the header.
	var claims []net.Conn
	for range 50 {
		claims = append(claims, hostile())
	}
	for _, c := range claims {
		if _, err := c.Write(append(header('Q', 1<<30+4), "SEL"...)); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range claims {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		fe := pgproto3.NewFrontend(c, io.Discard)
		msg, err := fe.Receive()
		er, ok := msg.(*pgproto3.ErrorResponse)
		if err != nil || !ok || er.Severity != "FATAL" || er.Code != "54000" ||
			!strings.Contains(er.Message, fmt.Sprintf("over this Warden's limit of %d bytes (proxy.postgres.max_message_bytes)", limit)) {
			t.Fatalf("client %d claiming 1 GiB: %#v, %v", i, msg, err)
		}
		if _, err := fe.Receive(); err == nil {
			t.Fatalf("client %d: the connection stayed open after the FATAL error", i)
		}
	}
	query()

	// Under the limit, sent in part: memory follows the bytes. Twice: the
	// second wave comes after the first is gone, when memory the first
	// took would be reused (and, taken from the length field, zeroed in
	// full).
	part := make([]byte, 256<<10)
	stalledRSS := 0
	for range 2 {
		var stalled []net.Conn
		for range 50 {
			stalled = append(stalled, hostile())
		}
		for _, c := range stalled {
			if _, err := c.Write(append(header('B', limit+4), part...)); err != nil {
				t.Fatal(err)
			}
		}
		query()
		// Give the stalled clients' bytes a moment to be read (were they
		// not, the measure would be low, never high).
		time.Sleep(time.Second)
		stalledRSS = max(stalledRSS, procStatus(t, e.pid, "VmRSS:"))
		for _, c := range stalled {
			c.Close()
		}
	}

	// HTTP bodies over limits.max_request_bytes.
	body := strings.Repeat("x", 10<<20)
	var wg sync.WaitGroup
	status := make([]int, 50)
	errs := make([]error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r io.Reader = strings.NewReader(body)
			if i%2 == 1 {
				r = io.MultiReader(r) // no length: chunked
			}
			req, _ := http.NewRequest(http.MethodPost, e.server, r)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			status[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	refused := 0
	for i := range 50 {
		switch {
		case status[i] == http.StatusRequestEntityTooLarge:
			refused++
		case errs[i] != nil && isClosedByServer(errs[i]):
			// The server answered and closed while the client was still
			// sending its body: it did not read it.
		default:
			t.Errorf("HTTP body %d: status %d, %v", i, status[i], errs[i])
		}
	}
	query()
	after := peakRSS(t, e.pid)
	t.Logf("Warden's peak RSS: %d MiB before, %d MiB with 50 stalled clients (current), %d MiB at the end; %d of 50 HTTP bodies answered 413",
		before/1024, stalledRSS/1024, after/1024, refused)
	if refused < 25 {
		t.Errorf("only %d of 50 oversized HTTP bodies were answered 413", refused)
	}
	if grew := after - before; grew > 256<<10 {
		t.Fatalf("Warden's peak RSS grew by %d MiB (bound 256 MiB)", grew/1024)
	}
}

// isClosedByServer reports whether err is a client's write to a connection
// the server closed.
func isClosedByServer(err error) bool {
	s := err.Error()
	return strings.Contains(s, "broken pipe") || strings.Contains(s, "connection reset")
}
