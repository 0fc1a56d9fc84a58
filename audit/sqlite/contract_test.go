package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/audit/audittest"
)

// TestContract: the SQLite store passes the suite every audit backend
// must pass.
func TestContract(t *testing.T) {
	audittest.Run(t, func(t *testing.T) audit.Store { return openTestStore(t) })
}

// TestLogContract: its audit log passes the contract too.
func TestLogContract(t *testing.T) {
	signer := newSigner(t)
	audittest.RunLog(t, signer, func(t *testing.T) audittest.LogStore {
		s := openSigned(t, filepath.Join(t.TempDir(), "audit.db"), signer)
		t.Cleanup(func() { s.Close() })
		return s
	})
}
