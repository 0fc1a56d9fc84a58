package recording

import (
	"context"
	"errors"
	"io"
	"time"
)

// PlayOptions paces Play.
type PlayOptions struct {
	// Speed divides every pause: 2 plays twice as fast. 0 means 1.
	Speed float64
	// IdleLimit caps every pause between two outputs, before Speed
	// divides it, as asciinema's idle time limit does. 0: no cap.
	IdleLimit time.Duration
}

// Play writes the data of evs' output events to w, each when it is due:
// at its time in the recording, paced by opts. The other events (input,
// resizes, markers, exit) show nothing, as in asciinema's player. Play
// keeps to a schedule from its start, so slow writes do not add up. It
// returns when the last output is written, w fails, or ctx ends.
func Play(ctx context.Context, w io.Writer, evs []Event, opts PlayOptions) error {
	if opts.Speed < 0 || opts.IdleLimit < 0 {
		return errors.New("recording: play: speed and idle limit must not be negative")
	}
	due := playTimes(evs, opts)
	start := time.Now()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	i := 0
	for _, ev := range evs {
		if ev.Type != TypeOutput {
			continue
		}
		if wait := time.Until(start.Add(due[i])); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		i++
		if _, err := io.WriteString(w, ev.Data); err != nil {
			return err
		}
	}
	return nil
}

// playTimes is when each output event of evs is due, from the start of
// playing: the pauses before it (from the start for the first) each
// capped by opts.IdleLimit, then divided by opts.Speed.
func playTimes(evs []Event, opts PlayOptions) []time.Duration {
	speed := opts.Speed
	if speed == 0 {
		speed = 1
	}
	var due []time.Duration
	var prev, recorded time.Duration
	for _, ev := range evs {
		if ev.Type != TypeOutput {
			continue
		}
		pause := ev.Time - prev
		if opts.IdleLimit > 0 {
			pause = min(pause, opts.IdleLimit)
		}
		recorded += pause
		prev = ev.Time
		due = append(due, time.Duration(float64(recorded)/speed))
	}
	return due
}
