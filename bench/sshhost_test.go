package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/wardenhq/warden/masking"
	"github.com/wardenhq/warden/masking/detect"
)

// TestStreamTextMasksOnlyItsEmails: what the streaming benchmark reports
// as masked is the addresses the text holds, every one of them, and
// nothing else (a log line the detectors took for a phone number or a
// card would make the bench measure something else than it says).
func TestStreamTextMasksOnlyItsEmails(t *testing.T) {
	var text bytes.Buffer
	emails := streamText(&text, 2e6)
	if emails < 400 || text.Len() > 2e6 || !bytes.HasSuffix(text.Bytes(), []byte("\n")) {
		t.Fatalf("%d bytes with %d e-mail addresses", text.Len(), emails)
	}
	sc, err := detect.NewScanner(detect.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	s := masking.NewStream(sc, &out)
	if _, err := io.Copy(s, &text); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got := s.Summary()
	if len(got) != 1 || got["detector:email"] != int64(emails) {
		t.Errorf("masked %v, want only detector:email %d", got, emails)
	}
	if strings.Contains(out.String(), "@example.com") {
		t.Error("an address came through")
	}
	var a, b bytes.Buffer
	streamText(&a, 1e5)
	streamText(&b, 1e5)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("the text differs from run to run (the file on the host is made once per version)")
	}
}
