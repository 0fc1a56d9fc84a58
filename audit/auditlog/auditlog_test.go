package auditlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/wardenhq/warden/audit"
)

// storage is every stored hash of a tree, tlog's way.
type storage []tlog.Hash

func (s storage) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		out[i] = s[x]
	}
	return out, nil
}

// TestFrontierMatchesTlog: the compact range gives the root tlog
// computes from the whole tree, at every size, and survives encoding.
func TestFrontierMatchesTlog(t *testing.T) {
	var f Frontier
	var st storage
	if want, _ := tlog.TreeHash(0, st); f.Root() != want {
		t.Fatalf("empty root = %v, want %v", f.Root(), want)
	}
	for n := range int64(1100) {
		h := LeafHash([]byte(fmt.Sprint(n)))
		hs, err := tlog.StoredHashesForRecordHash(n, h, st)
		if err != nil {
			t.Fatal(err)
		}
		st = append(st, hs...)
		f.Append(h)
		want, err := tlog.TreeHash(n+1, st)
		if err != nil {
			t.Fatal(err)
		}
		if f.Size() != n+1 || f.Root() != want {
			t.Fatalf("size %d: root %v, want %v", n+1, f.Root(), want)
		}
		b, _ := f.MarshalBinary()
		var g Frontier
		if err := g.UnmarshalBinary(b); err != nil || g.Root() != want || g.Size() != n+1 {
			t.Fatalf("size %d: decoded frontier: %v", n+1, err)
		}
	}
	c := f.Clone()
	c.Append(LeafHash(nil))
	if c.Size() == f.Size() || c.Root() == f.Root() {
		t.Error("a clone's append changed nothing, or changed the original")
	}
	var g Frontier
	if err := g.UnmarshalBinary([]byte{0, 0, 0, 0, 0, 0, 0, 3}); err == nil {
		t.Error("a frontier of 3 leaves without hashes decoded")
	}
}

func signer(t *testing.T, name string) *Signer {
	t.Helper()
	skey, vkey, err := GenerateKey(name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	if s.VerifierKey != vkey {
		t.Fatalf("verifier key derived from the signing key = %s, want %s", s.VerifierKey, vkey)
	}
	return s
}

// TestHeads: a head signed opens with its key and no other; unsigned,
// changed or unreadable heads do not.
func TestHeads(t *testing.T) {
	key, other := signer(t, "k"), signer(t, "k")
	h := Head{Origin: "warden-audit/0123", Size: 42, Root: LeafHash([]byte("x"))}
	msg, err := Sign(h, key)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(msg, "warden-audit/0123\n42\n") {
		t.Errorf("head text = %q", msg)
	}
	mine, theirs := note.VerifierList(key.Verifier), note.VerifierList(other.Verifier)
	if got, err := OpenHead(msg, mine); err != nil || got != h {
		t.Errorf("OpenHead = %+v, %v", got, err)
	}
	if _, err := OpenHead(msg, theirs); err == nil {
		t.Error("a head opened with another key")
	}
	if _, err := OpenHead(strings.Replace(msg, "\n42\n", "\n43\n", 1), mine); err == nil {
		t.Error("a changed head opened")
	}
	unsigned, _ := Sign(h, nil)
	if _, err := OpenHead(unsigned, mine); !errors.Is(err, ErrUnsigned) {
		t.Errorf("unsigned head: %v", err)
	}
	if got, err := OpenHead(unsigned, nil); err != nil || got != h {
		t.Errorf("unsigned head read without keys = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "o\n-1\nAAAA\n", "o\n01\n" + strings.Repeat("A", 44) + "\n", "o\n1\nnot base64\n"} {
		if _, err := ParseHead(bad); err == nil {
			t.Errorf("ParseHead(%q) succeeded", bad)
		}
	}
	if _, err := NewSigner("PRIVATE+KEY+x+00000000+AAAA"); err == nil || strings.Contains(err.Error(), "AAAA") {
		t.Errorf("a bad signing key: %v (must not quote it)", err)
	}
	if _, err := NewVerifiers("PRIVATE+KEY+x"); err == nil {
		t.Error("a signing key taken for a verifier key")
	}
}

// TestEventLeafIsWhatReadsBack: the leaf of an event is the leaf of that
// event after a JSON round trip (which is what a store's read gives).
func TestEventLeafIsWhatReadsBack(t *testing.T) {
	e := audit.Event{ID: "01M8ZZZZZZZZZZZZZZZZZZZZZZ", Time: time.Date(2026, 1, 2, 3, 4, 5, 6789, time.FixedZone("x", 3600)),
		Statement: "select '\xff'", Groups: []string{"a\xfe"}, Masked: map[string]int64{"e\xff": 2},
		Arguments: json.RawMessage(`{"sql": "select '` + "\xff" + `' <"}`), Duration: 1234567, Status: audit.StatusOK}
	leaf, err := EventLeaf(e)
	if err != nil {
		t.Fatal(err)
	}
	var back audit.Event
	if err := json.Unmarshal(leaf, &back); err != nil {
		t.Fatal(err)
	}
	again, err := EventLeaf(back)
	if err != nil || !bytes.Equal(again, leaf) {
		t.Fatalf("leaf after a round trip:\n %s\n %s", again, leaf)
	}
	if !json.Valid(leaf) || bytes.Contains(leaf, []byte{0xff}) {
		t.Errorf("leaf = %q", leaf)
	}
}

// exportOf writes an export of leaves (events and one chunk) with a
// checkpoint signed by key.
func exportOf(t *testing.T, key *Signer) ([]byte, []byte) {
	t.Helper()
	var st storage
	var leaves [][]byte
	for i := range 5 {
		e := audit.Event{ID: fmt.Sprintf("01M8ZZZZZZZZZZZZZZZZZZZZZ%d", i), Time: time.Unix(1e9, 0), Tool: "run_query", Status: audit.StatusOK}
		leaf, _ := EventLeaf(e)
		leaves = append(leaves, leaf)
	}
	chunk := []byte("[0.1, \"o\", \"hi\"]\n")
	leaves = append(leaves, ChunkLeaf("01M8ZZZZZZZZZZZZZZZZZZZZZ0", 0, chunk))
	for i, l := range leaves {
		hs, _ := tlog.StoredHashes(int64(i), l, st)
		st = append(st, hs...)
	}
	n := int64(len(leaves))
	root, _ := tlog.TreeHash(n, st)
	h := Head{Origin: "warden-audit/test", Size: n, Root: root}
	msg, err := Sign(h, key)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	x := NewExportWriter(&b)
	x.WriteCheckpoint(Checkpoint{Head: h, Note: msg, Time: time.Now()})
	for i, l := range leaves {
		p, err := tlog.ProveRecord(n, int64(i), st)
		if err != nil {
			t.Fatal(err)
		}
		if i == len(leaves)-1 {
			x.WriteChunk(int64(i), l, chunk, p)
		} else {
			x.WriteEvent(int64(i), l, p)
		}
	}
	x.Flush()
	return b.Bytes(), chunk
}

// TestVerifyExport: an export verifies with its key alone; a changed
// line, a changed chunk, a line twice, another key do not.
func TestVerifyExport(t *testing.T) {
	key := signer(t, "warden-audit")
	exp, _ := exportOf(t, key)
	vs := note.VerifierList(key.Verifier)
	rep, err := VerifyExport(bytes.NewReader(exp), vs)
	if err != nil || !rep.OK || rep.Events != 5 || rep.Chunks != 1 {
		t.Fatalf("VerifyExport = %+v, %v", rep, err)
	}
	lines := bytes.Split(bytes.TrimSpace(exp), []byte("\n"))
	for _, tt := range []struct {
		name string
		edit func() []byte
		kind string
	}{
		{"an event changed", func() []byte {
			return bytes.Replace(exp, []byte(`"tool":"run_query"`), []byte(`"tool":"drop_table"`), 1)
		}, ProblemProof},
		{"a chunk's data changed", func() []byte {
			var l map[string]any
			json.Unmarshal(lines[len(lines)-1], &l)
			l["data"] = []byte("[0.1, \"o\", \"ho\"]\n")
			b, _ := json.Marshal(l)
			return append(bytes.Join(append(lines[:len(lines)-1:len(lines)-1], b), []byte("\n")), '\n')
		}, ProblemChanged},
		{"a line twice", func() []byte {
			return append(append([]byte(nil), exp...), append(lines[2], '\n')...)
		}, ProblemProof},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := VerifyExport(bytes.NewReader(tt.edit()), vs)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || rep.Problems[0].Kind != tt.kind {
				t.Errorf("problems = %+v, want %s", rep.Problems, tt.kind)
			}
		})
	}
	if _, err := VerifyExport(bytes.NewReader(exp), note.VerifierList(signer(t, "warden-audit").Verifier)); err == nil {
		t.Error("an export verified with another key")
	}
	if _, err := VerifyExport(bytes.NewReader(bytes.Join(lines[1:], []byte("\n"))), vs); err == nil {
		t.Error("an export without its checkpoint verified")
	}
}
