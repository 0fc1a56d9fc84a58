package mcp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/tools"
	toolsbuiltin "github.com/wardenhq/warden/tools/builtin"
)

// trickle yields its data n bytes per Read.
type trickle struct {
	data []byte
	n    int
}

func (t *trickle) Read(p []byte) (int, error) {
	if len(t.data) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), t.n, len(t.data))
	copy(p, t.data[:k])
	t.data = t.data[k:]
	return k, nil
}

// TestLineLimiter: lines up to the limit pass as they were sent, whatever
// the reads; a longer one is dropped and answered with its id, and the
// next line passes.
func TestLineLimiter(t *testing.T) {
	const max = 100
	ok := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	exact := `{"id":"s","x":"` + strings.Repeat("y", max-len(`{"id":"s","x":""}`)) + `"}`
	long := `{"jsonrpc":"2.0","id":"call-7","method":"tools/call","params":{"sql":"` + strings.Repeat("x", 10_000) + `"}}`
	idLate := `{"params":{"sql":"` + strings.Repeat("x", 10_000) + `"},"id":9}`
	for _, n := range []int{1, 7, 64, 1 << 20} {
		in := ok + "\n" + exact + "\n" + long + "\n" + idLate + "\n" + ok + "\n" + "last"
		var out bytes.Buffer
		got, err := io.ReadAll(newLineLimiter(&trickle{data: []byte(in), n: n}, &out, max))
		if err != nil {
			t.Fatal(err)
		}
		if want := ok + "\n" + exact + "\n" + ok + "\n" + "last"; string(got) != want {
			t.Fatalf("reads of %d: handed on %q", n, got)
		}
		answers := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(answers) != 2 {
			t.Fatalf("reads of %d: answers %q", n, answers)
		}
		for i, id := range []string{`"call-7"`, `null`} {
			var a struct {
				ID    json.RawMessage
				Error struct {
					Code    int
					Message string
				}
			}
			if err := json.Unmarshal([]byte(answers[i]), &a); err != nil {
				t.Fatal(err)
			}
			size := len(long)
			if i == 1 {
				size = len(idLate)
			}
			want := "message of " + itoa(size) + " bytes refused: it is over this Warden's limit of 100 bytes (limits.max_request_bytes)"
			if string(a.ID) != id || a.Error.Code != -32600 || a.Error.Message != want {
				t.Fatalf("answer %d: %s, want id %s and %q", i, answers[i], id, want)
			}
		}
	}
	// A last line over the limit, without a newline.
	var out bytes.Buffer
	got, _ := io.ReadAll(newLineLimiter(strings.NewReader(ok+"\n"+long), &out, max))
	if string(got) != ok+"\n" || !strings.Contains(out.String(), `"id":"call-7"`) {
		t.Fatalf("handed on %q, answered %q", got, out.String())
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestMaxRequestBytes: over HTTP and stdio, a message over the limit is
// refused with a JSON-RPC error and the server goes on.
func TestMaxRequestBytes(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "w.yaml"), []byte("connections: []\nlimits: {max_request_bytes: 4096}\n"))
	if err != nil {
		t.Fatal(err)
	}
	engine, err := policy.Compile(cfg, tools.Names(toolsbuiltin.Tools()))
	if err != nil {
		t.Fatal(err)
	}
	store, err := auditsqlite.Open(context.Background(), "sqlite://"+filepath.Join(dir, "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	p, err := toolsbuiltin.Open(gateway.Options{Decider: engine, Recorder: store, Limits: cfg.Limits})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(p, Options{Version: "test", MaxRequestBytes: cfg.Limits.MaxRequestBytes})
	t.Cleanup(srv.Close)

	big := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"run_query","arguments":{"connection":"x","sql":"SELECT '` +
		strings.Repeat("x", 10_000) + `'"}}}`
	t.Run("stdio", func(t *testing.T) {
		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- srv.ServeStdio(ctx, inR, outW, identity.Principal{Subject: "alice"}) }()
		go func() {
			io.WriteString(inW, initialize+"\n"+big+"\n"+`{"jsonrpc":"2.0","id":3,"method":"tools/list"}`+"\n")
		}()
		answers := map[string]string{}
		sc := bufio.NewScanner(outR)
		sc.Buffer(nil, 1<<20)
		for len(answers) < 3 && sc.Scan() {
			var a struct{ ID json.RawMessage }
			json.Unmarshal(sc.Bytes(), &a)
			answers[string(a.ID)] = sc.Text()
		}
		inW.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(answers["2"], "over this Warden's limit of 4096 bytes (limits.max_request_bytes)") ||
			!strings.Contains(answers["3"], "run_query") {
			t.Fatalf("answers: %v", answers)
		}
	})
	t.Run("http", func(t *testing.T) {
		mux := http.NewServeMux()
		srv.Mount(mux, HTTPOptions{Identifier: fakeIdentifier{"alice-token": {Subject: "alice"}}})
		ts := httptest.NewServer(mux)
		t.Cleanup(ts.Close)
		hs := ts.URL
		for name, body := range map[string]io.Reader{
			"with a length": strings.NewReader(big),
			"chunked":       io.MultiReader(strings.NewReader(big)),
		} {
			req, _ := http.NewRequest(http.MethodPost, hs+"/mcp", body)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Authorization", "Bearer alice-token")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "request body exceeds 4096 bytes") {
				t.Errorf("%s: %d %s", name, resp.StatusCode, b)
			}
		}
		if resp := do(t, http.MethodPost, hs+"/mcp", "alice-token", nil, initialize); resp.StatusCode != http.StatusOK {
			t.Fatalf("initialize after: %d", resp.StatusCode)
		}
	})
}

// FuzzLineLimiter: whatever arrives on stdio, in reads of any size, the
// lines of at most max bytes are handed on as they came and every longer
// one is answered with one JSON-RPC error.
func FuzzLineLimiter(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"method":"ping"}`+"\n"+`{"id":"x","a":"`+strings.Repeat("y", 80)+`"}`+"\nlast"), uint8(7))
	f.Add([]byte("\n\n\n"), uint8(1))
	f.Add([]byte(`{"id":[1],"id":2`), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		const max = 32
		var out bytes.Buffer
		got, err := io.ReadAll(newLineLimiter(&trickle{data: data, n: int(chunk) + 1}, &out, max))
		if err != nil {
			t.Fatal(err)
		}
		var want []byte
		long := 0
		lines := bytes.SplitAfter(data, []byte("\n"))
		for _, l := range lines {
			if len(bytes.TrimSuffix(l, []byte("\n"))) > max {
				long++
				continue
			}
			want = append(want, l...)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("handed on %q, want %q", got, want)
		}
		answers := 0
		for _, a := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
			if len(a) == 0 {
				continue
			}
			var r struct {
				JSONRPC string
				ID      json.RawMessage
				Error   struct{ Code int }
			}
			if err := json.Unmarshal(a, &r); err != nil || r.JSONRPC != "2.0" || r.Error.Code != -32600 || len(r.ID) == 0 {
				t.Fatalf("answer %q: %v", a, err)
			}
			answers++
		}
		if answers != long {
			t.Fatalf("%d answers for %d long lines", answers, long)
		}
	})
}
