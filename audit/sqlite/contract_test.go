package sqlite

import (
	"testing"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/audit/audittest"
)

// TestContract: the SQLite store passes the suite every audit backend
// must pass.
func TestContract(t *testing.T) {
	audittest.Run(t, func(t *testing.T) audit.Store { return openTestStore(t) })
}
