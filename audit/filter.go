package audit

import "time"

// List limits.
const (
	DefaultListLimit = 100
	MaxListLimit     = 10000
)

// TimeLayout is how stores that keep times as text keep them (the
// approval tables too): UTC with a fixed number of fractional digits, so
// that comparing the strings compares the times.
const TimeLayout = "2006-01-02T15:04:05.000000000Z"

// Filter selects events for List. Zero fields do not filter.
type Filter struct {
	Since      time.Time // events that started at or after Since
	Until      time.Time // events that started before Until
	Identity   string
	Connection string
	Tool       string
	Status     string
	Session    string
	Limit      int    // DefaultListLimit if <= 0, at most MaxListLimit
	Before     string // an event ID: only events older than it, for paging
}
