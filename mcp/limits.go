package mcp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// How long one MCP message may be (Options.MaxRequestBytes): over HTTP,
// mcp-go reads at most that much of a request body and answers a longer
// one 413 with a JSON-RPC error; on stdio, where a message is a line,
// lineLimiter does the same before mcp-go's reader sees the line.

// lineLimiter is what mcp-go's stdio server reads from: the lines of src,
// each handed on once it is whole and at most max bytes long. A longer
// line is dropped as it arrives, never held whole, and answered on out
// with a JSON-RPC error (with the request's id when the part held shows
// it), as mcp-go answers an HTTP body over the limit.
type lineLimiter struct {
	src io.Reader
	out io.Writer // shared with the server's own writes (lockedWriter)
	max int

	chunk   []byte // read from src, buf[c:n] not yet looked at
	c, n    int
	line    []byte // the line so far (at most max bytes)
	ready   []byte // the rest of the whole line being handed on (in line)
	handed  bool   // line is being handed on: start anew once ready is empty
	drop    bool   // the current line is over max: skipping to its end
	dropped int    // the dropped line's length so far
	id      json.RawMessage
	err     error
}

func newLineLimiter(src io.Reader, out io.Writer, max int) *lineLimiter {
	return &lineLimiter{src: src, out: out, max: max, chunk: make([]byte, 32<<10)}
}

func (l *lineLimiter) Read(p []byte) (int, error) {
	for len(l.ready) == 0 {
		if l.c == l.n {
			if l.err != nil {
				return 0, l.finish()
			}
			n, err := l.src.Read(l.chunk)
			l.c, l.n, l.err = 0, n, err
			continue
		}
		l.scan()
	}
	k := copy(p, l.ready)
	l.ready = l.ready[k:]
	return k, nil
}

// scan looks at the bytes read up to the end of the current line.
func (l *lineLimiter) scan() {
	if l.handed {
		l.line, l.handed = l.line[:0], false
	}
	seg := l.chunk[l.c:l.n]
	i := bytes.IndexByte(seg, '\n')
	end := i >= 0
	if end {
		seg = seg[:i+1]
	}
	l.c += len(seg)
	switch {
	case l.drop:
		l.dropped += len(seg)
	case len(l.line)+len(seg) > l.max+1 || (!end && len(l.line)+len(seg) > l.max):
		// Over the limit (the newline does not count): keep only the id,
		// if the first max bytes show it.
		l.id = requestID(append(l.line, seg[:l.max-len(l.line)]...))
		l.drop, l.dropped, l.line = true, len(l.line)+len(seg), l.line[:0]
	default:
		l.line = append(l.line, seg...)
	}
	if !end {
		return
	}
	if l.drop {
		l.refuse(true)
		return
	}
	l.ready, l.handed = l.line, true
}

// finish ends the input: a last line without a newline is handed on
// (mcp-go reads it at EOF), or answered when it was too long.
func (l *lineLimiter) finish() error {
	if l.drop {
		l.refuse(false)
	} else if len(l.line) > 0 && !l.handed {
		l.ready, l.handed = l.line, true
		return nil
	}
	return l.err
}

// refuse answers the line just dropped; newline says a newline ended it
// (the newline is not part of the message).
func (l *lineLimiter) refuse(newline bool) {
	size := l.dropped
	if newline {
		size--
	}
	id := l.id
	if id == nil {
		id = json.RawMessage("null")
	}
	msg := fmt.Sprintf("message of %d bytes refused: it is over this Warden's limit of %d bytes (limits.max_request_bytes)", size, l.max)
	b, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}{JSONRPC: "2.0", ID: id, Error: struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{Code: -32600, Message: msg}})
	l.out.Write(append(b, '\n'))
	l.drop, l.dropped, l.id = false, 0, nil
}

// requestID is the id of the JSON-RPC request whose first bytes are
// prefix, when they show it (a number or a string member "id" of the
// top-level object); nil otherwise.
func requestID(prefix []byte) json.RawMessage {
	dec := json.NewDecoder(bytes.NewReader(prefix))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil
		}
		if k == "id" && len(v) > 0 && (v[0] == '"' || v[0] == '-' || (v[0] >= '0' && v[0] <= '9')) {
			return v
		}
	}
	return nil
}

// lockedWriter makes each Write whole on w, so that an error answered by
// lineLimiter never lands inside a message of the server's.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (lw *lockedWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.w.Write(p)
}
