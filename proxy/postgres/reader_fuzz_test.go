package postgres

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// FuzzMessageReader: whatever a client sends, msgReader hands pgproto3
// exactly the messages pgproto3 alone would decode, in order, up to the
// first one it refuses; it refuses only what pgproto3 would refuse too or
// what is over a limit; a refusal or decoding error is explained without
// a panic; and its buffer never holds much more than the bytes that came.
func FuzzMessageReader(f *testing.F) {
	enc := func(msgs ...pgproto3.FrontendMessage) []byte {
		var b []byte
		for _, m := range msgs {
			b, _ = m.Encode(b)
		}
		return b
	}
	start := enc(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "u", "database": "d"}})
	for _, s := range [][]byte{
		append(start, enc(&pgproto3.Query{String: "SELECT 1"}, &pgproto3.Terminate{})...),
		append(enc(&pgproto3.SSLRequest{}), start...),
		append(enc(&pgproto3.GSSEncRequest{}), start...),
		enc(&pgproto3.CancelRequest{ProcessID: 7, SecretKey: []byte{1, 2, 3, 4}}),
		append(start, enc(&pgproto3.Parse{Name: "s", Query: "SELECT $1", ParameterOIDs: []uint32{23}},
			&pgproto3.Bind{PreparedStatement: "s", ParameterFormatCodes: []int16{1}, Parameters: [][]byte{{0, 0, 0, 1}, nil}, ResultFormatCodes: []int16{0}},
			&pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{MaxRows: 5}, &pgproto3.Close{ObjectType: 'S', Name: "s"},
			&pgproto3.Sync{}, &pgproto3.Flush{}, &pgproto3.CopyFail{Message: "no"}, &pgproto3.CopyDone{}, &pgproto3.CopyData{Data: []byte("x")},
			&pgproto3.FunctionCall{Function: 1, Arguments: [][]byte{{1}}, ResultFormatCode: 0}, &pgproto3.PasswordMessage{Password: "p"})...),
		append(start, 'Q', 0, 0, 0, 9, 'a', 0, 'b', 0, 0),
		append(start, 'B', 0, 0, 0, 10, 0, 0, 0, 0, 0x75, 0x30),
		append(start, 'Q', 0x40, 0, 0, 0),
		append(start, 'Z', 0, 0, 0, 4),
		{0, 0, 0, 8, 0, 2, 0, 0},
		{0, 0, 0, 3},
	} {
		f.Add(s, uint16(7))
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint16) {
		const limit = 4096
		n := int(chunk%2048) + 1
		ours := newMsgReader(&chunked{data: data, n: n})
		got, gotErr, sawMax := receiveStream(ours, pgproto3.NewBackend(ours, io.Discard), limit)
		want, wantErr, _ := receiveStream(nil, pgproto3.NewBackend(&chunked{data: data, n: n}, io.Discard), limit)

		if len(got) > len(want) {
			t.Fatalf("%d messages through the reader, %d by pgproto3 alone", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("message %d: %x through the reader, %x by pgproto3 alone", i, got[i], want[i])
			}
		}
		we := ours.violation(gotErr)
		if we != nil && (we.code == "" || we.msg == "") {
			t.Fatalf("an empty refusal: %+v", we)
		}
		if len(got) < len(want) {
			// Stopped earlier than pgproto3 alone: only for a limit or a
			// check of its own, told to the client.
			if we == nil {
				t.Fatalf("stopped after %d messages of %d without a refusal: %v", len(got), len(want), gotErr)
			}
		} else if (gotErr == nil) != (wantErr == nil) || (we == nil && wantErr != nil && !isEnd(wantErr)) {
			t.Fatalf("ended with %v (violation %v), pgproto3 alone with %v", gotErr, we, wantErr)
		}
		if sawMax > max(readBufSize, 2*len(data), 0) || sawMax > max(readBufSize, 2*(limit+5)) {
			t.Fatalf("a buffer of %d bytes for %d bytes sent", sawMax, len(data))
		}
	})
}

func isEnd(err error) bool { return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) }

// receiveStream receives a client's startup phase and messages as the
// proxy does (the limit applying after startup) until an error, and
// returns each message encoded again, the error and the largest buffer m
// had (m nil: pgproto3 alone).
func receiveStream(m *msgReader, be *pgproto3.Backend, limit int) (msgs [][]byte, err error, maxBuf int) {
	seen := func() {
		if m != nil {
			maxBuf = max(maxBuf, cap(m.buf))
		}
	}
	add := func(msg pgproto3.FrontendMessage) {
		if sm, ok := msg.(*pgproto3.StartupMessage); ok {
			// Its parameters are a map: in a fixed order.
			b := fmt.Appendf(nil, "startup %d", sm.ProtocolVersion)
			for _, k := range slices.Sorted(maps.Keys(sm.Parameters)) {
				b = fmt.Appendf(b, " %q=%q", k, sm.Parameters[k])
			}
			msgs = append(msgs, b)
			return
		}
		b, encErr := msg.Encode(nil)
		if encErr != nil {
			b = []byte("unencodable")
		}
		msgs = append(msgs, b)
	}
	for {
		msg, err := be.ReceiveStartupMessage()
		seen()
		if err != nil {
			return msgs, err, maxBuf
		}
		add(msg)
		if _, ok := msg.(*pgproto3.StartupMessage); ok {
			break
		}
		if _, ok := msg.(*pgproto3.CancelRequest); ok {
			return msgs, nil, maxBuf
		}
	}
	if m != nil {
		m.typed()
		m.setLimit(limit, "proxy.postgres.max_message_bytes")
	} else {
		// Alone, pgproto3 takes a body's memory from its length field:
		// bounded too, so that the comparison does not exhaust memory.
		be.SetMaxBodyLen(limit)
	}
	for {
		msg, err := be.Receive()
		seen()
		if err != nil {
			return msgs, err, maxBuf
		}
		add(msg)
	}
}
