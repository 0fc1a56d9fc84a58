package audit

import (
	"testing"
	"time"
)

func TestEncodeID(t *testing.T) {
	tests := []struct {
		name string
		ms   uint64
		rnd  [10]byte
		want string
	}{
		{"zero", 0, [10]byte{}, "00000000000000000000000000"},
		{"max", 1<<48 - 1, [10]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"},
		{"last random bit", 0, [10]byte{9: 1}, "00000000000000000000000001"},
		{"first time bit", 1 << 47, [10]byte{}, "40000000000000000000000000"},
		// The time part of the ULID spec's example 01ARZ3NDEKTSV4RRFFQ69G5FAV.
		{"ulid spec time", 1469922850259, [10]byte{}, "01ARZ3NDEK0000000000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := encodeID(tt.ms, tt.rnd); got != tt.want {
				t.Errorf("encodeID = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestIDsSortInCreationOrder(t *testing.T) {
	var g idGenerator
	at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	prev := ""
	for i := range 10000 {
		// Many IDs per millisecond, then time moves on.
		id := g.next(at.Add(time.Duration(i/100) * time.Millisecond))
		if len(id) != idLen {
			t.Fatalf("id %q has length %d", id, len(id))
		}
		if id <= prev {
			t.Fatalf("id %s made after %s sorts before it", id, prev)
		}
		prev = id
	}
}

func TestIncrementOverflow(t *testing.T) {
	b := [10]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	if increment(&b) {
		t.Error("increment of all ones reported no overflow")
	}
	b = [10]byte{9: 0xff}
	if !increment(&b) || b != [10]byte{8: 1} {
		t.Errorf("increment carried wrong: %v", b)
	}
}

func TestNormalizeID(t *testing.T) {
	if got := normalizeID("01arz3ndek-ilo"); got != "01ARZ3NDEK-110" {
		t.Errorf("normalizeID = %s", got)
	}
}
