package auditlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/wardenhq/warden/audit"
)

// What a leaf is.
//
// An event is logged each time a commit writes it: its intent (running),
// its outcome (the complete event), an outcome that replaces another (an
// approval changed a decision; an interrupted event completed after all),
// or a refused call in one step. When intent and outcome are committed
// together (a fast call), the event is one leaf. The leaf is the event's
// JSON as Event.MarshalJSON writes it, of the event as the store keeps it
// and reads it back (Normalize): so the latest leaf of an event is the
// hash of what Get returns now, and the earlier ones say that, and when,
// it changed.
//
// A recording chunk is logged once, when it is stored: its leaf names the
// recording and sequence number and holds the chunk's size and SHA-256
// (ChunkLeaf).
//
// The hash of a leaf is tlog.RecordHash (SHA-256 of 0x00 and the leaf).

// Normalize returns e as a store keeps it: time in UTC, duration to the
// microsecond, every string valid UTF-8 (invalid bytes as U+FFFD, which is
// what a JSON round trip makes of them), empty groups, masked counts and
// arguments absent. (Arguments are compacted by the JSON encoding.) It
// copies only what it changes.
func Normalize(e audit.Event) audit.Event {
	e.Time = e.Time.UTC()
	e.Duration = time.Duration(e.Duration.Microseconds()) * time.Microsecond
	for _, s := range []*string{&e.ID, &e.Session, &e.Transport, &e.Identity, &e.Issuer, &e.TokenID, &e.Tool,
		&e.Connection, &e.Statement, &e.Decision, &e.Rule, &e.Reason, &e.Status, &e.Credential, &e.Error, &e.Approval} {
		*s = validUTF8(*s)
	}
	switch {
	case len(e.Groups) == 0:
		e.Groups = nil
	case !slices.ContainsFunc(e.Groups, invalidUTF8):
	default:
		groups := make([]string, len(e.Groups))
		for i, g := range e.Groups {
			groups[i] = validUTF8(g)
		}
		e.Groups = groups
	}
	switch {
	case len(e.Masked) == 0:
		e.Masked = nil
	case !anyKey(e.Masked, invalidUTF8):
	default:
		masked := make(map[string]int64, len(e.Masked))
		for k, v := range e.Masked {
			masked[validUTF8(k)] += v
		}
		e.Masked = masked
	}
	switch {
	case len(e.Arguments) == 0:
		e.Arguments = nil
	case !utf8.Valid(e.Arguments):
		e.Arguments = bytes.ToValidUTF8(e.Arguments, []byte("\uFFFD"))
	}
	return e
}

func invalidUTF8(s string) bool { return !utf8.ValidString(s) }

func anyKey(m map[string]int64, f func(string) bool) bool {
	for k := range m {
		if f(k) {
			return true
		}
	}
	return false
}

func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// EventLeaf returns the leaf of e: the JSON of Normalize(e). A store may
// encode it faster by hand; it must write these bytes.
func EventLeaf(e audit.Event) ([]byte, error) {
	b, err := json.Marshal(Normalize(e))
	if err != nil {
		return nil, fmt.Errorf("auditlog: event %s: %w", e.ID, err)
	}
	return b, nil
}

// ChunkLeaf returns the leaf of chunk seq of recording id:
// {"recording":ID,"seq":N,"size":BYTES,"sha256":HEX}.
func ChunkLeaf(id string, seq int, chunk []byte) []byte {
	sum := sha256.Sum256(chunk)
	b := make([]byte, 0, 64+len(id)+2*sha256.Size)
	b = append(b, `{"recording":`...)
	b = strconv.AppendQuote(b, id)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, int64(len(chunk)), 10)
	b = append(b, `,"sha256":"`...)
	b = hex.AppendEncode(b, sum[:])
	return append(b, `"}`...)
}

// ChunkKey is the key of a chunk's leaf: the recording's ID, a slash and
// the sequence number. An event's key is its ID.
func ChunkKey(id string, seq int) string { return id + "/" + strconv.Itoa(seq) }

// SplitKey tells a leaf's key apart: the event ID of an event's leaf
// (seq -1), or the recording and sequence number of a chunk's.
func SplitKey(key string) (id string, seq int) {
	id, s, ok := strings.Cut(key, "/")
	if !ok {
		return key, -1
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return key, -1
	}
	return id, n
}

// ChunkRecord is a chunk's leaf, decoded.
type ChunkRecord struct {
	Recording string `json:"recording"`
	Seq       int    `json:"seq"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
}

// LeafHash is the hash of a leaf in the tree.
func LeafHash(leaf []byte) tlog.Hash { return tlog.RecordHash(leaf) }
