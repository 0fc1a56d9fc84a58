package recording

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

var playEvents = []Event{
	{Time: 500 * time.Millisecond, Type: TypeOutput, Data: "$ "},
	{Time: 1 * time.Second, Type: TypeInput, Data: "ls\r"},
	{Time: 1200 * time.Millisecond, Type: TypeOutput, Data: "a.txt\r\n"},
	{Time: 61 * time.Second, Type: TypeOutput, Data: "$ "}, // a minute idle
	{Time: 61 * time.Second, Type: TypeResize, Data: "100x30"},
	{Time: 62 * time.Second, Type: TypeExit, Data: "0"},
}

func TestPlayTimes(t *testing.T) {
	ms := time.Millisecond
	for _, tt := range []struct {
		name string
		opts PlayOptions
		want []time.Duration
	}{
		{"real time", PlayOptions{}, []time.Duration{500 * ms, 1200 * ms, 61000 * ms}},
		{"twice as fast", PlayOptions{Speed: 2}, []time.Duration{250 * ms, 600 * ms, 30500 * ms}},
		{"idle limit", PlayOptions{IdleLimit: 2 * time.Second}, []time.Duration{500 * ms, 1200 * ms, 3200 * ms}},
		{"idle limit, then speed", PlayOptions{IdleLimit: 2 * time.Second, Speed: 4}, []time.Duration{125 * ms, 300 * ms, 800 * ms}},
		{"idle limit shorter than every pause", PlayOptions{IdleLimit: 100 * ms}, []time.Duration{100 * ms, 200 * ms, 300 * ms}},
	} {
		if got := playTimes(playEvents, tt.opts); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: playTimes = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestPlayWritesOutputOnly(t *testing.T) {
	var b bytes.Buffer
	if err := Play(context.Background(), &b, playEvents, PlayOptions{Speed: 1000, IdleLimit: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if b.String() != "$ a.txt\r\n$ " {
		t.Errorf("Play wrote %q", b.String())
	}
}

func TestPlayStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var b bytes.Buffer
	if err := Play(ctx, &b, playEvents, PlayOptions{}); !errors.Is(err, context.Canceled) || b.Len() != 0 {
		t.Errorf("Play with an ended context = %v, wrote %q", err, b.String())
	}
	if err := Play(context.Background(), &b, playEvents, PlayOptions{Speed: -1}); err == nil {
		t.Error("Play with a negative speed: no error")
	}
}
