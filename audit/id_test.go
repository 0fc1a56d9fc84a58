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
	var g IDGenerator
	at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	prev := ""
	for i := range 10000 {
		// Many IDs per millisecond, then time moves on.
		id := g.Next(at.Add(time.Duration(i/100) * time.Millisecond))
		if len(id) != IDLen {
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
	if got := NormalizeID("01arz3ndek-ilo"); got != "01ARZ3NDEK-110" {
		t.Errorf("normalizeID = %s", got)
	}
}

func TestFloorIDAndIDMillis(t *testing.T) {
	at := time.Date(2026, 5, 1, 9, 0, 0, 123e6, time.UTC)
	var g IDGenerator
	id := g.Next(at)
	ms, ok := IDMillis(id)
	if !ok || ms != uint64(at.UnixMilli()) {
		t.Fatalf("IDMillis(%s) = %d, %v; want %d", id, ms, ok, at.UnixMilli())
	}
	if floor := FloorID(ms); floor > id || FloorID(ms+1) <= id {
		t.Errorf("FloorID(%d) = %s, FloorID(+1) = %s: %s is not between them", ms, floor, FloorID(ms+1), id)
	}
	if got, ok := IDMillis(id[:8]); !ok || got>>10 != ms>>10 {
		t.Errorf("IDMillis of a prefix = %d, %v", got, ok)
	}
	if _, ok := IDMillis("not-an-id"); ok {
		t.Error("IDMillis accepted a string that is not an ID")
	}
}
