package mysql

import (
	"log/slog"
	"sync"

	vlog "vitess.io/vitess/go/vt/log"
)

var quietOnce sync.Once

// quietVitess silences vitess's own logger (process-wide: vitess has one).
// It logs raw protocol packets it does not handle (a COM_CHANGE_USER's
// holds a login's answer), which Warden never logs; the proxy logs what
// matters itself.
func quietVitess() {
	quietOnce.Do(func() { vlog.SwapLogger(slog.New(slog.DiscardHandler)) })
}
