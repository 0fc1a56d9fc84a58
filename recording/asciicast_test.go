package recording

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// decodeText reads appendText's output back as a JSON string.
func decodeText(t testing.TB, text []byte) string {
	t.Helper()
	quoted := append(append([]byte{'"'}, text...), '"')
	var s string
	if err := json.Unmarshal(quoted, &s); err != nil {
		t.Fatalf("appendText wrote invalid JSON %q: %v", quoted, err)
	}
	return s
}

// jsonText is what encoding/json makes of s: the reference appendText
// must agree with (every invalid byte becomes U+FFFD).
func jsonText(t testing.TB, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back string
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	return back
}

func TestAppendText(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"ascii", "total 8\n", "total 8\n"},
		{"quotes and backslashes", `say "hi" \ bye`, `say "hi" \ bye`},
		{"terminal escapes", "\x1b[1;32mok\x1b[0m\r\n\t\x00\x7f", "\x1b[1;32mok\x1b[0m\r\n\t\x00\x7f"},
		{"utf-8", "héllo € 😀 日本", "héllo € 😀 日本"},
		{"replacement character kept", "\uFFFD", "\uFFFD"},
		{"invalid byte", "a\xffb", "a\uFFFDb"},
		{"truncated sequence", "a\xe2\x82", "a\uFFFD\uFFFD"},
		{"surrogate half", "\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"},
		{"overlong slash", "\xc0\xaf", "\uFFFD\uFFFD"},
		{"stray continuation", "\x80x", "\uFFFDx"},
		{"line separators", "\u2028\u2029", "\u2028\u2029"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeText(t, appendTextString(nil, tt.in))
			if got != tt.want {
				t.Errorf("appendText(%q) reads back as %q, want %q", tt.in, got, tt.want)
			}
			if ref := jsonText(t, tt.in); got != ref {
				t.Errorf("appendText(%q) reads back as %q, encoding/json as %q", tt.in, got, ref)
			}
		})
	}
}

func FuzzAppendText(f *testing.F) {
	for _, s := range []string{"", "abc", "\x1b[0m", "é", "\xe2\x82", "\xff\xfe", "\"\\", "😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := decodeText(t, appendTextString(nil, s)), jsonText(t, s); got != want {
			t.Fatalf("appendText(%q) reads back as %q, encoding/json as %q", s, got, want)
		}
	})
}

func TestIncompleteTail(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
	}{
		{"", 0}, {"abc", 0}, {"é", 0}, {"a\xc3", 1}, {"a\xe2\x82", 2}, {"\xf0\x9f\x98", 3},
		{"😀", 0}, {"a\xff", 0}, {"\x80\x80\x80", 0}, {"\xe2\x82\xac", 0},
	} {
		if got := incompleteTail([]byte(tt.in)); got != tt.want {
			t.Errorf("incompleteTail(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

var sampleHeader = Header{
	Width: 120, Height: 40,
	Timestamp: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
	Command:   "/bin/bash -l", Title: "alice@web-1 \"prod\"",
	Env: map[string]string{"TERM": "xterm-256color", "SHELL": "/bin/bash"},
}

var sampleEvents = []Event{
	{Time: 0, Type: TypeOutput, Data: "\x1b]0;alice@web-1\x07$ "},
	{Time: 1500 * time.Millisecond, Type: TypeInput, Data: "l"},
	{Time: 1500 * time.Millisecond, Type: TypeInput, Data: "s\r"},
	{Time: 1_600_001 * time.Microsecond, Type: TypeOutput, Data: "\r\nnotes.txt  é€😀  \"q\"\\\r\n$ "},
	{Time: 2 * time.Second, Type: TypeResize, Data: "100x30"},
	{Time: 3*time.Second + 7*time.Microsecond, Type: TypeMarker, Data: "warden: not recorded: 10 bytes of output"},
	{Time: 90 * time.Minute, Type: TypeExit, Data: "0"},
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	var b bytes.Buffer
	if err := Encode(&b, sampleHeader, sampleEvents); err != nil {
		t.Fatal(err)
	}
	h, evs, err := Decode(&b)
	if err != nil {
		t.Fatalf("Decode(Encode): %v\n%s", err, b.String())
	}
	if !reflect.DeepEqual(h, sampleHeader) {
		t.Errorf("header:\n got  %+v\n want %+v", h, sampleHeader)
	}
	if !reflect.DeepEqual(evs, sampleEvents) {
		t.Errorf("events:\n got  %+v\n want %+v", evs, sampleEvents)
	}
}

// The file is what asciicast v2 says, line by line.
func TestEncodeFormat(t *testing.T) {
	var b bytes.Buffer
	h := Header{Width: 80, Height: 24, Timestamp: time.Unix(1504467315, 600), Env: map[string]string{"TERM": "xterm"}}
	evs := []Event{{Time: 248848 * time.Microsecond, Type: TypeOutput, Data: "\x1b[1;31mHello \x1b[32mWorld!\x1b[0m\n"}, {Time: 3 * time.Second, Type: TypeExit, Data: "1"}}
	if err := Encode(&b, h, evs); err != nil {
		t.Fatal(err)
	}
	want := `{"version":2,"width":80,"height":24,"timestamp":1504467315,"env":{"TERM":"xterm"}}
[0.248848, "o", "\u001b[1;31mHello \u001b[32mWorld!\u001b[0m\n"]
[3.000000, "x", "1"]
`
	if b.String() != want {
		t.Errorf("Encode wrote\n%s\nwant\n%s", b.String(), want)
	}
}

// A file asciinema 2.2 recorded (asciinema rec -c 'printf ...'), with
// header fields Warden does not write.
func TestDecodeAsciinemaFile(t *testing.T) {
	const cast = `{"version": 2, "width": 94, "height": 26, "timestamp": 1764680000, "idle_time_limit": 2.0, "env": {"SHELL": "/bin/bash", "TERM": "tmux-256color"}, "title": "demo"}
[0.010331, "o", "h\u00e9llo \u20ac\r\n"]
[0.512, "i", "q"]
[1.25, "r", "100x30"]
[1.5, "m", "chapter 2"]
`
	h, evs, err := Decode(strings.NewReader(cast))
	if err != nil {
		t.Fatal(err)
	}
	wantH := Header{Width: 94, Height: 26, Timestamp: time.Unix(1764680000, 0).UTC(), Title: "demo",
		Env: map[string]string{"SHELL": "/bin/bash", "TERM": "tmux-256color"}}
	if !reflect.DeepEqual(h, wantH) {
		t.Errorf("header = %+v, want %+v", h, wantH)
	}
	wantE := []Event{
		{10331 * time.Microsecond, TypeOutput, "héllo €\r\n"}, {512 * time.Millisecond, TypeInput, "q"},
		{1250 * time.Millisecond, TypeResize, "100x30"}, {1500 * time.Millisecond, TypeMarker, "chapter 2"},
	}
	if !reflect.DeepEqual(evs, wantE) {
		t.Errorf("events = %+v, want %+v", evs, wantE)
	}
}

func TestDecodeErrors(t *testing.T) {
	const head = `{"version": 2, "width": 80, "height": 24}` + "\n"
	for _, tt := range []struct {
		name, in, want string
	}{
		{"empty", "", "no asciicast header"},
		{"header not JSON", "hello\n", "line 1: header"},
		{"version 1", `{"version": 1, "width": 80, "height": 24, "stdout": []}`, "asciicast version 1 (want 2)"},
		{"version 3", `{"version": 3, "term": {"cols": 80, "rows": 24}}`, "asciicast version 3 (want 2)"},
		{"no size", `{"version": 2}`, "terminal size 0x0"},
		{"bad timestamp", `{"version": 2, "width": 80, "height": 24, "timestamp": -5}`, "timestamp -5"},
		{"event not an array", head + `{"t": 1}`, "line 2: event"},
		{"two fields", head + `[1.0, "o"]`, "line 2: event: 2 fields"},
		{"negative time", head + `[-1.0, "o", "x"]`, "line 2: event time -1"},
		{"time as text", head + `["1.0", "o", "x"]`, "line 2: event time"},
		{"empty type", head + `[1.0, "", "x"]`, "line 2: event type"},
		{"data not text", head + `[1.0, "o", 5]`, "line 2: event data"},
		{"time goes back", head + "[2.0, \"o\", \"a\"]\n[1.0, \"o\", \"b\"]", "line 3: time 1s is before"},
		{"truncated line", head + `[1.0, "o", "abc`, "line 2: event"},
		{"line too long", head + `[1.0, "o", "` + strings.Repeat("x", MaxLine) + `"]`, "token too long"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Decode(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Decode: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestEncodeRefusesBadInput(t *testing.T) {
	for _, tt := range []struct {
		name string
		h    Header
		evs  []Event
		want string
	}{
		{"no size", Header{}, nil, "terminal size 0x0"},
		{"time goes back", Header{Width: 1, Height: 1}, []Event{{Time: 2, Type: "o"}, {Time: 1, Type: "o"}}, "before the one before it"},
		{"no type", Header{Width: 1, Height: 1}, []Event{{Time: 1}}, "no type"},
	} {
		if err := Encode(new(bytes.Buffer), tt.h, tt.evs); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Encode: %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

// Decode never panics, and what it reads encodes into a file it reads
// back the same.
func FuzzDecode(f *testing.F) {
	var b bytes.Buffer
	if err := Encode(&b, sampleHeader, sampleEvents); err != nil {
		f.Fatal(err)
	}
	f.Add(b.String())
	f.Add(`{"version": 2, "width": 80, "height": 24}` + "\n[0.5, \"o\", \"\\u001b[0m\\ud83d\\ude00\"]\n")
	f.Fuzz(func(t *testing.T, in string) {
		h, evs, err := Decode(strings.NewReader(in))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := Encode(&out, h, evs); err != nil {
			t.Fatalf("Encode of what Decode read: %v", err)
		}
		h2, evs2, err := Decode(&out)
		if err != nil {
			t.Fatalf("Decode of what Encode wrote: %v\n%s", err, out.String())
		}
		h.Timestamp = h.Timestamp.Truncate(time.Second)
		if !reflect.DeepEqual(h, h2) || len(evs) != len(evs2) || (len(evs) > 0 && !reflect.DeepEqual(evs, evs2)) {
			t.Fatalf("round trip changed the recording:\n %+v %+v\n %+v %+v", h, evs, h2, evs2)
		}
	})
}
