package recording

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/wardenhq/warden/internal/jsonenc"
)

// Version is the asciicast version this package writes and reads.
const Version = 2

// Event types. Output, input, resize and marker are asciicast v2's;
// exit is v3's ("x", the exit status), which v2 readers skip as they skip
// every type they do not know (asciinema 2 plays only "o").
const (
	TypeOutput = "o" // what the terminal showed: stdout, and stderr for an exec
	TypeInput  = "i" // what was typed or sent: keystrokes, stdin
	TypeResize = "r" // the terminal's new size, "COLSxROWS"
	TypeMarker = "m" // a label; Warden's say what was not recorded
	TypeExit   = "x" // the exit status, a decimal number
)

// MaxLine is the longest line Decode reads, in bytes.
const MaxLine = 8 << 20

// Header is the first line of an asciicast v2 file.
type Header struct {
	Width, Height int       // the terminal's size, columns and rows
	Timestamp     time.Time // when the recording began (whole seconds in the file)
	Command       string    // the command that ran, if not a login shell
	Title         string
	Env           map[string]string // Start keeps TERM and SHELL only
}

// Event is one line after the header.
type Event struct {
	Time time.Duration // since the recording began (microseconds in the file)
	Type string        // TypeOutput, TypeInput, TypeResize, TypeMarker, TypeExit, or another
	Data string        // UTF-8 text
}

// headerJSON is Header as the file has it.
type headerJSON struct {
	Version   int               `json:"version"`
	Width     int               `json:"width"`
	Height    int               `json:"height"`
	Timestamp json.Number       `json:"timestamp,omitempty"` // Unix seconds
	Command   string            `json:"command,omitempty"`
	Title     string            `json:"title,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
}

// appendHeader appends h's line, newline included.
func appendHeader(dst []byte, h Header) ([]byte, error) {
	if h.Width <= 0 || h.Height <= 0 {
		return dst, fmt.Errorf("recording: header: terminal size %dx%d (want columns and rows above 0)", h.Width, h.Height)
	}
	v := headerJSON{Version: Version, Width: h.Width, Height: h.Height, Command: h.Command, Title: h.Title, Env: h.Env}
	if !h.Timestamp.IsZero() {
		v.Timestamp = json.Number(strconv.FormatInt(h.Timestamp.Unix(), 10))
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst, fmt.Errorf("recording: header: %w", err)
	}
	return append(dst, b.Bytes()...), nil // Encode ends it with a newline
}

// appendEventStart appends an event line up to its data's opening quote.
func appendEventStart(dst []byte, t time.Duration, typ string) []byte {
	dst = append(dst, '[')
	dst = appendSeconds(dst, t)
	dst = append(dst, ", "...)
	dst = append(dst, '"')
	if len(typ) == 1 && typ[0] < utf8.RuneSelf && plain[typ[0]] {
		dst = append(dst, typ...) // every type Warden records
	} else {
		dst = appendTextString(dst, typ)
	}
	return append(dst, `", "`...)
}

// eventEnd closes an event line.
const eventEnd = "\"]\n"

// appendSeconds appends t as seconds with six decimals, exactly.
func appendSeconds(dst []byte, t time.Duration) []byte {
	us := t.Microseconds()
	dst = strconv.AppendInt(dst, us/1e6, 10)
	frac := us % 1e6
	dst = append(dst, '.')
	for d := int64(1e5); d > 0; d /= 10 {
		dst = append(dst, byte('0'+frac/d%10))
	}
	return dst
}

// plain[c] is true for the ASCII bytes a JSON string holds as they are.
var plain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendText appends s as the inside of a JSON string (jsonenc's
// escaping: invalid UTF-8, an incomplete sequence included, becomes
// U+FFFD, as encoding/json does). It allocates nothing but dst's growth.
func appendText(dst, s []byte) []byte { return jsonenc.AppendInside(dst, s) }

// appendTextString is appendText for a string (not on the hot path: it
// copies s).
func appendTextString(dst []byte, s string) []byte { return appendText(dst, []byte(s)) }

// incompleteTail is how many bytes at the end of p begin a UTF-8
// sequence that the next bytes may complete (0 to 3).
func incompleteTail(p []byte) int {
	for i := len(p) - 1; i >= 0 && i > len(p)-utf8.UTFMax; i-- {
		if utf8.RuneStart(p[i]) {
			if utf8.FullRune(p[i:]) {
				return 0
			}
			return len(p) - i
		}
	}
	return 0
}

// Encode writes h and evs as an asciicast v2 file. Times must not
// decrease; they are written to the microsecond. Data that is not valid
// UTF-8 is written with U+FFFD in place of its invalid bytes.
func Encode(w io.Writer, h Header, evs []Event) error {
	b, err := appendHeader(nil, h)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	if _, err := bw.Write(b); err != nil {
		return err
	}
	var last time.Duration
	for i, ev := range evs {
		switch {
		case ev.Time < last:
			return fmt.Errorf("recording: event %d at %v is before the one before it (%v)", i, ev.Time, last)
		case ev.Type == "":
			return fmt.Errorf("recording: event %d has no type", i)
		}
		last = ev.Time
		b = appendEventStart(b[:0], ev.Time, ev.Type)
		b = append(appendTextString(b, ev.Data), eventEnd...)
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// Decode reads an asciicast v2 file: its header and events, which must
// be in time order. It reads every line or none: an error says which
// line is wrong.
func Decode(r io.Reader) (Header, []Event, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return Header{}, nil, fmt.Errorf("recording: line 1: %w", err)
		}
		return Header{}, nil, errors.New("recording: empty: no asciicast header")
	}
	h, err := decodeHeader(sc.Bytes())
	if err != nil {
		return Header{}, nil, fmt.Errorf("recording: line 1: %w", err)
	}
	var evs []Event
	var last time.Duration
	for line := 2; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		ev, err := decodeEvent(b)
		if err == nil && ev.Time < last {
			err = fmt.Errorf("time %v is before the line before it (%v)", ev.Time, last)
		}
		if err != nil {
			return Header{}, nil, fmt.Errorf("recording: line %d: %w", line, err)
		}
		last = ev.Time
		evs = append(evs, ev)
	}
	if err := sc.Err(); err != nil {
		return Header{}, nil, fmt.Errorf("recording: line %d: %w", len(evs)+2, err)
	}
	return h, evs, nil
}

func decodeHeader(b []byte) (Header, error) {
	var v headerJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return Header{}, fmt.Errorf("header: %w", err)
	}
	switch {
	case v.Version != Version:
		return Header{}, fmt.Errorf("header: asciicast version %d (want %d)", v.Version, Version)
	case v.Width <= 0 || v.Height <= 0:
		return Header{}, fmt.Errorf("header: terminal size %dx%d (want columns and rows above 0)", v.Width, v.Height)
	}
	h := Header{Width: v.Width, Height: v.Height, Command: v.Command, Title: v.Title}
	if len(v.Env) > 0 {
		h.Env = v.Env
	}
	if v.Timestamp != "" {
		ts, err := v.Timestamp.Float64()
		if err != nil || !(ts >= 0 && ts < maxSeconds) {
			return Header{}, fmt.Errorf("header: timestamp %s: want Unix seconds", v.Timestamp)
		}
		sec, frac := math.Modf(ts)
		h.Timestamp = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	}
	return h, nil
}

// maxSeconds bounds the times Decode reads: a header's timestamp (the
// year 2106) and an event's time (136 years, well within a Duration).
const maxSeconds = 1 << 32

func decodeEvent(b []byte) (Event, error) {
	var parts []json.RawMessage
	if err := json.Unmarshal(b, &parts); err != nil {
		return Event{}, fmt.Errorf("event: %w", err)
	}
	if len(parts) != 3 {
		return Event{}, fmt.Errorf("event: %d fields (want [time, type, data])", len(parts))
	}
	var secs float64
	var ev Event
	if err := json.Unmarshal(parts[0], &secs); err != nil {
		return Event{}, fmt.Errorf("event time: %w", err)
	}
	if !(secs >= 0 && secs < maxSeconds) {
		return Event{}, fmt.Errorf("event time %v out of range", secs)
	}
	ev.Time = time.Duration(math.Round(secs*1e6)) * time.Microsecond
	if err := json.Unmarshal(parts[1], &ev.Type); err != nil || ev.Type == "" {
		return Event{}, fmt.Errorf("event type %s: want a non-empty string", parts[1])
	}
	if err := json.Unmarshal(parts[2], &ev.Data); err != nil {
		return Event{}, fmt.Errorf("event data: want a string: %w", err)
	}
	return ev, nil
}
