package sqlite

import (
	"bytes"
	"encoding/json"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/internal/jsonenc"
)

// referenceJSON is how encoding/json writes an event: audit.Event's
// MarshalJSON, and the format of journals already on disk.
func referenceJSON(e audit.Event) ([]byte, error) {
	return json.Marshal(e)
}

// TestAppendEventMatchesEncodingJSON: on random events, strings full of
// what must be escaped (quotes, control characters, HTML, U+2028,
// invalid UTF-8), the hand-written encoder writes the bytes of
// audit.Event's MarshalJSON (encoding/json).
func TestAppendEventMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		e := randomEvent(rng)
		want, wantErr := referenceJSON(e)
		got, err := appendEvent(nil, &e, nil)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("event %d: error %v, encoding/json: %v\n%#v", i, err, wantErr, e)
		}
		if err != nil {
			continue
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("event %d:\n got  %s\n want %s", i, got, want)
		}
	}
}

// TestEventJSONRoundTrip: what appendEvent writes, UnmarshalJSON reads
// back as the event, with invalid UTF-8 replaced as encoding/json does.
func TestEventJSONRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 20000 {
		e := randomEvent(rng)
		e.Time = time.Unix(0, rng.Int64N(1<<62)).UTC()
		e.Duration = time.Duration(rng.Int64N(1<<20)) * time.Millisecond // exact as float milliseconds
		if !json.Valid(e.Arguments) {
			e.Arguments = nil
		}
		b, err := appendEvent(nil, &e, nil)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		var back audit.Event
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("event %d: %v\n%s", i, err, b)
		}
		want := sanitized(e)
		if !reflect.DeepEqual(back, want) {
			t.Fatalf("event %d:\n got  %#v\n want %#v\n json %s", i, back, want, b)
		}
	}
}

// sanitized is e as it reads back from JSON: invalid UTF-8 bytes as
// U+FFFD, empty groups and masked counts absent, arguments compacted.
func sanitized(e audit.Event) audit.Event {
	fix := func(s string) string { return string([]rune(s)) }
	for _, p := range []*string{&e.ID, &e.Session, &e.Transport, &e.Identity, &e.Issuer, &e.TokenID,
		&e.Tool, &e.Connection, &e.Statement, &e.Decision, &e.Rule, &e.Reason, &e.Status,
		&e.Credential, &e.Error, &e.Approval} {
		*p = fix(*p)
	}
	if len(e.Groups) == 0 {
		e.Groups = nil
	} else {
		g := make([]string, len(e.Groups))
		for i, s := range e.Groups {
			g[i] = fix(s)
		}
		e.Groups = g
	}
	if len(e.Masked) == 0 {
		e.Masked = nil
	} else {
		// Keys written in order; of two that read back the same, the last wins.
		m := make(map[string]int64, len(e.Masked))
		for _, k := range slices.Sorted(maps.Keys(e.Masked)) {
			m[fix(k)] = e.Masked[k]
		}
		e.Masked = m
	}
	if len(e.Arguments) == 0 {
		e.Arguments = nil
	} else {
		e.Arguments, _ = json.Marshal(e.Arguments) // compacted, HTML escaped
	}
	return e
}

// TestAppendEventSpans: the spans name the groups and masked JSON the row
// stores, as encoding/json writes them alone.
func TestAppendEventSpans(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 2000 {
		e := randomEvent(rng)
		e.Time = time.Unix(rng.Int64N(1<<32), 0)
		if !json.Valid(e.Arguments) {
			e.Arguments = nil
		}
		var sp eventSpans
		b, err := appendEvent(nil, &e, &sp)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			span [2]int
			v    any
			set  bool
		}{{sp.groups, e.Groups, len(e.Groups) > 0}, {sp.masked, e.Masked, len(e.Masked) > 0}} {
			got := string(b[c.span[0]:c.span[1]])
			want := ""
			if c.set {
				w, _ := json.Marshal(c.v)
				want = string(w)
			}
			if got != want {
				t.Fatalf("event %d: span %q, want %q", i, got, want)
			}
		}
	}
}

// randomEvent is an event whose every field may be empty, odd or hostile.
func randomEvent(rng *rand.Rand) audit.Event {
	s := func() string { return randomString(rng) }
	maybe := func() string {
		if rng.IntN(3) == 0 {
			return ""
		}
		return s()
	}
	e := audit.Event{
		ID: maybe(), Session: maybe(), Transport: maybe(), Identity: maybe(), Issuer: maybe(),
		TokenID: maybe(), Tool: maybe(), Connection: maybe(), Statement: maybe(), Decision: maybe(),
		Rule: maybe(), Reason: maybe(), Status: maybe(), Credential: maybe(), Error: maybe(), Approval: maybe(),
		Truncated: rng.IntN(2) == 0,
	}
	switch rng.IntN(4) {
	case 0: // zero
	case 1:
		e.Rows = rng.Int64()
	default:
		e.Rows = rng.Int64N(1000) - 10
	}
	switch rng.IntN(5) {
	case 0: // zero
	case 1:
		e.Duration = time.Duration(rng.Int64())
	case 2:
		e.Duration = -time.Duration(rng.Int64N(1e9))
	case 3:
		e.Duration = time.Duration(rng.Int64N(1000)) // under a microsecond: exponent notation
	default:
		e.Duration = time.Duration(rng.Int64N(int64(time.Hour)))
	}
	zones := []*time.Location{time.UTC, time.FixedZone("X", 5*3600+30*60), time.FixedZone("Y", -7*3600), time.FixedZone("bad", 30*3600)}
	switch rng.IntN(10) {
	case 0:
		e.Time = time.Time{}
	case 1: // years outside RFC 3339: an error from both
		e.Time = time.Date(10000+rng.IntN(100), 1, 1, 0, 0, 0, 0, time.UTC)
	default:
		e.Time = time.Unix(rng.Int64N(1<<35)-1<<34, rng.Int64N(1e9)).In(zones[rng.IntN(len(zones))])
	}
	switch rng.IntN(3) {
	case 0:
	case 1:
		e.Groups = []string{}
	default:
		for range 1 + rng.IntN(4) {
			e.Groups = append(e.Groups, randomString(rng))
		}
	}
	switch rng.IntN(3) {
	case 0:
	case 1:
		e.Masked = map[string]int64{}
	default:
		e.Masked = map[string]int64{}
		for range 1 + rng.IntN(4) {
			e.Masked[randomString(rng)] = rng.Int64N(1<<40) - 1<<39
		}
	}
	switch rng.IntN(4) {
	case 0:
	case 1: // not JSON: an error from both
		e.Arguments = json.RawMessage(`{"sql":` + randomString(rng))
	default:
		var b []byte
		randomJSON(rng, &b, 0)
		e.Arguments = b
	}
	return e
}

// pieces of strings that need escaping, or are easy to get wrong.
var stringPieces = []string{
	"a", "Z", "select * from t where x = 'y'", " ", `"`, `\`, "/", "<", ">", "&", "\b", "\f", "\n",
	"\r", "\t", "\x00", "\x01", "\x1f", "\x7f", "é", "€", "😀", "\u2028", "\u2029", "\u2027", "\u202a",
	"\xff", "\xc3", "\xe2\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\uFFFD", `\u0041`,
}

func randomString(rng *rand.Rand) string {
	var b strings.Builder
	for range rng.IntN(8) {
		b.WriteString(stringPieces[rng.IntN(len(stringPieces))])
	}
	return b.String()
}

// randomJSON appends a valid JSON value with random whitespace; its
// strings hold raw bytes encoding/json accepts (invalid UTF-8 too).
func randomJSON(rng *rand.Rand, b *[]byte, depth int) {
	ws := func() {
		for range rng.IntN(3) {
			*b = append(*b, " \t\n\r"[rng.IntN(4)])
		}
	}
	ws()
	kind := rng.IntN(7)
	if depth > 3 {
		kind = rng.IntN(5)
	}
	switch kind {
	case 0:
		*b = append(*b, []string{"true", "false", "null"}[rng.IntN(3)]...)
	case 1:
		*b = append(*b, []string{"0", "-1", "12.5e-3", "1E+9", "-0.0", "123456789012345678901234567890"}[rng.IntN(6)]...)
	case 2, 3, 4:
		*b = append(*b, '"')
		for range rng.IntN(6) {
			p := stringPieces[rng.IntN(len(stringPieces))]
			switch p {
			case `"`, `\`:
				p = `\` + p
			case "\b", "\f", "\n", "\r", "\t", "\x00", "\x01", "\x1f":
				p = `\u00` + string(hexDigits[p[0]>>4]) + string(hexDigits[p[0]&0xF])
			}
			*b = append(*b, p...)
		}
		*b = append(*b, '"')
	case 5:
		*b = append(*b, '[')
		for i := range rng.IntN(4) {
			if i > 0 {
				*b = append(*b, ',')
			}
			randomJSON(rng, b, depth+1)
		}
		ws()
		*b = append(*b, ']')
	case 6:
		*b = append(*b, '{')
		for i := range rng.IntN(4) {
			if i > 0 {
				*b = append(*b, ',')
			}
			ws()
			*b = jsonenc.AppendString(*b, randomString(rng))
			ws()
			*b = append(*b, ':')
			randomJSON(rng, b, depth+1)
		}
		ws()
		*b = append(*b, '}')
	}
	ws()
}

// FuzzAppendCompactJSON: the hand-written compactor accepts what json.Valid
// accepts and writes what json.Marshal writes for a json.RawMessage.
func FuzzAppendCompactJSON(f *testing.F) {
	for _, seed := range []string{
		`{"connection":"prod-pg","sql":"SELECT 1","params":["1",null,{"binary":"00ff"}]}`,
		` [1, 2.5e10 , -0, true,false,null, "a<b>&c\u2028 \ud800"] `, "\"\xff\xe2\x80\xa8\"", `{"a":{}}`,
		`01`, `1.`, `-`, `"\x"`, `{"a" 1}`, `[1,]`, `{"a":1,}`, "\"\x1f\"", `tru`, `nul`, ``, ` `,
		strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth),
		strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		got, ok := appendCompactJSON([]byte("prefix"), src)
		if valid := json.Valid(src); ok != valid {
			t.Fatalf("appendCompactJSON(%q) ok = %v, json.Valid = %v", src, ok, valid)
		}
		if !ok {
			return
		}
		want, err := json.Marshal(json.RawMessage(src))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "prefix"+string(want) {
			t.Fatalf("appendCompactJSON(%q) = %q, want %q", src, got, want)
		}
	})
}
